/* numpy_obj.c: NumPy arrays and dtypes recognised in a pickle's object
 * graph (API and the list of forms in numpy_obj.h).
 *
 * Facts used (FORMATS.md §7.2, §8.1; numpy/_core/src/multiarray
 * methods.c array_reduce / array_reduce_ex_picklebuffer, descriptor.c
 * arraydescr_reduce; joblib/numpy_pickle.py NumpyArrayWrapper.write_array
 * and read_array; joblib/numpy_pickle_compat.py):
 *   - a dtype pickles as numpy.dtype(descr, False, True) + BUILD (version,
 *     byteorder, subarray, names, fields, elsize, alignment, flags[,
 *     metadata]); the byteorder is always explicit ('<', '>' or '|');
 *     elsize is the item size for flexible types (V, S, U), else -1;
 *   - _reconstruct's state is (1, shape, dtype, is_fortran, rawdata) (or
 *     the same without the version); rawdata is in Fortran order when
 *     is_fortran; a list for object arrays;
 *   - _frombuffer(buf, dtype, shape, order): buf holds the array's memory
 *     in `order` ('C' or 'F');
 *   - joblib writes, right after the wrapper's BUILD, one padding-length
 *     byte p and p bytes 0xFF when numpy_array_alignment_bytes is set (so
 *     the data starts at a multiple of 16 of the uncompressed stream), then
 *     the array in `order`; object arrays instead as a nested pickle. */
#include "readers/numpy_obj.h"
#include "readers/npy_header.h"
#include "core/decomp.h"
#include "core/log.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <pthread.h>

void mfs_np_ctx_destroy(struct mfs_np_ctx *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->nowned; i++) mfs_src_unref(c->owned[i]);
    free(c->owned);
    free(c->jb);
    free(c->cache);
    free(c->dir);
    memset(c, 0, sizeof *c);
}

static int own_src(struct mfs_np_ctx *c, mfs_src *s, mfs_err *e)
{
    if (c->nowned == c->capowned) {
        size_t n = c->capowned ? c->capowned * 2 : 8;
        mfs_src **p = realloc(c->owned, n * sizeof *p);
        if (!p) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        c->owned = p;
        c->capowned = n;
    }
    c->owned[c->nowned++] = s;
    return MFS_OK;
}

/* ---- classes ---- */

static int global_in(const mfs_pk *g, const char *const *modules, const char *name)
{
    for (; *modules; modules++)
        if (mfs_pk_global_is(g, *modules, name)) return 1;
    return 0;
}

static const char *const MULTIARRAY[] = {"numpy.core.multiarray", "numpy._core.multiarray", NULL};
static const char *const NUMERIC[] = {"numpy.core.numeric", "numpy._core.numeric", NULL};

const mfs_pk *mfs_np_class_of(const mfs_pk *o)
{
    const mfs_pk *g = mfs_pk_call_of(o);
    if (g && (mfs_pk_global_is(g, "copyreg", "_reconstructor") ||
              mfs_pk_global_is(g, "copyreg", "__newobj__"))) {
        const mfs_pk *a = mfs_pk_arg(o, 0);
        return a && a->kind == MFS_PK_GLOBAL ? a : NULL;
    }
    return g;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0 && (a == b || s[a - b - 1] == '.');
}

int mfs_np_is_joblib_global(const mfs_pk *g, const char **name_out)
{
    if (!g || g->kind != MFS_PK_GLOBAL || !g->u.g.module || !g->u.g.name) return 0;
    const char *m = g->u.g.module, *n = g->u.g.name;
    if (!has_suffix(m, "joblib.numpy_pickle") && !has_suffix(m, "joblib.numpy_pickle_compat")) return 0;
    if (strcmp(n, "NumpyArrayWrapper") && strcmp(n, "NDArrayWrapper") && strcmp(n, "ZNDArrayWrapper"))
        return 0;
    if (name_out) *name_out = n;
    return 1;
}

/* ---- dtypes ---- */

/* Bytes of a str/bytes node that is in memory, or NULL. */
static const char *small_bytes(const mfs_pk *o, size_t *len)
{
    if (!o || (o->kind != MFS_PK_STR && o->kind != MFS_PK_BYTES) || !o->u.s.data) return NULL;
    *len = (size_t)o->u.s.len;
    return o->u.s.data;
}

int mfs_np_dtype_parse(const mfs_pk *o, struct mfs_np_dtype *d)
{
    memset(d, 0, sizeof *d);
    const mfs_pk *g = mfs_pk_call_of(o);
    if (!g || (!mfs_pk_global_is(g, "numpy", "dtype") && !global_in(g, MULTIARRAY, "dtype")))
        return 0;
    size_t n;
    const char *s = small_bytes(mfs_pk_arg(o, 0), &n);
    if (!s || n == 0 || n > 20) return 0;
    char order = '=';
    if (strchr("<>|=", s[0])) {
        order = s[0];
        s++;
        n--;
    }
    if (n == 0) return 0;
    d->kind = s[0];
    uint32_t num = 0;
    /* digits after the kind ("f8", "U10"); "M8[ns]" stops at '[' */
    for (size_t i = 1; i < n && s[i] >= '0' && s[i] <= '9' && num < 100000000; i++)
        num = num * 10 + (uint32_t)(s[i] - '0');
    d->itemsize = d->kind == 'U' ? num * 4 : num;
    if (d->kind == 'O') d->itemsize = 8;
    int structured = 0;
    const mfs_pk *st = mfs_pk_state(o);
    if (st && st->kind == MFS_PK_TUPLE && st->u.seq.n >= 2) {
        size_t bl;
        const char *bo = small_bytes(st->u.seq.v[1], &bl);
        if (bo && bl == 1 && strchr("<>|=", bo[0])) order = bo[0];
        if (st->u.seq.n >= 4 && st->u.seq.v[3]->kind != MFS_PK_NONE) structured = 1; /* names */
        if (st->u.seq.n >= 3 && st->u.seq.v[2]->kind != MFS_PK_NONE) structured = 1; /* subarray */
        int64_t el;
        if (st->u.seq.n >= 6 && mfs_pk_int(st->u.seq.v[5], &el) && el > 0 && el < (1 << 30))
            d->itemsize = (uint32_t)el;
    }
    if (order == '=') order = d->itemsize <= 1 ? '|' : '<';
    d->order = order;
    if (d->kind == 'O') snprintf(d->descr, sizeof d->descr, "|O");
    else snprintf(d->descr, sizeof d->descr, "%c%c%u", order, d->kind, (unsigned)num);
    d->dtype = MFS_DT_INVALID;
    if (!structured && strchr("biufc", d->kind)) {
        char nd[16];
        snprintf(nd, sizeof nd, "%c%c%u", order == '>' ? '>' : order == '|' ? '|' : '<', d->kind,
                 (unsigned)d->itemsize);
        d->dtype = mfs_dtype_by_npy_descr(nd, &d->swap);
        if (d->dtype == MFS_DT_INVALID && order == '|') { /* "|f4" is not a descr */
            nd[0] = '<';
            d->dtype = mfs_dtype_by_npy_descr(nd, &d->swap);
        }
    }
    if (structured) d->kind = 'V';
    return 1;
}

json_t *mfs_np_scalar_json(const mfs_pk *o)
{
    if (!o || o->kind != MFS_PK_CALL) return NULL;
    if (!global_in(mfs_pk_call_of(o), MULTIARRAY, "scalar")) return NULL;
    struct mfs_np_dtype d;
    if (!mfs_np_dtype_parse(mfs_pk_arg(o, 0), &d) || d.dtype == MFS_DT_INVALID) return NULL;
    const mfs_pk *raw = mfs_pk_arg(o, 1);
    unsigned char buf[16];
    size_t n = 0;
    const char *p = small_bytes(raw, &n);
    if (!p && mfs_pk_call_is(raw, "_codecs", "encode")) {
        /* protocol 2: the bytes as a latin1 str */
        size_t sl;
        const char *s = small_bytes(mfs_pk_arg(raw, 0), &sl);
        if (!s) return NULL;
        n = 0;
        for (size_t i = 0; i < sl && n < sizeof buf; i++) {
            unsigned char ch = (unsigned char)s[i];
            if (ch < 0x80) buf[n++] = ch;
            else if ((ch == 0xC2 || ch == 0xC3) && i + 1 < sl) buf[n++] = (unsigned char)(((ch & 3) << 6) | (s[++i] & 0x3F));
            else return NULL;
        }
        p = (const char *)buf;
    }
    if (!p || n != d.itemsize || n > sizeof buf) return NULL;
    unsigned char v[16];
    for (size_t i = 0; i < n; i++) v[i] = (unsigned char)p[d.swap ? n - 1 - i : i];
    const struct mfs_dtype_info *inf = mfs_dtype_get(d.dtype);
    switch (inf->kind) {
    case MFS_DK_BOOL: return json_boolean(v[0] != 0);
    case MFS_DK_INT: {
        int64_t x = 0;
        if (n == 1) x = (int8_t)v[0];
        else if (n == 2) x = (int16_t)(v[0] | v[1] << 8);
        else if (n == 4) x = (int32_t)((uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24);
        else for (int i = 7; i >= 0; i--) x = (int64_t)((uint64_t)x << 8 | v[i]);
        return json_integer(x);
    }
    case MFS_DK_UINT: {
        uint64_t x = 0;
        for (size_t i = n; i-- > 0;) x = x << 8 | v[i];
        return x > (uint64_t)INT64_MAX ? json_real((double)x) : json_integer((json_int_t)x);
    }
    case MFS_DK_FLOAT: {
        double x = mfs_dtype_to_double(d.dtype, v, NULL);
        return x == x && x - x == 0 ? json_real(x) : json_string(x != x ? "nan" : x > 0 ? "inf" : "-inf");
    }
    default: return NULL;
    }
}

/* ---- array forms ---- */

enum form { F_NONE, F_RECON, F_FROMBUF, F_JOBLIB, F_NDW, F_ZNDW };

static enum form form_of(const mfs_pk *o)
{
    if (!o || o->kind != MFS_PK_CALL) return F_NONE;
    const mfs_pk *g = mfs_pk_call_of(o);
    if (global_in(g, MULTIARRAY, "_reconstruct")) return F_RECON;
    if (global_in(g, NUMERIC, "_frombuffer")) return F_FROMBUF;
    const char *name;
    if (mfs_np_is_joblib_global(mfs_np_class_of(o), &name)) {
        if (!strcmp(name, "NumpyArrayWrapper")) return F_JOBLIB;
        if (!strcmp(name, "NDArrayWrapper")) return F_NDW;
        return F_ZNDW;
    }
    return F_NONE;
}

int mfs_np_is_array(const mfs_pk *o) { return form_of(o) != F_NONE; }

/* Shape from a tuple/list of ints into @a. MFS_OK or MFS_FAILED. */
static int get_shape(const mfs_pk *s, struct mfs_np_array *a, mfs_err *e)
{
    int64_t v;
    if (s && mfs_pk_int(s, &v) && v >= 0) { /* a bare int: 1-D */
        a->ndim = 1;
        a->shape[0] = (uint64_t)v;
        return MFS_OK;
    }
    if (!s || (s->kind != MFS_PK_TUPLE && s->kind != MFS_PK_LIST))
        return mfs_err_set(e, MFS_FAILED, EINVAL, s ? (int64_t)s->offset : -1, "array shape is not a tuple");
    if (s->u.seq.n > MFS_MAX_DIMS)
        return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)s->offset, "array has %zu dimensions (max %d)",
                           s->u.seq.n, MFS_MAX_DIMS);
    a->ndim = (int)s->u.seq.n;
    for (size_t i = 0; i < s->u.seq.n; i++) {
        if (!mfs_pk_int(s->u.seq.v[i], &v) || v < 0)
            return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)s->offset, "array shape holds a non-integer or negative size");
        a->shape[i] = (uint64_t)v;
    }
    return MFS_OK;
}

/* nelems * itemsize with overflow checks; UINT64_MAX on overflow. */
static uint64_t array_nbytes(const struct mfs_np_array *a)
{
    uint64_t n = 1;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] && n > UINT64_MAX / a->shape[i]) return UINT64_MAX;
        n *= a->shape[i];
    }
    if (a->dt.itemsize && n > UINT64_MAX / a->dt.itemsize) return UINT64_MAX;
    return n * a->dt.itemsize;
}

/* ---- the latin1 source (protocol 2 rawdata: _codecs.encode(str, 'latin1')) ---- */

struct l1 {
    pthread_mutex_t mu;
    mfs_src *src;        /* the pickle stream (referenced) */
    uint64_t off, len;   /* the UTF-8 text */
    unsigned char *buf;  /* decoded, once (size = the array's nbytes) */
};

/* Decodes UTF-8 text of code points < 256 into @out (capacity @cap).
 * @return the bytes written, or -1 when the text is not such UTF-8 or
 * does not fit. */
static int64_t latin1_decode(const unsigned char *s, uint64_t n, unsigned char *out, uint64_t cap)
{
    uint64_t k = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (k == cap) return -1;
        if (s[i] < 0x80) out[k++] = s[i];
        else if ((s[i] == 0xC2 || s[i] == 0xC3) && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
            out[k++] = (unsigned char)(((s[i] & 3) << 6) | (s[i + 1] & 0x3F));
            i++;
        } else return -1;
    }
    return (int64_t)k;
}

static int64_t l1_pread(mfs_src *s, void *buf, size_t len, uint64_t off, mfs_err *e)
{
    struct l1 *c = s->ctx;
    pthread_mutex_lock(&c->mu);
    if (!c->buf) {
        unsigned char *txt = mfs_src_slurp(c->src, c->off, c->len, UINT64_C(1) << 36, e);
        unsigned char *out = txt ? malloc(s->size ? s->size : 1) : NULL;
        int64_t k = out ? latin1_decode(txt, c->len, out, s->size) : -1;
        free(txt);
        if (k != (int64_t)s->size) {
            free(out);
            pthread_mutex_unlock(&c->mu);
            if (txt) mfs_err_set(e, MFS_FAILED, EIO, (int64_t)c->off,
                                 "array bytes (protocol 2 latin1 text) do not decode to %llu bytes",
                                 (unsigned long long)s->size);
            return -1;
        }
        c->buf = out;
    }
    pthread_mutex_unlock(&c->mu);
    if (off >= s->size) return 0;
    if (len > s->size - off) len = (size_t)(s->size - off);
    memcpy(buf, c->buf + off, len);
    return (int64_t)len;
}

static void l1_close(mfs_src *s)
{
    struct l1 *c = s->ctx;
    mfs_src_unref(c->src);
    free(c->buf);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static const struct mfs_src_ops l1_ops = {l1_pread, l1_close};

/* The source and offset holding the raw bytes of payload @raw (bytes,
 * bytearray, py2 str, or _codecs.encode(str, 'latin1')), which must hold
 * @nbytes. *src gets a new reference. MFS_OK or MFS_FAILED. */
static int payload_src(struct mfs_np_ctx *c, const mfs_pk *raw, uint64_t nbytes, mfs_src **src,
                       uint64_t *off, mfs_err *e)
{
    *src = NULL;
    *off = 0;
    if (raw && (raw->kind == MFS_PK_BYTES || raw->kind == MFS_PK_BYTEARRAY ||
                (raw->kind == MFS_PK_STR && (raw->flags & MFS_PK_F_PY2STR)))) {
        if (raw->u.s.len != nbytes)
            return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)raw->offset,
                               "array data holds %llu bytes, its shape and dtype need %llu",
                               (unsigned long long)raw->u.s.len, (unsigned long long)nbytes);
        if (raw->u.s.data) { /* in the heap (small, or decoded from text) */
            *src = mfs_src_new_mem(raw->u.s.data, (size_t)nbytes, 0, c->src->path);
            if (!*src) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
            return MFS_OK;
        }
        *src = mfs_src_ref(c->src);
        *off = raw->u.s.off;
        return MFS_OK;
    }
    if (mfs_pk_call_is(raw, "builtins", "bytes") && mfs_pk_nargs(raw) == 0) {
        /* protocol 2: b'' is pickled as bytes() */
        if (nbytes != 0)
            return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)raw->offset,
                               "array data is empty, its shape and dtype need %llu bytes",
                               (unsigned long long)nbytes);
        *src = mfs_src_new_mem("", 0, 0, c->src->path);
        return *src ? MFS_OK : mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    }
    if (mfs_pk_call_is(raw, "_codecs", "encode")) {
        const mfs_pk *s = mfs_pk_arg(raw, 0);
        if (!s || s->kind != MFS_PK_STR)
            return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)raw->offset, "array data: _codecs.encode of a non-str");
        if (s->u.s.len < nbytes || s->u.s.len > 2 * nbytes)
            return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)s->offset,
                               "array data (latin1 text of %llu bytes) cannot hold %llu bytes",
                               (unsigned long long)s->u.s.len, (unsigned long long)nbytes);
        struct l1 *l = calloc(1, sizeof *l);
        if (!l) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        pthread_mutex_init(&l->mu, NULL);
        if (s->u.s.data) {
            l->buf = malloc(nbytes ? nbytes : 1);
            if (!l->buf || latin1_decode((const unsigned char *)s->u.s.data, s->u.s.len, l->buf, nbytes) !=
                               (int64_t)nbytes) {
                free(l->buf);
                pthread_mutex_destroy(&l->mu);
                free(l);
                return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)s->offset,
                                   "array data (latin1 text) does not decode to %llu bytes",
                                   (unsigned long long)nbytes);
            }
        } else {
            l->off = s->u.s.off;
            l->len = s->u.s.len;
        }
        l->src = mfs_src_ref(c->src);
        *src = mfs_src_new_custom(&l1_ops, l, nbytes, c->src->path);
        if (!*src) {
            l1_close(&(mfs_src){.ctx = l});
            return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        }
        return MFS_OK;
    }
    return mfs_err_set(e, MFS_FAILED, EINVAL, raw ? (int64_t)raw->offset : -1, "array data is a %s, not bytes",
                       raw ? mfs_pk_kind_name(raw->kind) : "missing value");
}

/* ---- tensors ---- */

/* Makes the tensor for @a over @src at @off: C or Fortran order, swapped
 * when big-endian (complex halves each on their own), through the .npy
 * helper, which knows all of these locators. */
static int make_tensor(mfs_tree *t, const struct mfs_np_array *a, mfs_src *src, uint64_t off,
                       mfs_tensor **out, mfs_err *e)
{
    mfs_tensor *tn = mfs_tree_tensor_new(t);
    if (!tn) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    struct mfs_npy_header h;
    memset(&h, 0, sizeof h);
    h.dtype = a->dt.dtype;
    h.swap = a->dt.swap;
    h.fortran = a->fortran;
    h.ndim = a->ndim;
    memcpy(h.shape, a->shape, sizeof h.shape);
    snprintf(h.descr, sizeof h.descr, "%s", a->dt.descr);
    if (mfs_npy_tensor_init(t, tn, &h, src, off, e) < 0) return e->status = MFS_FAILED;
    enum mfs_decomp_kind dk = mfs_decomp_kind_of(src);
    if (dk != MFS_DECOMP_NONE) tn->compression = mfs_decomp_name(dk);
    tn->info = json_pack("{s:s, s:s, s:s}", "pickle_form", a->how, "descr", a->dt.descr, "order",
                         a->fortran ? "F" : "C");
    *out = tn;
    return MFS_OK;
}

/* The data offset joblib's hook recorded for wrapper @id, or UINT64_MAX. */
static uint64_t jb_offset(const struct mfs_np_ctx *c, uint32_t id)
{
    size_t lo = 0, hi = c->njb;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->jb[mid].id == id) return c->jb[mid].off;
        if (c->jb[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return UINT64_MAX;
}

/* Opens sibling file @name of the pickle (old joblib). Only the last path
 * component is used: a pickle never makes us open files elsewhere. */
static mfs_src *open_sibling(struct mfs_np_ctx *c, const mfs_pk *name, mfs_err *e)
{
    size_t n;
    const char *s = small_bytes(name, &n);
    if (!s || n == 0 || n > 4000 || memchr(s, 0, n)) {
        mfs_err_set(e, MFS_FAILED, EINVAL, name ? (int64_t)name->offset : -1, "array wrapper without a file name");
        return NULL;
    }
    const char *b = s;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || s[i] == '\\') b = s + i + 1;
    if (!*b || !strcmp(b, ".") || !strcmp(b, "..")) {
        mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)name->offset, "array wrapper file name '%s' is not a file", s);
        return NULL;
    }
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", c->dir ? c->dir : ".", b);
    mfs_src *f = mfs_src_new_file(path, e);
    if (!f) {
        mfs_err_prefix(e, "old joblib array file %s", b);
        e->status = MFS_FAILED;
        return NULL;
    }
    if (own_src(c, f, e) != MFS_OK) {
        mfs_src_unref(f);
        return NULL;
    }
    return f;
}

/* The dtype of @o as an array's dtype, or MFS_FAILED. */
static int get_dtype(const mfs_pk *o, struct mfs_np_array *a, mfs_err *e)
{
    if (!mfs_np_dtype_parse(o, &a->dt))
        return mfs_err_set(e, MFS_FAILED, EINVAL, o ? (int64_t)o->offset : -1, "array dtype is not a numpy dtype");
    a->object = a->dt.kind == 'O';
    return MFS_OK;
}

/* Fills the shape, dtype and order of @a from v[0..2], the (shape, dtype,
 * is_fortran) run of numpy's ndarray state, which ZNDArrayWrapper's state
 * repeats. MFS_OK, or MFS_FAILED with @e set. */
static int get_state_sdf(mfs_pk *const *v, struct mfs_np_array *a, mfs_err *e)
{
    MFS_FORWARD(get_shape(v[0], a, e));
    MFS_FORWARD(get_dtype(v[1], a, e));
    int64_t fo = 0;
    mfs_pk_int(v[2], &fo);
    a->fortran = fo != 0;
    return MFS_OK;
}

/* Fills @a from the pickle objects (no I/O). */
static int describe(const mfs_pk *o, enum form f, struct mfs_np_array *a, const mfs_pk **raw, mfs_err *e)
{
    *raw = NULL;
    const mfs_pk *st = mfs_pk_state(o);
    switch (f) {
    case F_RECON: {
        a->how = "reconstruct";
        if (!st || st->kind != MFS_PK_TUPLE || (st->u.seq.n != 5 && st->u.seq.n != 4))
            return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)o->offset, "_reconstruct without a (version, shape, dtype, fortran, data) state");
        mfs_pk **v = st->u.seq.v + (st->u.seq.n == 5);
        MFS_FORWARD(get_state_sdf(v, a, e));
        *raw = v[3];
        if (v[3]->kind == MFS_PK_LIST) a->object = 1;
        return MFS_OK;
    }
    case F_FROMBUF: {
        a->how = "frombuffer";
        if (mfs_pk_nargs(o) < 4)
            return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)o->offset, "_frombuffer with %zu arguments", mfs_pk_nargs(o));
        MFS_FORWARD(get_dtype(mfs_pk_arg(o, 1), a, e));
        MFS_FORWARD(get_shape(mfs_pk_arg(o, 2), a, e));
        a->fortran = mfs_pk_str_eq(mfs_pk_arg(o, 3), "F");
        *raw = mfs_pk_arg(o, 0);
        return MFS_OK;
    }
    case F_JOBLIB:
        a->how = "joblib";
        if (!st) return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)o->offset, "NumpyArrayWrapper without state");
        MFS_FORWARD(get_shape(mfs_pk_dict_get(st, "shape"), a, e));
        MFS_FORWARD(get_dtype(mfs_pk_dict_get(st, "dtype"), a, e));
        a->fortran = mfs_pk_str_eq(mfs_pk_dict_get(st, "order"), "F");
        return MFS_OK;
    case F_ZNDW: {
        a->how = "zfile";
        const mfs_pk *s = st ? mfs_pk_dict_get(st, "state") : NULL;
        if (!s || s->kind != MFS_PK_TUPLE || s->u.seq.n < 3 || s->u.seq.n > 4)
            return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)o->offset, "ZNDArrayWrapper without a (version, shape, dtype, fortran) state");
        return get_state_sdf(s->u.seq.v + (s->u.seq.n == 4), a, e);
    }
    default:
        return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)o->offset, "not an array");
    }
}

static int cache_put(struct mfs_np_ctx *c, uint32_t id, mfs_tensor *tn)
{
    if (id >= c->ncache) {
        uint32_t n = c->ncache ? c->ncache : 256;
        while (n <= id) n *= 2;
        mfs_tensor **p = realloc(c->cache, (size_t)n * sizeof *p);
        if (!p) return MFS_FAILED;
        memset(p + c->ncache, 0, (size_t)(n - c->ncache) * sizeof *p);
        c->cache = p;
        c->ncache = n;
    }
    c->cache[id] = tn;
    return MFS_OK;
}

int mfs_np_tensor(struct mfs_np_ctx *c, mfs_tree *t, const mfs_pk *o, struct mfs_np_array *a,
                  mfs_tensor **out, mfs_err *e)
{
    struct mfs_np_array tmp;
    if (!a) a = &tmp;
    memset(a, 0, sizeof *a);
    *out = NULL;
    enum form f = form_of(o);
    if (f == F_NONE) {
        snprintf(a->why, sizeof a->why, "not an array");
        return 0;
    }
    if (o->id < c->ncache && c->cache[o->id]) {
        *out = c->cache[o->id];
        a->dt.dtype = (*out)->dtype;
        return 1;
    }
    mfs_src *src = NULL;
    uint64_t off = 0;
    int r = -1;

    if (f == F_NDW) { /* the .npy file says everything */
        a->how = "npy-file";
        const mfs_pk *st = mfs_pk_state(o);
        mfs_src *fs = open_sibling(c, st ? mfs_pk_dict_get(st, "filename") : NULL, e);
        if (!fs) return -1;
        struct mfs_npy_header h;
        if (mfs_npy_read_header(fs, 0, fs->size, &h, e) < 0) {
            mfs_err_prefix(e, "old joblib array file");
            e->status = MFS_FAILED;
            return -1;
        }
        mfs_tensor *tn = mfs_tree_tensor_new(t);
        if (!tn) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory"), -1;
        if (mfs_npy_tensor_init(t, tn, &h, fs, 0, e) < 0) return e->status = MFS_FAILED, -1;
        tn->info = mfs_npy_info_json(&h);
        a->dt.dtype = h.dtype;
        *out = tn;
        cache_put(c, o->id, tn);
        return 1;
    }

    const mfs_pk *raw;
    if (describe(o, f, a, &raw, e) != MFS_OK) return -1;
    if (a->object) {
        snprintf(a->why, sizeof a->why, "object array (Python objects, shown in raw/)");
        return 0;
    }
    if (a->dt.dtype == MFS_DT_INVALID) {
        snprintf(a->why, sizeof a->why, "dtype %s has no tensor form (shown in raw/)", a->dt.descr);
        return 0;
    }
    uint64_t nbytes = array_nbytes(a);
    if (nbytes == UINT64_MAX)
        return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)o->offset, "array size overflows"), -1;

    switch (f) {
    case F_RECON: case F_FROMBUF:
        if (payload_src(c, raw, nbytes, &src, &off, e) != MFS_OK) return -1;
        break;
    case F_JOBLIB:
        off = jb_offset(c, o->id);
        if (off == UINT64_MAX)
            return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)o->offset, "NumpyArrayWrapper whose data was not located"), -1;
        src = mfs_src_ref(c->src);
        break;
    case F_ZNDW: {
        const mfs_pk *st = mfs_pk_state(o);
        mfs_src *fs = open_sibling(c, mfs_pk_dict_get(st, "filename"), e);
        if (!fs) return -1;
        src = mfs_decomp_open(fs, 0, fs->size, MFS_DECOMP_ZF, 0, e);
        if (!src) {
            mfs_err_prefix(e, "old joblib array file");
            e->status = MFS_FAILED;
            return -1;
        }
        break;
    }
    default:
        break;
    }
    r = make_tensor(t, a, src, off, out, e) == MFS_OK ? 1 : -1;
    mfs_src_unref(src);
    if (r == 1) cache_put(c, o->id, *out);
    return r;
}

/* ---- the joblib hook ---- */

int mfs_np_joblib_after_build(void *ctx, mfs_pk_vm *vm, mfs_pk **obj, uint64_t *skip, mfs_err *e)
{
    struct mfs_np_ctx *c = ctx;
    mfs_pk *o = *obj;
    const char *name;
    if (!o || o->kind != MFS_PK_CALL || !mfs_np_is_joblib_global(mfs_np_class_of(o), &name)) return MFS_OK;
    c->saw_joblib = 1;
    if (strcmp(name, "NumpyArrayWrapper") != 0) return MFS_OK; /* old wrappers: sibling files */
    if (jb_offset(c, o->id) != UINT64_MAX) return MFS_OK;      /* a second BUILD */
    uint64_t at = mfs_pk_vm_offset(vm);
    mfs_src *src = mfs_pk_vm_src(vm);
    struct mfs_np_array a;
    const mfs_pk *raw;
    memset(&a, 0, sizeof a);
    if (describe(o, F_JOBLIB, &a, &raw, e) != MFS_OK) {
        /* the array bytes cannot be skipped without knowing their size */
        mfs_err_prefix(e, "NumpyArrayWrapper");
        return e->status = MFS_FATAL;
    }
    if (a.object) { /* a nested pickle (protocol 2) of the array */
        mfs_pk *inner = NULL;
        uint64_t end = 0;
        if (mfs_pk_load(mfs_pk_vm_heap(vm), src, at, 0, NULL, &inner, &end, e) != MFS_OK) {
            mfs_err_prefix(e, "NumpyArrayWrapper: object array pickle at byte %llu", (unsigned long long)at);
            return MFS_FATAL;
        }
        *obj = inner;
        *skip = end - at;
        return MFS_OK;
    }
    uint64_t nbytes = array_nbytes(&a), pad = 0;
    if (nbytes == UINT64_MAX)
        return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)at, "NumpyArrayWrapper: array size overflows");
    const mfs_pk *al = mfs_pk_dict_get(mfs_pk_state(o), "numpy_array_alignment_bytes");
    int64_t alv;
    if (al && mfs_pk_int(al, &alv)) {
        unsigned char p;
        if (mfs_src_read_exact(src, &p, 1, at, e) != MFS_OK)
            return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)at,
                               "NumpyArrayWrapper: truncated before the array's padding byte");
        pad = 1 + (uint64_t)p;
    }
    if (at + pad > src->size || nbytes > src->size - at - pad)
        return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)at,
                           "NumpyArrayWrapper: array data (%llu bytes at %llu, %s %s) runs past the end of the stream (%llu bytes)",
                           (unsigned long long)nbytes, (unsigned long long)(at + pad), a.dt.descr,
                           a.fortran ? "F" : "C", (unsigned long long)src->size);
    if (c->njb == c->capjb) {
        size_t n = c->capjb ? c->capjb * 2 : 16;
        struct mfs_np_jbarr *p = realloc(c->jb, n * sizeof *p);
        if (!p) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        c->jb = p;
        c->capjb = n;
    }
    /* ids grow in stream order, so jb stays sorted */
    if (c->njb && c->jb[c->njb - 1].id > o->id)
        return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)at, "NumpyArrayWrapper: wrapper out of order");
    c->jb[c->njb].id = o->id;
    c->jb[c->njb].off = at + pad;
    c->njb++;
    *skip = pad + nbytes;
    return MFS_OK;
}
