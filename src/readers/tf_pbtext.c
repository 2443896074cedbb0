/* tf_pbtext.c: protobuf text format into protobuf-c messages (see
 * tf_pbtext.h for the grammar and the contract).
 *
 * A recursive-descent parser over the text; the recursion follows message
 * nesting and is cut at max_depth. Values are parsed first and stored
 * after, and every element is linked into its message as soon as it is
 * created (zeroed), so that the message is always in a state that
 * protobuf_c_message_free_unpacked() can free: an error anywhere frees the
 * whole message. Repeated arrays grow by doubling (the capacity is the
 * next power of two of the count, so it need not be stored). */
#include "readers/tf_pbtext.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct px {
    const char *s, *p, *end;
    const struct tf_pbtext_opts *o;
    int max_depth;
    size_t max_items, items;
    mfs_err *e;
    int failed;
    char *buf;       /* the last string value, decoded */
    size_t blen, bcap;
};

/* Records the first error, at @at. @return -1. */
static int fail(struct px *x, const char *at, const char *fmt, ...)
{
    if (x->failed) return -1;
    x->failed = 1;
    if (at > x->end) at = x->end;
    int line = 1, col = 1;
    for (const char *q = x->s; q < at; q++) {
        if (*q == '\n') line++, col = 1;
        else col++;
    }
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mfs_err_set(x->e, MFS_FAILED, EINVAL, (int64_t)(at - x->s), "line %d, column %d: %s", line, col, msg);
    return -1;
}

static int oom(struct px *x)
{
    if (!x->failed) mfs_err_set(x->e, MFS_FAILED, ENOMEM, -1, "out of memory");
    x->failed = 1;
    return -1;
}

/* Skips white space and # comments; the next character or -1. */
static int peek(struct px *x)
{
    while (x->p < x->end) {
        char c = *x->p;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            x->p++;
        } else if (c == '#') {
            while (x->p < x->end && *x->p != '\n') x->p++;
        } else {
            return (unsigned char)c;
        }
    }
    return -1;
}

static int accept(struct px *x, char c)
{
    if (peek(x) != (unsigned char)c) return 0;
    x->p++;
    return 1;
}

static int expect(struct px *x, char c, const char *what)
{
    if (accept(x, c)) return 0;
    return fail(x, x->p, "expected '%c' %s", c, what);
}

/* An identifier [A-Za-z_][A-Za-z0-9_]* at the current position. */
static int ident(struct px *x, const char **s, size_t *n)
{
    int c = peek(x);
    if (c < 0 || !(isalpha(c) || c == '_')) return 0;
    *s = x->p;
    while (x->p < x->end && (isalnum((unsigned char)*x->p) || *x->p == '_')) x->p++;
    *n = (size_t)(x->p - *s);
    return 1;
}

/* A number token: digits, letters (hex, exponent, suffix), '.', and a
 * sign right after an exponent 'e'. */
static int number(struct px *x, const char **s, size_t *n)
{
    int c = peek(x);
    if (c < 0 || !(isdigit(c) || (c == '.' && x->p + 1 < x->end && isdigit((unsigned char)x->p[1]))))
        return 0;
    *s = x->p;
    int hex = x->end - x->p > 1 && x->p[0] == '0' && (x->p[1] == 'x' || x->p[1] == 'X');
    while (x->p < x->end) {
        char d = *x->p;
        if (isalnum((unsigned char)d) || d == '.') x->p++;
        else if ((d == '-' || d == '+') && !hex && (x->p[-1] == 'e' || x->p[-1] == 'E')) x->p++;
        else break;
    }
    *n = (size_t)(x->p - *s);
    return 1;
}

static int put(struct px *x, const void *d, size_t n)
{
    if (x->blen + n + 1 > x->bcap) {
        size_t cap = (x->blen + n + 1) * 2;
        char *q = realloc(x->buf, cap);
        if (!q) return oom(x);
        x->buf = q;
        x->bcap = cap;
    }
    memcpy(x->buf + x->blen, d, n);
    x->blen += n;
    x->buf[x->blen] = 0;
    return 0;
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

static int put_utf8(struct px *x, uint32_t cp, const char *at)
{
    unsigned char b[4];
    size_t n;
    if (cp > 0x10FFFF) return fail(x, at, "code point U+%X is out of range", (unsigned)cp);
    if (cp < 0x80) b[0] = (unsigned char)cp, n = 1;
    else if (cp < 0x800) b[0] = 0xC0 | (cp >> 6), b[1] = 0x80 | (cp & 63), n = 2;
    else if (cp < 0x10000) b[0] = 0xE0 | (cp >> 12), b[1] = 0x80 | ((cp >> 6) & 63), b[2] = 0x80 | (cp & 63), n = 3;
    else b[0] = 0xF0 | (cp >> 18), b[1] = 0x80 | ((cp >> 12) & 63), b[2] = 0x80 | ((cp >> 6) & 63),
         b[3] = 0x80 | (cp & 63), n = 4;
    return put(x, b, n);
}

/* One escape after the backslash at x->p[-1]. */
static int escape(struct px *x)
{
    const char *at = x->p - 1;
    if (x->p >= x->end) return fail(x, at, "unterminated string");
    char c = *x->p++, v;
    switch (c) {
    case 'n': v = '\n'; break;
    case 't': v = '\t'; break;
    case 'r': v = '\r'; break;
    case 'a': v = '\a'; break;
    case 'b': v = '\b'; break;
    case 'f': v = '\f'; break;
    case 'v': v = '\v'; break;
    case '\\': case '\'': case '"': case '?': v = c; break;
    case 'x': case 'X': {
        int d, val = 0, k = 0;
        while (k < 2 && x->p < x->end && (d = hexval((unsigned char)*x->p)) >= 0) val = val * 16 + d, x->p++, k++;
        if (!k) return fail(x, at, "\\x without hex digits");
        v = (char)val;
        break;
    }
    case 'u': case 'U': {
        int want = c == 'u' ? 4 : 8, d;
        uint32_t cp = 0;
        for (int k = 0; k < want; k++) {
            if (x->p >= x->end || (d = hexval((unsigned char)*x->p)) < 0)
                return fail(x, at, "\\%c needs %d hex digits", c, want);
            cp = cp * 16 + (uint32_t)d;
            x->p++;
        }
        return put_utf8(x, cp, at);
    }
    default:
        if (c >= '0' && c <= '7') {
            int val = c - '0', k = 1;
            while (k < 3 && x->p < x->end && *x->p >= '0' && *x->p <= '7') val = val * 8 + (*x->p++ - '0'), k++;
            if (val > 255) return fail(x, at, "octal escape \\%o is beyond a byte", val);
            v = (char)val;
            break;
        }
        return fail(x, at, "unknown escape \\%c", isprint((unsigned char)c) ? c : '?');
    }
    return put(x, &v, 1);
}

/* Quoted strings (adjacent ones concatenated) into x->buf/blen.
 * @return 1, 0 when no string starts here, -1 on error. */
static int string(struct px *x)
{
    x->blen = 0;
    if (put(x, "", 0) < 0) return -1;
    int any = 0, c;
    while ((c = peek(x)) == '"' || c == '\'') {
        const char *start = x->p++;
        any = 1;
        for (;;) {
            if (x->p >= x->end) return fail(x, start, "unterminated string");
            char d = *x->p;
            if (d == c) {
                x->p++;
                break;
            }
            if (d == '\n') return fail(x, x->p, "newline inside a string");
            x->p++;
            if (d == '\\' ? escape(x) < 0 : put(x, &d, 1) < 0) return -1;
        }
    }
    return any;
}

/* ---- storing values ---- */

static size_t elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    default: return 4;
    }
}

static int is_pointer(ProtobufCType t)
{
    return t == PROTOBUF_C_TYPE_STRING || t == PROTOBUF_C_TYPE_MESSAGE;
}

/* Where the next value of @f goes: a new zeroed element of a repeated
 * field (linked, counted), or the member itself (its has_ / oneof case
 * set). NULL on error. */
static void *slot(struct px *x, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    char *base = (char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t *n = (size_t *)(base + f->quantifier_offset), es = elem_size(f->type);
        void **arr = (void **)(base + f->offset);
        if (++x->items > x->max_items) {
            fail(x, x->p, "more than %zu values", x->max_items);
            return NULL;
        }
        if ((*n & (*n - 1)) == 0) { /* 0 or a power of two: full */
            size_t cap = *n ? *n * 2 : 1;
            void *q = realloc(*arr, cap * es);
            if (!q) {
                oom(x);
                return NULL;
            }
            *arr = q;
        }
        char *el = (char *)*arr + *n * es;
        memset(el, 0, es);
        (*n)++;
        return el;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *c = (uint32_t *)(base + f->quantifier_offset);
        if (*c && *c != f->id) {
            fail(x, x->p, "field '%s': another field of its oneof is already set", f->name);
            return NULL;
        }
        *c = f->id;
    } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && !is_pointer(f->type)) {
        /* proto2 optional scalars and bytes have a has_ member */
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    }
    return base + f->offset;
}

static int parse_int(struct px *x, const ProtobufCFieldDescriptor *f, int64_t *out, uint64_t *uout)
{
    const char *at = x->p;
    int neg = accept(x, '-');
    const char *s;
    size_t n;
    if (!neg && ident(x, &s, &n)) {
        if (x->o && x->o->ident && x->o->ident(x->o->ctx, f, s, n, out) == 0) {
            *uout = (uint64_t)*out;
            return 0;
        }
        return fail(x, s, "field '%s': '%.*s' is not an integer", f->name, (int)(n > 40 ? 40 : n), s);
    }
    if (!number(x, &s, &n)) return fail(x, x->p, "field '%s': expected an integer", f->name);
    char tmp[72];
    if (n >= sizeof tmp) return fail(x, s, "field '%s': number too long", f->name);
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *endp;
    errno = 0;
    unsigned long long v = strtoull(tmp, &endp, 0);
    if (*endp || errno || tmp[0] == '-' || tmp[0] == '+')
        return fail(x, s, "field '%s': '%s' is not an integer", f->name, tmp);
    int is64 = elem_size(f->type) == 8;
    int uns = f->type == PROTOBUF_C_TYPE_UINT32 || f->type == PROTOBUF_C_TYPE_FIXED32 ||
              f->type == PROTOBUF_C_TYPE_UINT64 || f->type == PROTOBUF_C_TYPE_FIXED64;
    uint64_t lim = uns ? (is64 ? UINT64_MAX : UINT32_MAX) : (is64 ? (uint64_t)INT64_MAX : INT32_MAX);
    if ((neg && (uns || v > lim + 1)) || (!neg && v > lim))
        return fail(x, at, "field '%s': %s%s is out of range", f->name, neg ? "-" : "", tmp);
    *uout = neg ? (uint64_t)0 - v : v;
    *out = (int64_t)*uout;
    return 0;
}

static int parse_real(struct px *x, const ProtobufCFieldDescriptor *f, double *out)
{
    int neg = accept(x, '-');
    const char *s;
    size_t n;
    if (ident(x, &s, &n)) {
        if ((n == 3 && !strncasecmp(s, "inf", 3)) || (n == 8 && !strncasecmp(s, "infinity", 8))) *out = INFINITY;
        else if (n == 3 && !strncasecmp(s, "nan", 3)) *out = NAN;
        else return fail(x, s, "field '%s': expected a number", f->name);
    } else if (number(x, &s, &n)) {
        char tmp[80];
        if (n >= sizeof tmp) return fail(x, s, "field '%s': number too long", f->name);
        memcpy(tmp, s, n);
        tmp[n] = 0;
        if (n > 1 && (tmp[n - 1] == 'f' || tmp[n - 1] == 'F') && !strchr(tmp, 'x') && !strchr(tmp, 'X'))
            tmp[--n] = 0;
        char *endp;
        *out = strtod(tmp, &endp);
        if (*endp || endp == tmp) return fail(x, s, "field '%s': '%s' is not a number", f->name, tmp);
    } else {
        return fail(x, x->p, "field '%s': expected a number", f->name);
    }
    if (neg) *out = -*out;
    return 0;
}

/* One scalar value of @f, stored. */
static int scalar(struct px *x, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    int64_t i = 0;
    uint64_t u = 0;
    double d = 0;
    const char *s, *at = x->p;
    size_t n;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES: {
        int r = string(x);
        if (r <= 0) return r < 0 ? -1 : fail(x, x->p, "field '%s': expected a quoted string", f->name);
        break;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (ident(x, &s, &n)) {
            if ((n == 4 && (!strncmp(s, "true", 4) || !strncmp(s, "True", 4))) || (n == 1 && *s == 't')) i = 1;
            else if ((n == 5 && (!strncmp(s, "false", 5) || !strncmp(s, "False", 5))) || (n == 1 && *s == 'f')) i = 0;
            else return fail(x, s, "field '%s': expected true or false", f->name);
        } else if (number(x, &s, &n) && n == 1 && (*s == '0' || *s == '1')) {
            i = *s == '1';
        } else {
            return fail(x, at, "field '%s': expected true or false", f->name);
        }
        break;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        if (parse_real(x, f, &d) < 0) return -1;
        break;
    case PROTOBUF_C_TYPE_ENUM:
        if (ident(x, &s, &n)) {
            char name[128];
            const ProtobufCEnumValue *ev = NULL;
            if (n < sizeof name) {
                memcpy(name, s, n);
                name[n] = 0;
                ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, name);
            }
            if (!ev) return fail(x, s, "field '%s': unknown enum value '%.*s'", f->name, (int)(n > 40 ? 40 : n), s);
            i = ev->value;
        } else {
            struct ProtobufCFieldDescriptor g = *f;
            g.type = PROTOBUF_C_TYPE_INT32;
            if (parse_int(x, &g, &i, &u) < 0) return -1;
        }
        break;
    default:
        if (parse_int(x, f, &i, &u) < 0) return -1;
    }
    void *dst = slot(x, m, f);
    if (!dst) return -1;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        char **p = dst, *c = malloc(x->blen + 1);
        if (!c) return oom(x);
        memcpy(c, x->buf, x->blen + 1);
        if (*p && *p != (const char *)f->default_value) free(*p);
        *p = c;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = dst;
        const ProtobufCBinaryData *def = f->default_value;
        unsigned char *c = malloc(x->blen ? x->blen : 1);
        if (!c) return oom(x);
        memcpy(c, x->buf, x->blen);
        if (b->data && (!def || b->data != def->data)) free(b->data);
        b->data = c;
        b->len = x->blen;
        return 0;
    }
    case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)dst = (protobuf_c_boolean)i; return 0;
    case PROTOBUF_C_TYPE_FLOAT: *(float *)dst = (float)d; return 0;
    case PROTOBUF_C_TYPE_DOUBLE: *(double *)dst = d; return 0;
    case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        *(int64_t *)dst = i; return 0;
    case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: *(uint64_t *)dst = u; return 0;
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: *(uint32_t *)dst = (uint32_t)u; return 0;
    default: *(int32_t *)dst = (int32_t)i; return 0;
    }
}

/* ---- messages ---- */

static int fields(struct px *x, ProtobufCMessage *m, const ProtobufCMessageDescriptor *d, int close,
                  int depth);

/* '{' or '<': returns the closing character, or 0. */
static int open_block(struct px *x)
{
    if (accept(x, '{')) return '}';
    if (accept(x, '<')) return '>';
    return 0;
}

/* A message value of @f ({...} or <...>), parsed into a new element or
 * merged into the member. */
static int message(struct px *x, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int depth)
{
    int close = open_block(x);
    if (!close) return fail(x, x->p, "field '%s': expected '{'", f->name);
    const ProtobufCMessageDescriptor *sd = f->descriptor;
    ProtobufCMessage **pp = slot(x, m, f), *sub;
    if (!pp) return -1;
    if (!*pp) {
        if (f->label != PROTOBUF_C_LABEL_REPEATED && ++x->items > x->max_items)
            return fail(x, x->p, "more than %zu values", x->max_items);
        if (!(sub = calloc(1, sd->sizeof_message))) return oom(x);
        sd->message_init(sub);
        *pp = sub;
    }
    return fields(x, *pp, sd, close, depth + 1);
}

static int skip_value(struct px *x, int depth);

/* A scalar value of an unknown field, checked and dropped. */
static int skip_scalar(struct px *x)
{
    const char *s;
    size_t n;
    int r = string(x);
    if (r) return r < 0 ? -1 : 0;
    int neg = accept(x, '-');
    if (number(x, &s, &n) || ident(x, &s, &n)) return 0;
    return fail(x, x->p, neg ? "expected a number after '-'" : "expected a value");
}

/* The value after an unknown field's name (or [extension]). */
static int skip_value(struct px *x, int depth)
{
    int colon = accept(x, ':'), close = open_block(x);
    if (close) return fields(x, NULL, NULL, close, depth + 1);
    if (!accept(x, '[')) return colon ? skip_scalar(x) : fail(x, x->p, "expected ':' or '{'");
    if (accept(x, ']')) return 0;
    do {
        if ((close = open_block(x)) ? fields(x, NULL, NULL, close, depth + 1) < 0 : skip_scalar(x) < 0)
            return -1;
    } while (accept(x, ','));
    return expect(x, ']', "to end the list");
}

/* The value(s) after a known field's name. */
static int field_value(struct px *x, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int depth)
{
    int rep = f->label == PROTOBUF_C_LABEL_REPEATED;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        accept(x, ':'); /* optional before a message or a list of them */
        if (!accept(x, '[')) return message(x, m, f, depth);
        if (!rep) return fail(x, x->p, "field '%s' is not repeated", f->name);
        if (accept(x, ']')) return 0;
        do {
            if (message(x, m, f, depth) < 0) return -1;
        } while (accept(x, ','));
        return expect(x, ']', "to end the list");
    }
    if (expect(x, ':', "after a scalar field's name") < 0) return -1;
    if (!accept(x, '[')) return scalar(x, m, f);
    if (!rep) return fail(x, x->p, "field '%s' is not repeated", f->name);
    if (accept(x, ']')) return 0;
    do {
        if (scalar(x, m, f) < 0) return -1;
    } while (accept(x, ','));
    return expect(x, ']', "to end the list");
}

/* Fields until @close (0: the end of the text). @m NULL: skip them all. */
static int fields(struct px *x, ProtobufCMessage *m, const ProtobufCMessageDescriptor *d, int close,
                  int depth)
{
    if (depth > x->max_depth) return fail(x, x->p, "messages nested deeper than %d", x->max_depth);
    for (;;) {
        int c = peek(x);
        if (c < 0) return close ? fail(x, x->p, "missing '%c' at the end", close) : 0;
        if (close && c == close) {
            x->p++;
            return 0;
        }
        const char *name;
        size_t n;
        const ProtobufCFieldDescriptor *f = NULL;
        if (c == '[') { /* [extension] or [type.url/Message] */
            const char *at = x->p++;
            while (x->p < x->end && (isalnum((unsigned char)*x->p) || strchr("_./-", *x->p))) x->p++;
            if (x->p == at + 1 || expect(x, ']', "after an extension name") < 0)
                return fail(x, at, "malformed extension name");
        } else if (ident(x, &name, &n)) {
            char nb[256];
            if (m && n < sizeof nb) {
                memcpy(nb, name, n);
                nb[n] = 0;
                f = protobuf_c_message_descriptor_get_field_by_name(d, nb);
            }
        } else {
            if (isprint(c)) return fail(x, x->p, "expected a field name, not '%c'", c);
            return fail(x, x->p, "expected a field name, not byte 0x%02x", c);
        }
        if (f ? field_value(x, m, f, depth) < 0 : skip_value(x, depth) < 0) return -1;
        if (!accept(x, ',')) accept(x, ';');
    }
}

ProtobufCMessage *tf_pbtext_parse(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
                                  const struct tf_pbtext_opts *o, mfs_err *e)
{
    struct px x = {.s = text, .p = text, .end = text + len, .o = o, .e = e};
    x.max_depth = o && o->max_depth > 0 ? o->max_depth : 100;
    x.max_items = o && o->max_items ? o->max_items : (size_t)1 << 24;
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    if (!m) {
        mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        return NULL;
    }
    d->message_init(m);
    int rc = fields(&x, m, d, 0, 0);
    free(x.buf);
    if (rc < 0) {
        protobuf_c_message_free_unpacked(m, NULL);
        return NULL;
    }
    return m;
}
