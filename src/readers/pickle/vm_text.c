/* vm_text.c: decoding the arguments of the text opcodes (protocol 0/1:
 * INT, LONG, FLOAT, STRING, UNICODE) and of LONG1/LONG4.
 *
 * Integers keep an int64 fast path; anything wider is kept as its
 * minimal little-endian two's complement bytes (MFS_PK_F_BIG), which is
 * what LONG1/LONG4 store. Decimal text wider than int64 is converted to
 * that form with a schoolbook base-10 -> base-256 loop, bounded by
 * limits.max_long. */
#include "readers/pickle/vm_priv.h"
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* Sets INT @o from LE two's complement bytes. */
int mfs_pk_set_long(mfs_pk_vm *vm, mfs_pk *o, const unsigned char *b, size_t n, mfs_err *e)
{
    o->kind = MFS_PK_INT;
    if (n == 0) {
        o->u.i.v = 0;
        return MFS_OK;
    }
    int neg = (b[n - 1] & 0x80) != 0;
    /* strip redundant sign-extension bytes */
    size_t m = n;
    while (m > 1 && b[m - 1] == (neg ? 0xff : 0x00) && ((b[m - 2] & 0x80) != 0) == neg) m--;
    if (m <= 8) {
        uint64_t u = neg ? ~(uint64_t)0 : 0;
        for (size_t i = 0; i < m; i++) {
            u &= ~((uint64_t)0xff << (8 * i));
            u |= (uint64_t)b[i] << (8 * i);
        }
        o->u.i.v = (int64_t)u;
        return MFS_OK;
    }
    unsigned char *c = mfs_pk_alloc(vm->h, m, e);
    if (!c) return MFS_FATAL;
    memcpy(c, b, m);
    o->flags |= MFS_PK_F_BIG;
    o->u.i.bytes = c;
    o->u.i.nbytes = m;
    o->u.i.v = neg ? INT64_MIN : INT64_MAX; /* saturated, for sorting only */
    return MFS_OK;
}

int mfs_pk_parse_int(mfs_pk_vm *vm, mfs_pk *o, const char *s, size_t len, mfs_err *e)
{
    size_t i = 0, j = len;
    while (i < j && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
    while (j > i && (s[j - 1] == ' ' || s[j - 1] == '\t' || s[j - 1] == '\r')) j--;
    int neg = 0;
    if (i < j && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    if (i == j) return mfs_pk_vm_fail(vm, e, "invalid integer literal");
    size_t ndig = j - i;
    for (size_t k = i; k < j; k++)
        if ((s[k] < '0' || s[k] > '9') && s[k] != '_')
            return mfs_pk_vm_fail(vm, e, "invalid integer literal");
    o->kind = MFS_PK_INT;
    if (ndig <= 18) {
        int64_t v = 0;
        for (size_t k = i; k < j; k++)
            if (s[k] != '_') v = v * 10 + (s[k] - '0');
        o->u.i.v = neg ? -v : v;
        return MFS_OK;
    }
    /* CPython (>= 3.11) refuses int() of more than 4300 digits; so do we:
     * the conversion below is quadratic */
    if (ndig > 4300)
        return mfs_pk_vm_fail(vm, e, "integer of %zu digits exceeds the limit of 4300", ndig);
    /* one byte per 2.4 digits; +2 for the sign bit and rounding */
    size_t nb = ndig * 10 / 24 + 2;
    if (nb > vm->h->lim.max_long)
        return mfs_pk_vm_fail(vm, e, "integer of %zu digits exceeds the limit", ndig);
    unsigned char *mag = calloc(nb, 1);
    if (!mag) return mfs_pk_vm_fail(vm, e, "out of memory");
    for (size_t k = i; k < j; k++) {
        if (s[k] == '_') continue;
        unsigned carry = (unsigned)(s[k] - '0');
        for (size_t q = 0; q < nb; q++) {
            unsigned t = mag[q] * 10u + carry;
            mag[q] = (unsigned char)t;
            carry = t >> 8;
        }
    }
    if (neg) { /* two's complement */
        unsigned carry = 1;
        for (size_t q = 0; q < nb; q++) {
            unsigned t = (unsigned)(unsigned char)~mag[q] + carry;
            mag[q] = (unsigned char)t;
            carry = t >> 8;
        }
    }
    int rc = mfs_pk_set_long(vm, o, mag, nb, e);
    free(mag);
    return rc;
}

int mfs_pk_parse_float(mfs_pk_vm *vm, mfs_pk *o, const char *s, size_t len, mfs_err *e)
{
    char tmp[512];
    if (len >= sizeof tmp) return mfs_pk_vm_fail(vm, e, "float literal too long");
    memcpy(tmp, s, len);
    tmp[len] = 0;
    char *endp;
    double d = strtod(tmp, &endp);
    while (*endp == ' ' || *endp == '\r' || *endp == '\t') endp++;
    if (endp == tmp || *endp) return mfs_pk_vm_fail(vm, e, "invalid float literal");
    o->kind = MFS_PK_FLOAT;
    o->u.f = d;
    return MFS_OK;
}

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* STRING: Python 2 repr of a str, e.g. 'abc' or "it's", with
 * codecs.escape_decode escapes. The result is raw bytes (py2 str). */
int mfs_pk_decode_string(mfs_pk_vm *vm, mfs_pk *o, const char *s, size_t len, mfs_err *e)
{
    while (len && (s[len - 1] == '\r' || s[len - 1] == ' ')) len--;
    if (len < 2 || (s[0] != '\'' && s[0] != '"') || s[len - 1] != s[0])
        return mfs_pk_vm_fail(vm, e, "the STRING opcode argument must be quoted");
    s++;
    len -= 2;
    char *d = mfs_pk_alloc(vm->h, len + 1, e);
    if (!d) return MFS_FATAL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c != '\\' || i + 1 == len) {
            d[n++] = c;
            continue;
        }
        c = s[++i];
        switch (c) {
        case '\n': break;
        case '\\': d[n++] = '\\'; break;
        case '\'': d[n++] = '\''; break;
        case '"': d[n++] = '"'; break;
        case 'b': d[n++] = '\b'; break;
        case 'f': d[n++] = '\f'; break;
        case 't': d[n++] = '\t'; break;
        case 'n': d[n++] = '\n'; break;
        case 'r': d[n++] = '\r'; break;
        case 'v': d[n++] = '\v'; break;
        case 'a': d[n++] = '\a'; break;
        case 'x': {
            int h1 = i + 1 < len ? hexv(s[i + 1]) : -1;
            int h2 = i + 2 < len ? hexv(s[i + 2]) : -1;
            if (h1 < 0 || h2 < 0) return mfs_pk_vm_fail(vm, e, "invalid \\x escape");
            d[n++] = (char)(h1 * 16 + h2);
            i += 2;
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                int v = c - '0', k = 1;
                while (k < 3 && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '7') {
                    v = v * 8 + (s[++i] - '0');
                    k++;
                }
                d[n++] = (char)(v & 0xff);
            } else {
                d[n++] = '\\';
                d[n++] = c;
            }
        }
    }
    d[n] = 0;
    o->kind = MFS_PK_STR;
    o->flags |= MFS_PK_F_PY2STR;
    o->u.s.data = d;
    o->u.s.len = n;
    return MFS_OK;
}

/* Appends code point @cp as UTF-8 (surrogates kept, as surrogatepass). */
static size_t put_utf8(char *d, uint32_t cp)
{
    if (cp < 0x80) { d[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        d[0] = (char)(0xc0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xe0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        d[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (char)(0xf0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    d[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* UNICODE: raw-unicode-escape: bytes are Latin-1 code points except
 * \uXXXX and \UXXXXXXXX. */
int mfs_pk_decode_unicode(mfs_pk_vm *vm, mfs_pk *o, const char *s, size_t len, mfs_err *e)
{
    if (len > (SIZE_MAX - 1) / 4) return mfs_pk_vm_fail(vm, e, "UNICODE argument too long");
    char *d = mfs_pk_alloc(vm->h, len * 2 + 1, e); /* UTF-8 never beats 2x here */
    if (!d) return MFS_FATAL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\' && i + 1 < len && (s[i + 1] == 'u' || s[i + 1] == 'U')) {
            /* an odd run of backslashes before the u makes it an escape;
             * raw-unicode-escape counts only the one right before */
            int w = s[i + 1] == 'u' ? 4 : 8;
            if (i + 1 + (size_t)w >= len) return mfs_pk_vm_fail(vm, e, "truncated \\u escape");
            uint32_t cp = 0;
            for (int k = 0; k < w; k++) {
                int h = hexv(s[i + 2 + k]);
                if (h < 0) return mfs_pk_vm_fail(vm, e, "invalid \\u escape");
                cp = cp * 16 + (uint32_t)h;
            }
            if (cp > 0x10ffff) return mfs_pk_vm_fail(vm, e, "\\U escape out of range");
            n += put_utf8(d + n, cp);
            i += 1 + (size_t)w;
            continue;
        }
        n += put_utf8(d + n, c);
    }
    d[n] = 0;
    o->kind = MFS_PK_STR;
    o->u.s.data = d;
    o->u.s.len = n;
    return MFS_OK;
}
