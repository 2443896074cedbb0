/* log.h: thread-safe one-line logging to stderr (private to src/).
 * The daemon's log is its stderr (visible with -f/-d, or syslog'd by the
 * caller); each call writes one whole line atomically. */
#ifndef MFS_LOG_H
#define MFS_LOG_H
#ifndef MFS_INTERNAL
#error "src/core headers are private to libmodelfs"
#endif

/** mfs_log() : prints "modelfs: <message>\n" as one write. Never fails. */
void mfs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** mfs_log_set_quiet() : 1 silences mfs_log (used by fuzz targets). */
void mfs_log_set_quiet(int quiet);
#endif
