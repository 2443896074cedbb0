/* tf_text.c: escaping TF bytes as text (see tf_text.h). */
#include "readers/tf_text.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at @s (< n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k;
    uint32_t cp;
    if (c < 0x80) return c ? 1 : 0;
    if (c >= 0xc2 && c <= 0xdf) k = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) k = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) k = 4, cp = c & 0x07;
    else return 0;
    if (k > n) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return k;
}

int tf_utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(s + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

static int put(char **buf, size_t *len, size_t *cap, const void *d, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = (*len + n + 1) * 2;
        char *q = realloc(*buf, c);
        if (!q) return -1;
        *buf = q;
        *cap = c;
    }
    memcpy(*buf + *len, d, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

int tf_escape(const unsigned char *s, size_t n, char **buf, size_t *len, size_t *cap)
{
    if (put(buf, len, cap, "", 0) < 0) return -1;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = utf8_len(s + i, n - i);
        char esc[8];
        const char *out = esc;
        size_t olen = 2;
        if (c == '\\') out = "\\\\";
        else if (c == '\n') out = "\\n";
        else if (c == '\t') out = "\\t";
        else if (c == '\r') out = "\\r";
        else if (k == 0 || c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            olen = 4;
        } else {
            out = (const char *)s + i;
            olen = k;
        }
        if (put(buf, len, cap, out, olen) < 0) return -1;
        i += k && c >= 0x20 && c != 0x7f && c != '\\' ? k : 1;
    }
    return 0;
}

json_t *tf_json_bytes(const char *s, size_t n)
{
    if (tf_utf8_ok((const unsigned char *)s, n)) return json_stringn(s, n);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (tf_escape((const unsigned char *)s, n, &buf, &len, &cap) < 0) {
        free(buf);
        return NULL;
    }
    json_t *j = json_stringn(buf, len);
    free(buf);
    return j;
}
