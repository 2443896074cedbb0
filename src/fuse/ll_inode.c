/* ll_inode.c: how FUSE inodes map onto modelfs nodes.
 *
 * There is exactly one identifier space. The model's tree numbers its
 * nodes 1..mfs_node_count(), with the root at 1; FUSE's root inode
 * (FUSE_ROOT_ID) is also 1, so an inode number IS a node id, unchanged,
 * in both directions. squashfuse needs three spaces and a table to map
 * them (ll_inode.c there); we need none because:
 *
 *   - the tree is immutable once mfs_model_open() returned: no node is
 *     ever created, renamed or removed while mounted, so an id stays valid
 *     for the life of the daemon and needs no generation number;
 *   - nothing is allocated per inode, so the kernel's lookup counts need
 *     no bookkeeping: forget/forget_multi just reply (ll.c);
 *   - ids are < 2^32, far inside fuse_ino_t.
 *
 * Consequently lookup/getattr/readdir take no locks: the tree is only read.
 * Anything not in 1..count is a stale or forged inode and gets ENOENT.
 */
#include "fs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

int mfs_ll_iget(fuse_req_t req, const struct mfs_fs *fs, fuse_ino_t ino,
                uint32_t *id)
{
    if (ino == 0 || ino > mfs_node_count(fs->model)) {
        fuse_reply_err(req, ENOENT);
        return -1;
    }
    *id = (uint32_t)ino;
    return 0;
}

/* Directory link counts: nlink = 2 + number of child directories (their
 * ".." entries), the classic rule find(1) may rely on. Counted for every
 * directory in one pass over the immutable tree at mount time, so stat of
 * a directory with thousands of children stays O(1). */
int mfs_ll_fs_init(struct mfs_fs *fs)
{
    uint32_t n = mfs_node_count(fs->model);

    fs->nsubdirs = calloc((size_t)n + 1, sizeof(*fs->nsubdirs));
    if (fs->nsubdirs == NULL)
        return -1;
    for (uint32_t id = MFS_ROOT + 1; id <= n; id++)
        if (mfs_node_is_dir(fs->model, id) == 1) {
            uint32_t p = mfs_node_parent(fs->model, id);
            if (p >= 1 && p <= n)
                fs->nsubdirs[p]++;
        }
    return 0;
}

void mfs_ll_fs_destroy(struct mfs_fs *fs)
{
    free(fs->nsubdirs);
    fs->nsubdirs = NULL;
}

void mfs_ll_stat(const struct mfs_fs *fs, uint32_t id, struct stat *st)
{
    mfs_model *m = fs->model;

    memset(st, 0, sizeof(*st));
    st->st_ino = id;
    st->st_uid = fs->uid;
    st->st_gid = fs->gid;
    st->st_atim = fs->mtime;
    st->st_mtim = fs->mtime;
    st->st_ctim = fs->mtime;
    /* A large st_blksize makes cat/cp read with 1 MiB buffers, matching
     * the 1 MiB FUSE reads we allow (coreutils uses max(blksize, 128K)). */
    st->st_blksize = MFS_MAX_READ;
    if (mfs_node_is_dir(m, id) == 1) {
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2 + (fs->nsubdirs ? fs->nsubdirs[id] : 0);
        st->st_size = 0;
    } else if (mfs_node_link(m, id) != NULL) {
        st->st_mode = S_IFLNK | 0777; /* as every symlink: the target decides */
        st->st_nlink = 1;
        st->st_size = (off_t)mfs_node_size(m, id);
    } else {
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = (off_t)mfs_node_size(m, id);
        st->st_blocks = (st->st_size + 511) / 512;
    }
}

void mfs_ll_entry(const struct mfs_fs *fs, uint32_t id,
                  struct fuse_entry_param *e)
{
    memset(e, 0, sizeof(*e));
    e->entry_timeout = fs->timeout;
    e->attr_timeout = fs->timeout;
    if (id == 0)
        return; /* negative entry: ino 0, the kernel caches the miss */
    e->ino = id;
    e->generation = 1;
    mfs_ll_stat(fs, id, &e->attr);
}

char *mfs_ll_path(const mfs_model *m, uint32_t id, char *buf, size_t size)
{
    /* Collect the chain leaf -> root, then emit it root -> leaf. A depth
     * guard keeps a (never expected) parent cycle from looping forever. */
    uint32_t chain[256];
    size_t depth = 0, pos = 0;

    if (size == 0)
        return buf;
    while (id != MFS_ROOT && id != 0 && depth < sizeof(chain) / sizeof(*chain)) {
        chain[depth++] = id;
        id = mfs_node_parent(m, id);
    }
    buf[0] = '\0';
    if (depth == 0)
        snprintf(buf, size, "/");
    while (depth > 0 && pos + 1 < size) {
        const char *name = mfs_node_name(m, chain[--depth]);
        int n = snprintf(buf + pos, size - pos, "/%s", name ? name : "?");
        if (n < 0)
            break;
        pos += (size_t)n;
    }
    return buf;
}

void mfs_ll_log(const struct mfs_fs *fs, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (fs->log == NULL) {
        syslog(LOG_ERR, "%s", line);
        return;
    }
    /* One fprintf per line: stdio locks the stream, so lines from
     * concurrent handler threads do not interleave. */
    fprintf(fs->log, "modelfs: %s\n", line);
    fflush(fs->log);
}
