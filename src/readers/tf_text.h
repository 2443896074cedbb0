/* tf_text.h: bytes from TF files as text (private to src/).
 * TF strings (keys, string tensors, names in protos) are arbitrary bytes;
 * modelfs shows them as UTF-8 text with C-style escapes where needed. */
#ifndef MFS_TF_TEXT_H
#define MFS_TF_TEXT_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include <jansson.h>
#include <stddef.h>

/** tf_escape() : @n bytes as one line of text: valid UTF-8 is kept,
 *  backslash, newline, tab, CR and other control or invalid bytes become
 *  \\, \n, \t, \r, \xHH. Appends to the malloc'd buffer *@buf of length
 *  *@len (capacity *@cap), growing it. @return 0, or -1 on OOM. */
int tf_escape(const unsigned char *s, size_t n, char **buf, size_t *len, size_t *cap);

/** tf_json_bytes() : a JSON string of @n bytes: as-is when valid UTF-8
 *  without NULs, else escaped (tf_escape). New reference; NULL on OOM. */
json_t *tf_json_bytes(const char *s, size_t n);

/** tf_utf8_ok() : 1 when @n bytes are valid UTF-8 without NUL. */
int tf_utf8_ok(const unsigned char *s, size_t n);
#endif
