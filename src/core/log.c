/* log.c: one-line, thread-safe logging (see log.h). Each line is formatted
 * into a buffer and written with a single write(2), so lines from several
 * FUSE threads never interleave. */
#include "core/log.h"
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static volatile int quiet;

void mfs_log_set_quiet(int q) { quiet = q; }

void mfs_log(const char *fmt, ...)
{
    if (quiet) return;
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "modelfs: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0) return;
    n += m;
    if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = write(2, buf, (size_t)n);
    (void)w;
}
