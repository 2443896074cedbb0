/* fs.h: what the FUSE front-end's files share (private to src/fuse).
 *
 * The daemon is three files with one job each (squashfuse's ll_main.c /
 * ll.c / ll_inode.c split):
 *   main.c      options, open + validate the model, session, loop, cleanup
 *   ll.c        the mfs_ll_op_* request handlers, one reply per request
 *   ll_inode.c  inode <-> node mapping, stat of a node, paths for log lines
 *
 * Everything goes through include/modelfs/modelfs.h: this layer knows
 * nothing of formats, readers or views. */
#ifndef MFS_FUSE_FS_H
#define MFS_FUSE_FS_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse_lowlevel.h>

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "modelfs/modelfs.h"

/* Largest read the kernel may send us. The kernel caps a request at
 * max_pages (256 pages = 1 MiB with 4 KiB pages, libfuse derives it from
 * max_write whose default is 1 MiB); libfuse 3.14 also insists that the
 * value set in init() equals the "-o max_read=" given to
 * fuse_session_new(), so main.c passes this same number there. */
#define MFS_MAX_READ (1u << 20)

/* Default entry/attr timeout in seconds: the tree never changes while
 * mounted, so the kernel may cache names and attributes for a day. */
#define MFS_TIMEOUT_DEFAULT 86400.0

/* The mounted filesystem: one per daemon, read-only after main() set it
 * up, so handlers on any thread read it without locks. */
struct mfs_fs {
    mfs_model *model;   /* owned by main.c, closed after the loop ends */
    uint32_t *nsubdirs; /* [id]: number of child directories of node id,
                           counted once at mount (mfs_ll_fs_init), so a
                           dir's nlink (2 + subdirs) costs O(1) */
    double timeout;     /* entry_timeout and attr_timeout, seconds */
    unsigned max_read;  /* the "-o max_read=" value; init() repeats it */
    uid_t uid;          /* owner shown for every node: the mounting user */
    gid_t gid;
    struct timespec mtime; /* the model file's mtime (mount time if unknown) */
    uint64_t model_bytes;  /* size of the model file, for statfs */
    int zero_open;      /* set by init(): the kernel handles open/opendir
                           itself (no OPEN/OPENDIR/RELEASE* requests) */
    FILE *log;          /* where read errors go (stderr, a -o log= file) or
                           NULL for syslog (daemonized without log=) */
};

/* The handler table (ll.c). */
extern const struct fuse_lowlevel_ops mfs_ll_ops;

/** mfs_ll_thread_done() : frees the calling thread's read buffer (worker
 *  threads free theirs when they end; main() calls this after a -s loop). */
void mfs_ll_thread_done(void);

/**
 * mfs_ll_iget() : the node behind inode @ino, into *@id.
 * @return 0 on success; on failure it has ALREADY replied ENOENT to @req
 *         and returns -1, so the caller just returns (squashfuse's
 *         sqfs_ll_iget pattern: one reply per request on every path).
 */
int mfs_ll_iget(fuse_req_t req, const struct mfs_fs *fs, fuse_ino_t ino,
                uint32_t *id);

/** mfs_ll_fs_init() : derives the per-node tables of @fs from fs->model
 *  (once, before mounting). @return 0, or -1 when out of memory.
 *  mfs_ll_fs_destroy() frees them; accepts a zeroed @fs. */
int mfs_ll_fs_init(struct mfs_fs *fs);
void mfs_ll_fs_destroy(struct mfs_fs *fs);

/** mfs_ll_stat() : fills *@st for node @id (mode, size, nlink, times,
 *  owner). Cannot fail for a valid id. */
void mfs_ll_stat(const struct mfs_fs *fs, uint32_t id, struct stat *st);

/** mfs_ll_entry() : fills *@e (ino, attr, timeouts) for node @id, or a
 *  negative entry (ino 0, cached for the timeout) when @id is 0. */
void mfs_ll_entry(const struct mfs_fs *fs, uint32_t id,
                  struct fuse_entry_param *e);

/** mfs_ll_path() : writes "/a/b/c" for node @id into @buf (truncated to
 *  @size, always NUL-terminated) and returns @buf. For log lines only. */
char *mfs_ll_path(const mfs_model *m, uint32_t id, char *buf, size_t size);

/** mfs_ll_log() : one line "modelfs: ..." to fs->log, or syslog when the
 *  daemon has no terminal. Thread-safe (one write per line). */
void mfs_ll_log(const struct mfs_fs *fs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* MFS_FUSE_FS_H */
