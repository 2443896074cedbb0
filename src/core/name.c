/* name.c: path component escaping (see name.h). */
#include "core/name.h"
#include <stdlib.h>
#include <string.h>

static int needs(unsigned char c, int slash)
{
    return c == '%' || c < 0x20 || c == 0x7f || (slash && c == '/');
}

char *mfs_name_escape(const char *raw, size_t len, int slash)
{
    static const char hex[] = "0123456789ABCDEF";
    if (len == 0) return strdup("%00");
    if (len == 1 && raw[0] == '.') return strdup("%2E");
    if (len == 2 && raw[0] == '.' && raw[1] == '.') return strdup("%2E%2E");
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += needs((unsigned char)raw[i], slash) ? 3 : 1;
    char *o = malloc(n + 1), *w = o;
    if (!o) return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (needs(c, slash)) {
            *w++ = '%';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        } else {
            *w++ = (char)c;
        }
    }
    *w = 0;
    return o;
}
