/* src.h: byte sources (private to src/).
 *
 * A byte source is something with a size that can be pread at any offset
 * by many threads at once: a file (fd + pread), a memory buffer (tests,
 * fuzzing, HDF5 file images), or anything a reader makes with its own ops
 * (a decompressed stream, a zip member). Ops tables are static const
 * templates filled in by the mfs_src_new_* constructors (redis rio.c).
 * A source is reference counted: tensors and files of the tree keep
 * references to the sources they read from. */
#ifndef MFS_SRC_H
#define MFS_SRC_H
#ifndef MFS_INTERNAL
#error "src/core headers are private to libmodelfs"
#endif
#include "core/err.h"
#include <stdint.h>
#include <stddef.h>

typedef struct mfs_src mfs_src;

struct mfs_src_ops {
    /* Read up to @len bytes at @off; return bytes read (0 at EOF) or -1
     * with @e set. Must be safe to call from several threads at once. */
    int64_t (*pread)(mfs_src *s, void *buf, size_t len, uint64_t off, mfs_err *e);
    /* Free ctx. */
    void (*close)(mfs_src *s);
};

struct mfs_src {
    const struct mfs_src_ops *ops;
    void *ctx;
    uint64_t size;
    char *path;   /* for messages and info.json ("file"); owned */
    int refs;     /* atomic */
    int fd;       /* file sources: the descriptor; else -1 */
};

/** mfs_src_new_file() : opens @path read-only (O_RDONLY|O_CLOEXEC).
 *  @return a source with one reference, or NULL with @e set (MFS_FATAL). */
mfs_src *mfs_src_new_file(const char *path, mfs_err *e);

/** mfs_src_new_mem() : a source over @len bytes at @data. With @copy the
 *  bytes are duplicated, else they must outlive the source. NULL on OOM. */
mfs_src *mfs_src_new_mem(const void *data, size_t len, int copy, const char *name);

/** mfs_src_new_custom() : a source with reader-defined @ops and @ctx
 *  (ops->close frees ctx). @path is copied. NULL on OOM (ctx untouched). */
mfs_src *mfs_src_new_custom(const struct mfs_src_ops *ops, void *ctx,
                            uint64_t size, const char *path);

/** mfs_src_ref()/mfs_src_unref() : reference counting; unref accepts NULL
 *  and frees at zero. */
mfs_src *mfs_src_ref(mfs_src *s);
void mfs_src_unref(mfs_src *s);

/** mfs_src_read_exact() : exactly @len bytes at @off, else MFS_FAILED with
 *  "truncated" in @e (EIO). @return MFS_OK or MFS_FAILED. */
int mfs_src_read_exact(mfs_src *s, void *buf, size_t len, uint64_t off, mfs_err *e);

/** mfs_src_read() : up to @len bytes (short only at EOF); -1 on error. */
int64_t mfs_src_read(mfs_src *s, void *buf, size_t len, uint64_t off, mfs_err *e);

/** mfs_src_slurp() : reads [off, off+len) into a new malloc'd buffer (with
 *  one extra NUL byte). Caller frees. NULL with @e set on error, or when
 *  @len exceeds @limit (a guard against absurd headers). */
void *mfs_src_slurp(mfs_src *s, uint64_t off, uint64_t len, uint64_t limit, mfs_err *e);
#endif
