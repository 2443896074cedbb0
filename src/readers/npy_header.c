/* npy_header.c: parsing the .npy header (see npy_header.h).
 *
 * The header dict is a Python literal written by numpy's
 * `_write_array_header` (repr of a dict), but files from other writers
 * (older numpy, Python 2 with 3L longs, hand-made files) vary in quoting,
 * spacing and key order, so the parser is a small tolerant recursive
 * descent over literal syntax: strings ('..' or "..", optional u/b
 * prefix, backslash escapes skipped), True/False/None, integers (optional
 * sign and Python 2 'L' suffix), tuples, lists and dicts, nested at most
 * MAX_DEPTH deep. Unknown keys are ignored; the three keys numpy requires
 * must be present. Nothing is evaluated. */
#include "readers/npy_header.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 16

enum vkind { V_STR, V_INT, V_TRUE, V_FALSE, V_NONE, V_TUPLE, V_LIST, V_DICT };

/* A parsed value: strings point into the text; sequences keep up to
 * MFS_MAX_DIMS integer items (what a shape needs). */
struct val {
    enum vkind kind;
    const char *s;
    size_t slen;
    int neg;
    uint64_t i;
    int nitems;               /* number of items of a tuple/list */
    int all_int;              /* every item is a non-negative int */
    uint64_t items[MFS_MAX_DIMS];
};

struct lit {
    const char *p, *end, *start;
    int64_t base;
    mfs_err *e;
};

static int lit_err(struct lit *L, const char *what)
{
    return mfs_err_set(L->e, MFS_FATAL, EINVAL, L->base + (L->p - L->start),
                       "npy header: %s", what);
}

static void skip_ws(struct lit *L)
{
    while (L->p < L->end && strchr(" \t\n\r\f\v", *L->p) && *L->p) L->p++;
}

static int parse_value(struct lit *L, struct val *v, int depth);

/* '(' or '[' items ')' or ']', trailing comma allowed. */
static int parse_seq(struct lit *L, struct val *v, char close, int depth)
{
    v->nitems = 0;
    v->all_int = 1;
    L->p++;
    for (;;) {
        skip_ws(L);
        if (L->p >= L->end) return lit_err(L, "unterminated tuple or list");
        if (*L->p == close) {
            L->p++;
            return MFS_OK;
        }
        struct val item;
        MFS_FORWARD(parse_value(L, &item, depth + 1));
        if (item.kind != V_INT || item.neg) v->all_int = 0;
        else if (v->nitems < MFS_MAX_DIMS) v->items[v->nitems] = item.i;
        if (v->nitems < 1 << 30) v->nitems++;
        skip_ws(L);
        if (L->p < L->end && *L->p == ',') L->p++;
        else if (L->p < L->end && *L->p != close) return lit_err(L, "expected ',' in tuple or list");
    }
}

/* Dict: calls @on_item for every key (a string) with its value, when
 * @on_item is not NULL (the top-level dict); nested dicts are skipped. */
typedef int (*item_fn)(struct lit *L, const struct val *key, const struct val *v, void *ctx);

static int parse_dict(struct lit *L, int depth, item_fn on_item, void *ctx)
{
    L->p++;
    for (;;) {
        skip_ws(L);
        if (L->p >= L->end) return lit_err(L, "unterminated dict");
        if (*L->p == '}') {
            L->p++;
            return MFS_OK;
        }
        struct val key, v;
        MFS_FORWARD(parse_value(L, &key, depth + 1));
        skip_ws(L);
        if (L->p >= L->end || *L->p != ':') return lit_err(L, "expected ':' after a dict key");
        L->p++;
        skip_ws(L);
        const char *vat = L->p;
        MFS_FORWARD(parse_value(L, &v, depth + 1));
        if (on_item) {
            if (key.kind != V_STR) return lit_err(L, "dict key is not a string");
            const char *save = L->p;
            L->p = vat; /* errors about the value point at it */
            MFS_FORWARD(on_item(L, &key, &v, ctx));
            L->p = save;
        }
        skip_ws(L);
        if (L->p < L->end && *L->p == ',') L->p++;
        else if (L->p < L->end && *L->p != '}') return lit_err(L, "expected ',' in dict");
    }
}

static int word(struct lit *L, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(L->end - L->p) < n || memcmp(L->p, w, n) != 0) return 0;
    if ((size_t)(L->end - L->p) > n) {
        char c = L->p[n];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
            return 0;
    }
    L->p += n;
    return 1;
}

static int parse_value(struct lit *L, struct val *v, int depth)
{
    memset(v, 0, sizeof *v);
    if (depth > MAX_DEPTH) return lit_err(L, "literal nested too deeply");
    skip_ws(L);
    if (L->p >= L->end) return lit_err(L, "unexpected end of header");
    char c = *L->p;
    if ((c == 'u' || c == 'b' || c == 'U' || c == 'B') && L->end - L->p > 1 &&
        (L->p[1] == '\'' || L->p[1] == '"'))
        c = *++L->p;
    if (c == '\'' || c == '"') {
        const char *s = ++L->p;
        while (L->p < L->end && *L->p != c) {
            if (*L->p == '\\') L->p++;
            if (L->p < L->end && *L->p == '\n') return lit_err(L, "newline in a string");
            L->p++;
        }
        if (L->p >= L->end) return lit_err(L, "unterminated string");
        v->kind = V_STR;
        v->s = s;
        v->slen = (size_t)(L->p - s);
        L->p++;
        return MFS_OK;
    }
    if (c == '(' || c == '[') {
        v->kind = c == '(' ? V_TUPLE : V_LIST;
        return parse_seq(L, v, c == '(' ? ')' : ']', depth);
    }
    if (c == '{') {
        v->kind = V_DICT;
        return parse_dict(L, depth, NULL, NULL);
    }
    if (c == '-' || c == '+' || (c >= '0' && c <= '9')) {
        v->kind = V_INT;
        if (c == '-' || c == '+') {
            v->neg = c == '-';
            L->p++;
        }
        if (L->p >= L->end || *L->p < '0' || *L->p > '9') return lit_err(L, "bad integer");
        while (L->p < L->end && *L->p >= '0' && *L->p <= '9') {
            unsigned d = (unsigned)(*L->p - '0');
            if (v->i > (UINT64_MAX - d) / 10) return lit_err(L, "integer overflows 64 bits");
            v->i = v->i * 10 + d;
            L->p++;
        }
        if (L->p < L->end && (*L->p == 'L' || *L->p == 'l')) L->p++; /* Python 2 long */
        return MFS_OK;
    }
    if (word(L, "True") || word(L, "true")) return v->kind = V_TRUE, MFS_OK;
    if (word(L, "False") || word(L, "false")) return v->kind = V_FALSE, MFS_OK;
    if (word(L, "None")) return v->kind = V_NONE, MFS_OK;
    return lit_err(L, "unexpected character in dict literal");
}

static int key_is(const struct val *k, const char *name)
{
    return k->slen == strlen(name) && memcmp(k->s, name, k->slen) == 0;
}

struct got {
    struct mfs_npy_header *h;
    int descr, fortran, shape;
};

/* What an unsupported descr is, for the message. */
static const char *descr_kind(const char *d)
{
    const char *k = d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=' ? d + 1 : d;
    switch (*k) {
    case 'U': return "unicode strings";
    case 'S': case 'a': return "byte strings";
    case 'O': return "Python objects (a pickle follows; never executed)";
    case 'V': return "raw void records";
    case 'M': return "datetime64";
    case 'm': return "timedelta64";
    default: return "unknown type";
    }
}

static int on_item(struct lit *L, const struct val *key, const struct val *v, void *ctx)
{
    struct got *g = ctx;
    struct mfs_npy_header *h = g->h;
    if (key_is(key, "descr")) {
        g->descr = 1;
        if (v->kind == V_LIST)
            return lit_err(L, "structured dtypes (a list of fields in 'descr') are not supported");
        if (v->kind != V_STR) return lit_err(L, "'descr' is not a string");
        int printable = v->slen > 0 && v->slen < sizeof h->descr;
        for (size_t i = 0; printable && i < v->slen; i++)
            printable = v->s[i] >= 0x20 && v->s[i] < 0x7f;
        if (!printable) return lit_err(L, "'descr' is not a numpy type string");
        memcpy(h->descr, v->s, v->slen);
        h->descr[v->slen] = 0;
        char d[sizeof h->descr];
        memcpy(d, h->descr, sizeof d);
        if (d[0] == '=') d[0] = '<'; /* native: modelfs runs little-endian hosts */
        h->dtype = mfs_dtype_by_npy_descr(d, &h->swap);
        if (h->dtype == MFS_DT_INVALID) {
            char msg[160];
            snprintf(msg, sizeof msg, "dtype '%s' (%s) is not supported", h->descr,
                     descr_kind(h->descr));
            return lit_err(L, msg);
        }
    } else if (key_is(key, "fortran_order")) {
        g->fortran = 1;
        if (v->kind == V_TRUE) h->fortran = 1;
        else if (v->kind == V_FALSE) h->fortran = 0;
        else if (v->kind == V_INT && !v->neg && v->i <= 1) h->fortran = (int)v->i;
        else return lit_err(L, "'fortran_order' is not True or False");
    } else if (key_is(key, "shape")) {
        g->shape = 1;
        if (v->kind == V_INT && !v->neg) { /* shape: 5, from lenient writers */
            h->ndim = 1;
            h->shape[0] = v->i;
            return MFS_OK;
        }
        if (v->kind != V_TUPLE && v->kind != V_LIST) return lit_err(L, "'shape' is not a tuple");
        if (v->nitems > MFS_MAX_DIMS) return lit_err(L, "'shape' has more than 32 dimensions");
        if (!v->all_int) return lit_err(L, "'shape' holds something other than non-negative integers");
        h->ndim = v->nitems;
        memcpy(h->shape, v->items, sizeof(uint64_t) * (size_t)v->nitems);
    }
    return MFS_OK;
}

int mfs_npy_parse_dict(const char *text, size_t len, int64_t base, struct mfs_npy_header *h,
                       mfs_err *e)
{
    struct lit L = {text, text + len, text, base, e};
    struct got g = {h, 0, 0, 0};
    h->dtype = MFS_DT_INVALID;
    h->swap = h->fortran = h->ndim = 0;
    h->descr[0] = 0;
    skip_ws(&L);
    if (L.p >= L.end || *L.p != '{') return lit_err(&L, "does not start with a dict '{'");
    MFS_FORWARD(parse_dict(&L, 0, on_item, &g));
    skip_ws(&L);
    while (L.p < L.end && *L.p == 0) L.p++; /* some writers pad with NULs */
    skip_ws(&L);
    if (L.p < L.end) return lit_err(&L, "unexpected bytes after the dict");
    L.p = text;
    if (!g.descr) return lit_err(&L, "no 'descr' key");
    if (!g.fortran) return lit_err(&L, "no 'fortran_order' key");
    if (!g.shape) return lit_err(&L, "no 'shape' key");
    uint64_t n = 1;
    for (int i = 0; i < h->ndim; i++) {
        if (h->shape[i] && n > UINT64_MAX / h->shape[i])
            return lit_err(&L, "'shape' overflows 64 bits");
        n *= h->shape[i];
    }
    h->nelems = n;
    h->nbytes = mfs_dtype_nbytes(h->dtype, n);
    if (h->nbytes == UINT64_MAX) return lit_err(&L, "array size overflows 64 bits");
    return MFS_OK;
}

int mfs_npy_parse_prelude(const unsigned char *p, size_t n, int64_t base,
                          struct mfs_npy_header *h, mfs_err *e)
{
    MFS_CHECK(n >= MFS_NPY_MAGIC_LEN && memcmp(p, MFS_NPY_MAGIC, MFS_NPY_MAGIC_LEN) == 0, e,
              MFS_FATAL, EINVAL, base, "no \\x93NUMPY magic");
    MFS_CHECK(n >= 10, e, MFS_FATAL, EINVAL, base + (int64_t)n,
              "truncated before the header length");
    h->major = p[6];
    h->minor = p[7];
    MFS_CHECK(h->minor == 0 && h->major >= 1 && h->major <= 3, e, MFS_FATAL, EINVAL, base + 6,
              "unsupported format version %d.%d (1.0, 2.0 and 3.0 are known)", h->major,
              h->minor);
    if (h->major == 1) {
        h->header_len = (uint64_t)p[8] | (uint64_t)p[9] << 8;
        h->data_offset = 10 + h->header_len;
    } else {
        MFS_CHECK(n >= 12, e, MFS_FATAL, EINVAL, base + 8, "truncated before the header length");
        h->header_len = (uint64_t)p[8] | (uint64_t)p[9] << 8 | (uint64_t)p[10] << 16 |
                        (uint64_t)p[11] << 24;
        h->data_offset = 12 + h->header_len;
    }
    MFS_CHECK(h->header_len <= MFS_NPY_MAX_HEADER, e, MFS_FATAL, EINVAL, base + 8,
              "header length %llu exceeds the limit of %u bytes",
              (unsigned long long)h->header_len, MFS_NPY_MAX_HEADER);
    return MFS_OK;
}

int mfs_npy_read_header(mfs_src *src, uint64_t base, uint64_t avail, struct mfs_npy_header *h,
                        mfs_err *e)
{
    unsigned char pre[12];
    size_t n = avail < sizeof pre ? (size_t)avail : sizeof pre;
    memset(h, 0, sizeof *h);
    if (mfs_src_read_exact(src, pre, n, base, e) < 0) {
        if (e) e->status = MFS_FATAL;
        return MFS_FATAL;
    }
    MFS_FORWARD(mfs_npy_parse_prelude(pre, n, (int64_t)base, h, e));
    uint64_t hoff = h->data_offset - h->header_len;
    MFS_CHECK(h->data_offset <= avail, e, MFS_FATAL, EINVAL, (int64_t)(base + 8),
              "header of %llu bytes runs past the end of the data (%llu bytes)",
              (unsigned long long)h->header_len, (unsigned long long)avail);
    char *text = mfs_src_slurp(src, base + hoff, h->header_len, MFS_NPY_MAX_HEADER, e);
    if (!text) {
        if (e) e->status = MFS_FATAL;
        return MFS_FATAL;
    }
    int rc = mfs_npy_parse_dict(text, (size_t)h->header_len, (int64_t)(base + hoff), h, e);
    free(text);
    MFS_FORWARD(rc);
    MFS_CHECK(h->nbytes <= avail - h->data_offset, e, MFS_FATAL, EINVAL,
              (int64_t)(base + h->data_offset),
              "a '%s' array of %llu elements needs %llu bytes of data, only %llu present", h->descr,
              (unsigned long long)h->nelems, (unsigned long long)h->nbytes,
              (unsigned long long)(avail - h->data_offset));
    return MFS_OK;
}

/* CUSTOM read of a big-endian complex tensor: its bytes are those of the
 * float "shadow" tensor (shape + [2]) kept in read_ctx. */
static int complex_read(const mfs_tensor *t, uint64_t off, void *buf, size_t len, mfs_err *e)
{
    int64_t n = mfs_tensor_read(t->read_ctx, off, buf, len, e);
    if (n < 0) return MFS_FAILED;
    MFS_CHECK((size_t)n == len, e, MFS_FAILED, EIO, -1, "short read of a complex tensor");
    return MFS_OK;
}

/* Locator for elements of @h at byte @off of @src on tensor @t whose
 * dtype and shape are set: PLAIN/BYTESWAP, or STRIDED for Fortran order;
 * a complex shadow has one more, innermost, dimension (the pair). */
static int set_locator(mfs_tensor *t, const struct mfs_npy_header *h, mfs_src *src,
                       uint64_t off, mfs_err *e)
{
    if (!h->fortran || h->ndim <= 1 || t->nelems == 0)
        return mfs_tensor_set_plain(t, src, off, h->swap, e);
    /* Fortran order: the first index varies fastest. A shadow's extra
     * last dimension (the real/imaginary pair) stays innermost. */
    int64_t strides[MFS_MAX_DIMS];
    int inner = t->ndim > h->ndim ? 2 : 1;
    uint64_t s = (uint64_t)inner;
    for (int k = 0; k < h->ndim; k++) {
        strides[k] = (int64_t)s;
        s *= h->shape[k]; /* <= nelems: no overflow, all dims are non-zero */
    }
    if (inner == 2) strides[h->ndim] = 1;
    return mfs_tensor_set_strided(t, src, off, t->nelems, 0, strides, h->swap, e);
}

int mfs_npy_tensor_init(mfs_tree *tree, mfs_tensor *t, const struct mfs_npy_header *h,
                        mfs_src *src, uint64_t base, mfs_err *e)
{
    t->dtype = h->dtype;
    MFS_FORWARD(mfs_tensor_set_shape(t, h->ndim, h->shape, e));
    uint64_t off = base + h->data_offset;
    int complex = h->dtype == MFS_DT_C64 || h->dtype == MFS_DT_C128;
    if (!complex || !h->swap || t->nelems == 0) return set_locator(t, h, src, off, e);
    /* Big-endian complex: each of the two floats is swapped on its own,
     * which the core's BYTESWAP (whole elements) does not do; read
     * through a float tensor of shape + [2] with the same bytes. */
    MFS_CHECK(h->ndim < MFS_MAX_DIMS, e, MFS_FATAL, EINVAL, -1,
              "big-endian complex array with %d dimensions", h->ndim);
    mfs_tensor *sh = mfs_tree_tensor_new(tree);
    MFS_CHECK(sh, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    uint64_t shape[MFS_MAX_DIMS];
    memcpy(shape, h->shape, sizeof(uint64_t) * (size_t)h->ndim);
    shape[h->ndim] = 2;
    sh->dtype = h->dtype == MFS_DT_C64 ? MFS_DT_F32 : MFS_DT_F64;
    MFS_FORWARD(mfs_tensor_set_shape(sh, h->ndim + 1, shape, e));
    MFS_FORWARD(set_locator(sh, h, src, off, e));
    mfs_tensor_set_custom(t, complex_read, sh, src, NULL);
    return MFS_OK;
}

json_t *mfs_npy_info_json(const struct mfs_npy_header *h)
{
    char ver[16];
    snprintf(ver, sizeof ver, "%d.%d", h->major, h->minor);
    return json_pack("{s:s, s:s, s:b, s:I}", "npy_version", ver, "descr", h->descr,
                     "fortran_order", h->fortran, "npy_data_offset", (json_int_t)h->data_offset);
}
