/* err.c: graded error reports (see err.h). */
#include "core/err.h"
#include <stdio.h>
#include <string.h>

int mfs_err_set(mfs_err *e, int status, int errnum, int64_t offset, const char *fmt, ...)
{
    if (!e) return status;
    e->status = status;
    e->errnum = errnum;
    e->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return status;
}

void mfs_err_prefix(mfs_err *e, const char *fmt, ...)
{
    if (!e) return;
    char pre[256], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* pre + ": " + old, cut to fit (copied by hand: snprintf would warn) */
    size_t n = 0, cap = sizeof e->msg - 1;
    for (const char *p = pre; *p && n < cap; p++) e->msg[n++] = *p;
    for (const char *p = ": "; *p && n < cap; p++) e->msg[n++] = *p;
    for (const char *p = old; *p && n < cap; p++) e->msg[n++] = *p;
    e->msg[n] = 0;
}

void mfs_err_clear(mfs_err *e)
{
    if (!e) return;
    e->status = MFS_OK;
    e->errnum = 0;
    e->offset = -1;
    e->msg[0] = 0;
}
