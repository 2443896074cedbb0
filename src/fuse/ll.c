/* ll.c: the FUSE low-level request handlers (mfs_ll_op_*).
 *
 * Every handler sends exactly one reply on every path. Helpers that can
 * fail while resolving an inode (mfs_ll_iget) reply the error themselves
 * and return -1, so a handler simply returns after a failed helper. The
 * "Valid replies" line above each handler lists what it may send, as
 * fuse_lowlevel.h does for the operations themselves.
 *
 * The filesystem is read-only and immutable: write-type operations get
 * EROFS (the mount is also "ro", so the kernel normally refuses them
 * before they reach us), lookups and attributes are cached for a long
 * timeout, misses are cached as negative entries, and open files keep the
 * page cache across opens (keep_cache) because content never changes.
 *
 * No handler takes a lock: the tree is read-only (ll_inode.c), and
 * mfs_node_read() is documented safe from many threads at once.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

static const struct mfs_fs *req_fs(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* Read buffers: one MFS_MAX_READ buffer per worker thread, made on the
 * thread's first read and freed when the thread ends (key destructor).
 * A fresh malloc per request of 128 KiB..1 MiB is served by mmap or a
 * trimmed heap, i.e. page faults and zeroing on every read; this costs
 * nothing per request and bounds memory to threads x 1 MiB. */
static pthread_key_t read_buf_key;
static pthread_once_t read_buf_once = PTHREAD_ONCE_INIT;
static int read_buf_ok;

static void read_buf_init(void)
{
    read_buf_ok = pthread_key_create(&read_buf_key, free) == 0;
}

void mfs_ll_thread_done(void)
{
    if (read_buf_ok) {
        free(pthread_getspecific(read_buf_key));
        pthread_setspecific(read_buf_key, NULL);
    }
}

/* The calling thread's read buffer (MFS_MAX_READ bytes), or NULL when
 * out of memory. Owned by the thread: never free it. */
static char *read_buf(void)
{
    char *b;

    pthread_once(&read_buf_once, read_buf_init);
    if (!read_buf_ok)
        return NULL;
    b = pthread_getspecific(read_buf_key);
    if (b == NULL) {
        b = malloc(MFS_MAX_READ);
        if (b != NULL && pthread_setspecific(read_buf_key, b) != 0) {
            free(b);
            b = NULL;
        }
    }
    return b;
}

/* init: negotiate the connection (called once, before any request).
 * - max_read must equal the "-o max_read=" main.c gave fuse_session_new
 *   (libfuse 3.14 aborts the session with EPROTO otherwise);
 * - max_readahead: ask for as much as we read at once; the kernel keeps
 *   the smaller of this and its own bdi readahead;
 * - no AUTO_INVAL_DATA: attributes never change, so the kernel need not
 *   compare mtimes to drop cached pages;
 * - max_background: readahead requests are "background"; allow more of
 *   them in flight than the kernel's default of 12 so several worker
 *   threads can be busy on one sequential stream;
 * - zero-message open: when the kernel can (NO_OPEN_SUPPORT and
 *   NO_OPENDIR_SUPPORT), open and opendir answer ENOSYS once and the
 *   kernel stops sending OPEN/RELEASE/OPENDIR/RELEASEDIR; it then assumes
 *   FOPEN_KEEP_CACHE (files) and FOPEN_CACHE_DIR (dirs), exactly what we
 *   would have replied, and the "ro" mount still refuses write opens
 *   (EROFS) in the VFS. That halves the requests of a cold `ls -R` and of
 *   reading many small files. */
static void mfs_ll_op_init(void *userdata, struct fuse_conn_info *conn)
{
    struct mfs_fs *fs = userdata;

    conn->max_read = fs->max_read;
    if (conn->max_readahead < fs->max_read)
        conn->max_readahead = fs->max_read;
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    if (conn->max_background < 64)
        conn->max_background = 64;
    if (conn->congestion_threshold < 48)
        conn->congestion_threshold = 48;
    if ((conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) &&
        (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT)) {
        conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
        fs->zero_open = 1;
    }
}

/* lookup: child @name of @parent.
 * Valid replies: fuse_reply_entry (ino 0 = cached miss), fuse_reply_err */
static void mfs_ll_op_lookup(fuse_req_t req, fuse_ino_t parent,
                             const char *name)
{
    const struct mfs_fs *fs = req_fs(req);
    struct fuse_entry_param e;
    uint32_t dir;

    if (mfs_ll_iget(req, fs, parent, &dir))
        return;
    if (mfs_node_is_dir(fs->model, dir) != 1) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    /* A miss is a negative entry (ino 0) with the full timeout, so the
     * kernel answers the next stat of a missing name itself (ENOENT). */
    mfs_ll_entry(fs, mfs_node_lookup(fs->model, dir, name), &e);
    fuse_reply_entry(req, &e);
}

/* forget: nothing is allocated per inode (ll_inode.c).
 * Valid replies: fuse_reply_none */
static void mfs_ll_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    (void)ino;
    (void)nlookup;
    fuse_reply_none(req);
}

/* Valid replies: fuse_reply_none */
static void mfs_ll_op_forget_multi(fuse_req_t req, size_t count,
                                   struct fuse_forget_data *forgets)
{
    (void)count;
    (void)forgets;
    fuse_reply_none(req);
}

/* Valid replies: fuse_reply_attr, fuse_reply_err */
static void mfs_ll_op_getattr(fuse_req_t req, fuse_ino_t ino,
                              struct fuse_file_info *fi)
{
    const struct mfs_fs *fs = req_fs(req);
    struct stat st;
    uint32_t id;

    (void)fi;
    if (mfs_ll_iget(req, fs, ino, &id))
        return;
    mfs_ll_stat(fs, id, &st);
    fuse_reply_attr(req, &st, fs->timeout);
}

/* readlink: layers/ and raw/ entries that are another placement of a
 * tensor point at its directory (the core decides which; see tree.h).
 * Valid replies: fuse_reply_readlink, fuse_reply_err */
static void mfs_ll_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    const struct mfs_fs *fs = req_fs(req);
    const char *text;
    uint32_t id;

    if (mfs_ll_iget(req, fs, ino, &id))
        return;
    if ((text = mfs_node_link(fs->model, id)) == NULL) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    fuse_reply_readlink(req, text);
}

/* open: read-only access only; the page cache survives reopen. With
 * zero-message open (init), ENOSYS tells the kernel to stop asking.
 * Valid replies: fuse_reply_open, fuse_reply_err */
static void mfs_ll_op_open(fuse_req_t req, fuse_ino_t ino,
                           struct fuse_file_info *fi)
{
    const struct mfs_fs *fs = req_fs(req);
    uint32_t id;

    if (mfs_ll_iget(req, fs, ino, &id))
        return;
    if (fs->zero_open && (fi->flags & O_ACCMODE) == O_RDONLY &&
        !(fi->flags & O_TRUNC) && mfs_node_is_dir(fs->model, id) != 1) {
        fuse_reply_err(req, ENOSYS);
        return;
    }
    if (mfs_node_is_dir(fs->model, id) == 1) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
        fuse_reply_err(req, EROFS);
        return;
    }
    fi->keep_cache = 1; /* content is immutable: keep pages across opens */
    fi->noflush = 1;    /* nothing to flush on close */
    fuse_reply_open(req, fi);
}

/* read: bytes [off, off+size) of a file, short only at end of file. A
 * failing read (corrupt tensor, I/O error) gets the core's errno (EIO) and
 * one log line naming the file; the daemon keeps serving.
 * Valid replies: fuse_reply_buf, fuse_reply_err */
static void mfs_ll_op_read(fuse_req_t req, fuse_ino_t ino, size_t size,
                           off_t off, struct fuse_file_info *fi)
{
    const struct mfs_fs *fs = req_fs(req);
    mfs_err e;
    uint32_t id;
    int64_t n;
    char *buf;

    (void)fi;
    if (mfs_ll_iget(req, fs, ino, &id))
        return;
    if (off < 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    if (size == 0) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    if (size > MFS_MAX_READ) /* never sent by the kernel (max_read) */
        size = MFS_MAX_READ;
    buf = read_buf();
    if (buf == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    memset(&e, 0, sizeof(e));
    n = mfs_node_read(fs->model, id, (uint64_t)off, buf, size, &e);
    if (n < 0) {
        char path[1024];
        mfs_ll_log(fs, "read %s: %s",
                   mfs_ll_path(fs->model, id, path, sizeof(path)),
                   e.msg[0] ? e.msg : "read failed");
        fuse_reply_err(req, e.errnum > 0 ? e.errnum : EIO);
    } else {
        fuse_reply_buf(req, buf, (size_t)n);
    }
}

/* Valid replies: fuse_reply_err(0) */
static void mfs_ll_op_release(fuse_req_t req, fuse_ino_t ino,
                              struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, 0);
}

/* flush, fsync: nothing is ever dirty. ENOSYS is the documented way to
 * say so: the kernel treats it as success and stops sending them (with
 * zero-message open we cannot set noflush in an open reply).
 * Valid replies: fuse_reply_err(ENOSYS) */
static void mfs_ll_op_flush(fuse_req_t req, fuse_ino_t ino,
                            struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, ENOSYS);
}

/* Valid replies: fuse_reply_err(ENOSYS) */
static void mfs_ll_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
                            struct fuse_file_info *fi)
{
    (void)ino;
    (void)datasync;
    (void)fi;
    fuse_reply_err(req, ENOSYS);
}

/* opendir: the listing never changes, so let the kernel cache it. With
 * zero-message open (init), ENOSYS tells the kernel to stop asking.
 * Valid replies: fuse_reply_open, fuse_reply_err */
static void mfs_ll_op_opendir(fuse_req_t req, fuse_ino_t ino,
                              struct fuse_file_info *fi)
{
    const struct mfs_fs *fs = req_fs(req);
    uint32_t id;

    if (mfs_ll_iget(req, fs, ino, &id))
        return;
    if (mfs_node_is_dir(fs->model, id) != 1) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    if (fs->zero_open) {
        fuse_reply_err(req, ENOSYS);
        return;
    }
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
    fuse_reply_open(req, fi);
}

/* Shared body of readdir and readdirplus. Directory offsets: entry k of
 * the sequence ".", "..", child 0, child 1, ... has offset k and carries
 * next-offset k+1, so a listing resumes exactly where the previous buffer
 * filled up. Children come in node order (mfs_dir_child). When the buffer
 * is full, what was gathered is returned; an empty reply means the end.
 * Valid replies: fuse_reply_buf, fuse_reply_err */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       int plus)
{
    const struct mfs_fs *fs = req_fs(req);
    const mfs_model *m;
    uint64_t total, k;
    size_t pos = 0;
    uint32_t dir;
    char *buf;

    if (mfs_ll_iget(req, fs, ino, &dir))
        return;
    m = fs->model;
    if (mfs_node_is_dir(m, dir) != 1) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    total = (uint64_t)mfs_dir_count(m, dir) + 2;
    if (off < 0 || (uint64_t)off >= total || size == 0) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    buf = malloc(size);
    if (buf == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    for (k = (uint64_t)off; k < total; k++) {
        const char *name;
        uint32_t id;
        size_t need;

        if (k == 0) {
            id = dir, name = ".";
        } else if (k == 1) {
            id = mfs_node_parent(m, dir), name = "..";
        } else {
            id = mfs_dir_child(m, dir, (uint32_t)(k - 2));
            name = mfs_node_name(m, id);
            if (id == 0 || name == NULL)
                break; /* cannot happen for k < total; stop rather than lie */
        }
        if (plus && k < 2) {
            /* "." and "..": the kernel links no dentry for them, so only
             * ino and type matter; e.ino = 0 says "no attributes". */
            struct fuse_entry_param e;
            memset(&e, 0, sizeof(e));
            e.attr.st_ino = id;
            e.attr.st_mode = S_IFDIR;
            need = fuse_add_direntry_plus(req, buf + pos, size - pos, name,
                                          &e, (off_t)(k + 1));
        } else if (plus) {
            struct fuse_entry_param e;
            mfs_ll_entry(fs, id, &e);
            need = fuse_add_direntry_plus(req, buf + pos, size - pos, name,
                                          &e, (off_t)(k + 1));
        } else {
            struct stat st;
            memset(&st, 0, sizeof(st));
            st.st_ino = id;
            st.st_mode = mfs_node_is_dir(m, id) == 1 ? S_IFDIR
                         : mfs_node_link(m, id)       ? S_IFLNK
                                                      : S_IFREG;
            need = fuse_add_direntry(req, buf + pos, size - pos, name, &st,
                                     (off_t)(k + 1));
        }
        if (need > size - pos)
            break; /* full: this entry goes in the next reply */
        pos += need;
    }
    fuse_reply_buf(req, buf, pos);
    free(buf);
}

/* Valid replies: fuse_reply_buf, fuse_reply_err */
static void mfs_ll_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
                              off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, 0);
}

/* Valid replies: fuse_reply_buf, fuse_reply_err */
static void mfs_ll_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
                                  off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, off, 1);
}

/* Valid replies: fuse_reply_err(0) */
static void mfs_ll_op_releasedir(fuse_req_t req, fuse_ino_t ino,
                                 struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, 0);
}

/* Valid replies: fuse_reply_err(ENOSYS) (= success, never ask again) */
static void mfs_ll_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
                               struct fuse_file_info *fi)
{
    (void)ino;
    (void)datasync;
    (void)fi;
    fuse_reply_err(req, ENOSYS);
}

/* statfs: the model's size as used blocks, nothing free, one "file" per
 * node, read-only.
 * Valid replies: fuse_reply_statfs */
static void mfs_ll_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    const struct mfs_fs *fs = req_fs(req);
    struct statvfs sv;

    (void)ino;
    memset(&sv, 0, sizeof(sv));
    sv.f_bsize = 4096;
    sv.f_frsize = 4096;
    sv.f_blocks = (fs->model_bytes + 4095) / 4096;
    sv.f_files = mfs_node_count(fs->model);
    sv.f_namemax = 255;
    sv.f_flag = ST_RDONLY;
    fuse_reply_statfs(req, &sv);
}

/* getxattr: user.dtype / user.shape / user.nbytes where the core has
 * them. size 0 probes the length; a too-small buffer gets ERANGE; a
 * missing attribute ENODATA.
 * Valid replies: fuse_reply_buf, fuse_reply_xattr, fuse_reply_err */
static void mfs_ll_op_getxattr(fuse_req_t req, fuse_ino_t ino,
                               const char *name, size_t size)
{
    const struct mfs_fs *fs = req_fs(req);
    char small[256], *big = NULL;
    uint32_t id;
    int64_t len;

    if (mfs_ll_iget(req, fs, ino, &id))
        return;
    len = mfs_node_xattr_get(fs->model, id, name, small, sizeof(small));
    if (len < 0) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    if (size == 0) {
        fuse_reply_xattr(req, (size_t)len);
        return;
    }
    if ((uint64_t)len > size) {
        fuse_reply_err(req, ERANGE);
        return;
    }
    if ((uint64_t)len > sizeof(small)) {
        big = malloc((size_t)len);
        if (big == NULL) {
            fuse_reply_err(req, ENOMEM);
            return;
        }
        len = mfs_node_xattr_get(fs->model, id, name, big, (size_t)len);
    }
    if (len < 0)
        fuse_reply_err(req, ENODATA);
    else
        fuse_reply_buf(req, big ? big : small, (size_t)len);
    free(big);
}

/* listxattr: NUL-separated names; same size-probe / ERANGE rules.
 * Valid replies: fuse_reply_buf, fuse_reply_xattr, fuse_reply_err */
static void mfs_ll_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    const struct mfs_fs *fs = req_fs(req);
    char *buf;
    uint32_t id;
    size_t len;

    if (mfs_ll_iget(req, fs, ino, &id))
        return;
    len = mfs_node_xattr_list(fs->model, id, NULL, 0);
    if (size == 0) {
        fuse_reply_xattr(req, len);
        return;
    }
    if (len > size) {
        fuse_reply_err(req, ERANGE);
        return;
    }
    if (len == 0) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    buf = malloc(len);
    if (buf == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    len = mfs_node_xattr_list(fs->model, id, buf, len);
    fuse_reply_buf(req, buf, len);
    free(buf);
}

/* access: only used without default_permissions; writing is never allowed.
 * Valid replies: fuse_reply_err */
static void mfs_ll_op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    const struct mfs_fs *fs = req_fs(req);
    uint32_t id;

    if (mfs_ll_iget(req, fs, ino, &id))
        return;
    fuse_reply_err(req, (mask & W_OK) ? EROFS : 0);
}

/* ---- everything that would modify the tree: EROFS ----
 * Valid replies: fuse_reply_err(EROFS) */
static void erofs(fuse_req_t req)
{
    fuse_reply_err(req, EROFS);
}

static void mfs_ll_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                              int to_set, struct fuse_file_info *fi)
{
    (void)ino, (void)attr, (void)to_set, (void)fi;
    erofs(req);
}

static void mfs_ll_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                            mode_t mode, dev_t rdev)
{
    (void)parent, (void)name, (void)mode, (void)rdev;
    erofs(req);
}

static void mfs_ll_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                            mode_t mode)
{
    (void)parent, (void)name, (void)mode;
    erofs(req);
}

static void mfs_ll_op_unlink(fuse_req_t req, fuse_ino_t parent,
                             const char *name)
{
    (void)parent, (void)name;
    erofs(req);
}

static void mfs_ll_op_symlink(fuse_req_t req, const char *link,
                              fuse_ino_t parent, const char *name)
{
    (void)link, (void)parent, (void)name;
    erofs(req);
}

static void mfs_ll_op_rename(fuse_req_t req, fuse_ino_t parent,
                             const char *name, fuse_ino_t newparent,
                             const char *newname, unsigned int flags)
{
    (void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
    erofs(req);
}

static void mfs_ll_op_link(fuse_req_t req, fuse_ino_t ino,
                           fuse_ino_t newparent, const char *newname)
{
    (void)ino, (void)newparent, (void)newname;
    erofs(req);
}

static void mfs_ll_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                            size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)ino, (void)buf, (void)size, (void)off, (void)fi;
    erofs(req);
}

static void mfs_ll_op_setxattr(fuse_req_t req, fuse_ino_t ino,
                               const char *name, const char *value,
                               size_t size, int flags)
{
    (void)ino, (void)name, (void)value, (void)size, (void)flags;
    erofs(req);
}

static void mfs_ll_op_removexattr(fuse_req_t req, fuse_ino_t ino,
                                  const char *name)
{
    (void)ino, (void)name;
    erofs(req);
}

static void mfs_ll_op_create(fuse_req_t req, fuse_ino_t parent,
                             const char *name, mode_t mode,
                             struct fuse_file_info *fi)
{
    (void)parent, (void)name, (void)mode, (void)fi;
    erofs(req);
}

static void mfs_ll_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
                                off_t offset, off_t length,
                                struct fuse_file_info *fi)
{
    (void)ino, (void)mode, (void)offset, (void)length, (void)fi;
    erofs(req);
}

static void mfs_ll_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in,
                                      off_t off_in, struct fuse_file_info *fi_in,
                                      fuse_ino_t ino_out, off_t off_out,
                                      struct fuse_file_info *fi_out,
                                      size_t len, int flags)
{
    (void)ino_in, (void)off_in, (void)fi_in, (void)ino_out, (void)off_out;
    (void)fi_out, (void)len, (void)flags;
    erofs(req);
}

const struct fuse_lowlevel_ops mfs_ll_ops = {
    .init = mfs_ll_op_init,
    .lookup = mfs_ll_op_lookup,
    .forget = mfs_ll_op_forget,
    .forget_multi = mfs_ll_op_forget_multi,
    .getattr = mfs_ll_op_getattr,
    .readlink = mfs_ll_op_readlink,
    .open = mfs_ll_op_open,
    .read = mfs_ll_op_read,
    .release = mfs_ll_op_release,
    .flush = mfs_ll_op_flush,
    .fsync = mfs_ll_op_fsync,
    .opendir = mfs_ll_op_opendir,
    .readdir = mfs_ll_op_readdir,
    .readdirplus = mfs_ll_op_readdirplus,
    .releasedir = mfs_ll_op_releasedir,
    .fsyncdir = mfs_ll_op_fsyncdir,
    .statfs = mfs_ll_op_statfs,
    .getxattr = mfs_ll_op_getxattr,
    .listxattr = mfs_ll_op_listxattr,
    .access = mfs_ll_op_access,
    .setattr = mfs_ll_op_setattr,
    .mknod = mfs_ll_op_mknod,
    .mkdir = mfs_ll_op_mkdir,
    .unlink = mfs_ll_op_unlink,
    .rmdir = mfs_ll_op_unlink, /* same signature, same answer */
    .symlink = mfs_ll_op_symlink,
    .rename = mfs_ll_op_rename,
    .link = mfs_ll_op_link,
    .write = mfs_ll_op_write,
    .setxattr = mfs_ll_op_setxattr,
    .removexattr = mfs_ll_op_removexattr,
    .create = mfs_ll_op_create,
    .fallocate = mfs_ll_op_fallocate,
    .copy_file_range = mfs_ll_op_copy_file_range,
};
