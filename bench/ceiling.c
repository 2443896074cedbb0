/* ceiling.c: the machine's FUSE ceiling, for bench/run.sh.
 *
 *   mfs_ceiling SRCFILE OFFSET LENGTH MOUNTPOINT [-f] [-s] [-o opt,...]
 *   mfs_ceiling --tree LISTING MOUNTPOINT [-f] [-s] [-o opt,...]
 *
 * (The --tree mode, for walks, is ceiling_tree.c.)
 *
 * The smallest useful FUSE server: its root holds one file, "data", whose
 * bytes are SRCFILE[OFFSET, OFFSET+LENGTH), served with one pread per read
 * request into a buffer and fuse_reply_buf, and nothing else. It uses the
 * same connection settings and request loop as the modelfs daemon
 * (src/fuse/spin.c; src/fuse: max_read
 * 1 MiB, keep_cache, 1 MiB st_blksize, max_background 64, no
 * auto_inval_data, long timeouts, multithreaded with clone_fd, ro), so
 * modelfs/ceiling is the cost of modelfs' own work per request, not of
 * FUSE itself. Deliberately separate from src/: it knows no model.
 */
#include "ceiling.h"
#include "spin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CEIL_FILE_INO 2

static int g_fd = -1;
static off_t g_off;
static off_t g_len;
static struct timespec g_mtime;

static void ceil_stat(fuse_ino_t ino, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = ino;
    st->st_uid = getuid();
    st->st_gid = getgid();
    st->st_mtim = st->st_atim = st->st_ctim = g_mtime;
    st->st_blksize = CEIL_MAX_READ;
    if (ino == FUSE_ROOT_ID) {
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
    } else {
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = g_len;
        st->st_blocks = (g_len + 511) / 512;
    }
}

void ceil_init(void *ud, struct fuse_conn_info *conn)
{
    (void)ud;
    conn->max_read = CEIL_MAX_READ;
    if (conn->max_readahead < CEIL_MAX_READ)
        conn->max_readahead = CEIL_MAX_READ;
    conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
    if (conn->max_background < 64)
        conn->max_background = 64;
    if (conn->congestion_threshold < 48)
        conn->congestion_threshold = 48;
}

static void ceil_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fuse_entry_param e;

    memset(&e, 0, sizeof(e));
    e.entry_timeout = e.attr_timeout = CEIL_TIMEOUT;
    if (parent == FUSE_ROOT_ID && strcmp(name, "data") == 0) {
        e.ino = CEIL_FILE_INO;
        ceil_stat(e.ino, &e.attr);
    }
    fuse_reply_entry(req, &e);
}

static void ceil_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct stat st;

    (void)fi;
    if (ino != FUSE_ROOT_ID && ino != CEIL_FILE_INO) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    ceil_stat(ino, &st);
    fuse_reply_attr(req, &st, CEIL_TIMEOUT);
}

static void ceil_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    if (ino != CEIL_FILE_INO) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    if ((fi->flags & O_ACCMODE) != O_RDONLY) {
        fuse_reply_err(req, EROFS);
        return;
    }
    fi->keep_cache = 1;
    fi->noflush = 1;
    fuse_reply_open(req, fi);
}

static void ceil_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                      struct fuse_file_info *fi)
{
    ssize_t n = 0, r;
    char *buf;

    (void)ino;
    (void)fi;
    if (off >= g_len) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    if ((off_t)size > g_len - off)
        size = (size_t)(g_len - off);
    buf = malloc(size);
    if (buf == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    while ((size_t)n < size) {
        r = pread(g_fd, buf + n, size - (size_t)n, g_off + off + n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += r;
    }
    if (n == 0 && size > 0)
        fuse_reply_err(req, EIO);
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

static void ceil_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                         struct fuse_file_info *fi)
{
    static const char *names[] = { ".", "..", "data" };
    static const fuse_ino_t inos[] = { FUSE_ROOT_ID, FUSE_ROOT_ID, CEIL_FILE_INO };
    char *buf;
    size_t pos = 0;

    (void)fi;
    if (ino != FUSE_ROOT_ID) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    buf = malloc(size);
    if (buf == NULL) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    for (off_t k = off < 0 ? 0 : off; k < 3; k++) {
        struct stat st;
        size_t need;
        ceil_stat(inos[k], &st);
        need = fuse_add_direntry(req, buf + pos, size - pos, names[k], &st, k + 1);
        if (need > size - pos)
            break;
        pos += need;
    }
    fuse_reply_buf(req, buf, pos);
    free(buf);
}

static const struct fuse_lowlevel_ops ceil_ops = {
    .init = ceil_init,
    .lookup = ceil_lookup,
    .getattr = ceil_getattr,
    .open = ceil_open,
    .read = ceil_read,
    .readdir = ceil_readdir,
};

int main(int argc, char **argv)
{
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    struct fuse_cmdline_opts c;
    struct fuse_session *se = NULL;
    struct fuse_loop_config *cfg = NULL;
    const struct fuse_lowlevel_ops *ops = &ceil_ops;
    struct stat st;
    int ret = 1, first = 4;

    if (argc >= 3 && strcmp(argv[1], "--tree") == 0) {
        if (ceil_tree_load(argv[2]) != 0) {
            fprintf(stderr, "mfs_ceiling: cannot load the listing %s\n", argv[2]);
            return 1;
        }
        ops = &ceil_tree_ops;
        first = 3;
        goto session;
    }
    if (argc < 5) {
        fprintf(stderr, "usage: %s SRCFILE OFFSET LENGTH MOUNTPOINT [-f] [-s] [-o opt,...]\n"
                        "       %s --tree LISTING MOUNTPOINT [-f] [-s] [-o opt,...]\n",
                argv[0], argv[0]);
        return 1;
    }
    g_fd = open(argv[1], O_RDONLY);
    if (g_fd < 0 || fstat(g_fd, &st) != 0) {
        fprintf(stderr, "mfs_ceiling: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    g_off = strtoll(argv[2], NULL, 10);
    g_len = strtoll(argv[3], NULL, 10);
    g_mtime = st.st_mtim;
    if (g_off < 0 || g_len < 0 || g_off > st.st_size || g_len > st.st_size - g_off) {
        fprintf(stderr, "mfs_ceiling: range [%s, +%s) outside %s\n", argv[2], argv[3], argv[1]);
        return 1;
    }

session:
    /* argv[0], then MOUNTPOINT and the options, then our fixed options. */
    memset(&c, 0, sizeof(c));
    if (fuse_opt_add_arg(&args, argv[0]) != 0)
        goto out_args;
    for (int i = first; i < argc; i++)
        if (fuse_opt_add_arg(&args, argv[i]) != 0)
            goto out_args;
    if (fuse_opt_add_arg(&args, "-ofsname=mfs_ceiling,subtype=mfs_ceiling,"
                                "max_read=1048576,ro") != 0)
        goto out_args;
    if (fuse_parse_cmdline(&args, &c) != 0 || c.mountpoint == NULL)
        goto out_args;
    se = fuse_session_new(&args, ops, sizeof(*ops), NULL);
    if (se == NULL)
        goto out_cmdline;
    if (fuse_set_signal_handlers(se) != 0)
        goto out_session;
    if (fuse_session_mount(se, c.mountpoint) != 0)
        goto out_signals;
    /* read /dev/fuse as the daemon does (src/fuse/spin.c) */
    if (!c.singlethread && mfs_spin_install(se, MFS_SPIN_DEFAULT_US) != 0)
        goto out_unmount;
    if (fuse_daemonize(c.foreground) != 0)
        goto out_unmount;
    if (c.singlethread) {
        ret = fuse_session_loop(se);
    } else {
        cfg = fuse_loop_cfg_create();
        fuse_loop_cfg_set_clone_fd(cfg, 1);
        fuse_loop_cfg_set_max_threads(cfg, c.max_threads);
        ret = fuse_session_loop_mt(se, cfg);
        fuse_loop_cfg_destroy(cfg);
    }
    ret = ret < 0 ? 1 : 0;
out_unmount:
    fuse_session_unmount(se);
out_signals:
    fuse_remove_signal_handlers(se);
out_session:
    fuse_session_destroy(se);
out_cmdline:
    free(c.mountpoint);
out_args:
    fuse_opt_free_args(&args);
    if (g_fd >= 0)
        close(g_fd);
    return ret;
}
