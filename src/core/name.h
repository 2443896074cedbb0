/* name.h: escaping of path components (LAYOUT.md "Names").
 * A component that is empty, ".", "..", or holds '/', '%' or a control
 * character cannot be shown as is: such bytes become %XX (upper-case hex),
 * "." and ".." become "%2E" and "%2E%2E", and the empty name "%00". */
#ifndef MFS_NAME_H
#define MFS_NAME_H
#ifndef MFS_INTERNAL
#error "src/core headers are private to libmodelfs"
#endif
#include <stddef.h>

/** mfs_name_escape() : escaped form of the @len raw bytes at @raw, with
 *  '/' escaped when @slash is set. @return a malloc'd string (caller
 *  frees), NULL on OOM. */
char *mfs_name_escape(const char *raw, size_t len, int slash);
#endif
