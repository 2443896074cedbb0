/* err.h: setting and forwarding graded errors (private to src/).
 *
 * A failure sets its message where it happens (mfs_err_set, cf. libarchive's
 * archive_set_error) and returns a graded status; callers forward it with
 * MFS_FORWARD and check conditions with MFS_CHECK. In debug builds
 * (MFS_DEBUG) both log file:line to stderr, as zstd's RETURN_ERROR_IF does. */
#ifndef MFS_ERR_H
#define MFS_ERR_H
#ifndef MFS_INTERNAL
#error "src/core headers are private to libmodelfs"
#endif
#include "modelfs/modelfs.h"
#include <stdarg.h>

/** mfs_err_set() : fills @e (may be NULL) and returns @status.
 *  @errnum is what a FUSE read replies (EIO, EINVAL...), @offset the byte of
 *  the input where it failed or -1. Never fails. */
int mfs_err_set(mfs_err *e, int status, int errnum, int64_t offset,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/** mfs_err_prefix() : prepends "prefix: " to an existing message. */
void mfs_err_prefix(mfs_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** mfs_err_clear() : resets @e to MFS_OK. */
void mfs_err_clear(mfs_err *e);

#ifdef MFS_DEBUG
#include <stdio.h>
#define MFS__TRACE() fprintf(stderr, "modelfs: debug: %s:%d\n", __FILE__, __LINE__)
#else
#define MFS__TRACE() ((void)0)
#endif

/* MFS_CHECK(cond, e, status, errnum, offset, fmt, ...): when @cond is false,
 * set the error and return @status from the enclosing function. */
#define MFS_CHECK(cond, e, status, errnum, offset, ...)                        \
    do {                                                                       \
        if (!(cond)) {                                                         \
            MFS__TRACE();                                                      \
            return mfs_err_set((e), (status), (errnum), (offset), __VA_ARGS__); \
        }                                                                      \
    } while (0)

/* MFS_FORWARD(expr): evaluate @expr (a status); return it when < 0. */
#define MFS_FORWARD(expr)                                                      \
    do {                                                                       \
        int mfs__s = (expr);                                                   \
        if (mfs__s < 0) {                                                      \
            MFS__TRACE();                                                      \
            return mfs__s;                                                     \
        }                                                                      \
    } while (0)

#endif
