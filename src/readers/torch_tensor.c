/* torch_tensor.c: torch rebuild calls -> mfs_tensor (FORMATS.md §6.2-6.3).
 *
 * A pickled tensor is a call such as
 *   torch._utils._rebuild_tensor_v2(persistent_load(('storage',
 *       torch.FloatStorage, '13', 'cpu', 24)), 6, (4, 2), (6, 1), False,
 *       OrderedDict())
 * i.e. a view (storage_offset, size, stride, in elements) on a storage.
 * The storage's bytes are found by the reader (resolve hook: a zip
 * member, an offset in a legacy file); here we only check the view fits
 * the storage and make a STRIDED locator (PLAIN when contiguous). No
 * tensor byte is read. Tensors are cached by object id, so a tensor
 * reached twice through the memo is one mfs_tensor. */
#include "readers/torch.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_UNKNOWN = 0, K_TENSOR = 1, K_NOT = 2, K_NODATA = 3 };

mfs_dtype mfs_torch_dtype_of_storage(const char *name)
{
    static const struct { const char *n; mfs_dtype d; } map[] = {
        {"DoubleStorage", MFS_DT_F64}, {"FloatStorage", MFS_DT_F32},
        {"HalfStorage", MFS_DT_F16}, {"LongStorage", MFS_DT_I64},
        {"IntStorage", MFS_DT_I32}, {"ShortStorage", MFS_DT_I16},
        {"CharStorage", MFS_DT_I8}, {"ByteStorage", MFS_DT_U8},
        {"BoolStorage", MFS_DT_BOOL}, {"BFloat16Storage", MFS_DT_BF16},
        {"ComplexDoubleStorage", MFS_DT_C128}, {"ComplexFloatStorage", MFS_DT_C64},
        {"QInt8Storage", MFS_DT_QINT8}, {"QInt32Storage", MFS_DT_QINT32},
        {"QUInt8Storage", MFS_DT_QUINT8}, {"QUInt4x2Storage", MFS_DT_QUINT8},
        {"QUInt2x4Storage", MFS_DT_QUINT8}, {"UntypedStorage", MFS_DT_U8},
        {"_UntypedStorage", MFS_DT_U8},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(name, map[i].n) == 0) return map[i].d;
    return MFS_DT_INVALID;
}

mfs_dtype mfs_torch_dtype_of_global(const mfs_pk *g)
{
    static const struct { const char *n; mfs_dtype d; } map[] = {
        {"float32", MFS_DT_F32}, {"float", MFS_DT_F32}, {"float64", MFS_DT_F64},
        {"double", MFS_DT_F64}, {"float16", MFS_DT_F16}, {"half", MFS_DT_F16},
        {"bfloat16", MFS_DT_BF16}, {"int8", MFS_DT_I8}, {"uint8", MFS_DT_U8},
        {"int16", MFS_DT_I16}, {"short", MFS_DT_I16}, {"int32", MFS_DT_I32},
        {"int", MFS_DT_I32}, {"int64", MFS_DT_I64}, {"long", MFS_DT_I64},
        {"bool", MFS_DT_BOOL}, {"complex64", MFS_DT_C64}, {"cfloat", MFS_DT_C64},
        {"complex128", MFS_DT_C128}, {"cdouble", MFS_DT_C128}, {"uint16", MFS_DT_U16},
        {"uint32", MFS_DT_U32}, {"uint64", MFS_DT_U64},
        {"float8_e4m3fn", MFS_DT_F8_E4M3FN}, {"float8_e5m2", MFS_DT_F8_E5M2},
        {"float8_e4m3fnuz", MFS_DT_F8_E4M3FNUZ}, {"float8_e5m2fnuz", MFS_DT_F8_E5M2FNUZ},
        {"float8_e8m0fnu", MFS_DT_F8_E8M0}, {"qint8", MFS_DT_QINT8},
        {"quint8", MFS_DT_QUINT8}, {"qint32", MFS_DT_QINT32},
    };
    if (!g || g->kind != MFS_PK_GLOBAL || strcmp(g->u.g.module, "torch") != 0)
        return MFS_DT_INVALID;
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(g->u.g.name, map[i].n) == 0) return map[i].d;
    return MFS_DT_INVALID;
}

/* A key that is a str, or an int turned into decimal text in the heap. */
static const char *key_text(mfs_pk_heap *h, const mfs_pk *k, mfs_err *e)
{
    int64_t v;
    if (k && k->kind == MFS_PK_STR && k->u.s.data) return k->u.s.data;
    if (mfs_pk_int(k, &v)) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%lld", (long long)v);
        return mfs_pk_strndup(h, buf, (size_t)n, e);
    }
    return NULL;
}

static int nonneg(const mfs_pk *o, uint64_t *v)
{
    int64_t i;
    if (!mfs_pk_int(o, &i) || i < 0) return 0;
    *v = (uint64_t)i;
    return 1;
}

int mfs_torch_parse_pid(mfs_pk_heap *h, const mfs_pk *pid, struct mfs_torch_pid *out, mfs_err *e)
{
    memset(out, 0, sizeof *out);
    size_t n;
    mfs_pk **v = mfs_pk_items(pid, &n);
    int64_t off = pid ? (int64_t)pid->offset : -1;
    if (!pid || pid->kind != MFS_PK_TUPLE || n < 5 || !mfs_pk_str_eq(v[0], "storage"))
        return mfs_err_set(e, MFS_FATAL, EINVAL, off,
                           "pickle byte %lld: persistent id is not ('storage', type, key, location, numel)",
                           (long long)off);
    out->type = v[1];
    if (v[1]->kind == MFS_PK_GLOBAL) out->dtype = mfs_torch_dtype_of_storage(v[1]->u.g.name);
    if (!out->dtype)
        return mfs_err_set(e, MFS_FATAL, EINVAL, off,
                           "pickle byte %lld: unknown storage type in persistent id", (long long)off);
    out->key = key_text(h, v[2], e);
    if (!out->key)
        return mfs_err_set(e, MFS_FATAL, EINVAL, off, "pickle byte %lld: storage key is not a string",
                           (long long)off);
    out->location = mfs_pk_str(v[3]);
    if (!nonneg(v[4], &out->numel))
        return mfs_err_set(e, MFS_FATAL, EINVAL, off,
                           "pickle byte %lld: storage size is not a non-negative int", (long long)off);
    if (n >= 6 && v[5]->kind == MFS_PK_TUPLE) { /* legacy view_metadata */
        size_t m;
        mfs_pk **vm = mfs_pk_items(v[5], &m);
        if (m != 3 || !(out->view_key = key_text(h, vm[0], e)) ||
            !nonneg(vm[1], &out->view_offset) || !nonneg(vm[2], &out->view_size))
            return mfs_err_set(e, MFS_FATAL, EINVAL, off, "pickle byte %lld: bad storage view metadata",
                               (long long)off);
        out->has_view = 1;
    }
    return MFS_OK;
}

void mfs_torch_init(struct mfs_torch *c, mfs_tree *t, mfs_pk_heap *h, mfs_torch_resolve_fn resolve,
                    void *ctx)
{
    memset(c, 0, sizeof *c);
    c->t = t;
    c->h = h;
    c->resolve = resolve;
    c->ctx = ctx;
}

void mfs_torch_destroy(struct mfs_torch *c)
{
    if (!c) return;
    free(c->by_id);
    free(c->kind_by_id);
    c->by_id = NULL;
    c->kind_by_id = NULL;
    c->cap_id = 0;
}

static int ensure_cache(struct mfs_torch *c, uint32_t id)
{
    if (id < c->cap_id) return 0;
    uint32_t nc = c->cap_id ? c->cap_id : 1024;
    while (nc <= id) nc *= 2;
    mfs_tensor **nb = realloc(c->by_id, nc * sizeof *nb);
    if (!nb) return -1;
    c->by_id = nb;
    uint8_t *nk = realloc(c->kind_by_id, nc);
    if (!nk) return -1;
    c->kind_by_id = nk;
    memset(c->by_id + c->cap_id, 0, (nc - c->cap_id) * sizeof *nb);
    memset(c->kind_by_id + c->cap_id, 0, nc - c->cap_id);
    c->cap_id = nc;
    return 0;
}

/* A tuple (or torch.Size(tuple)) of non-negative ints into @dims. */
static int int_tuple(const mfs_pk *o, uint64_t *dims, int *nd)
{
    if (mfs_pk_call_is(o, "torch", "Size")) o = mfs_pk_arg(o, 0);
    size_t n;
    mfs_pk **v = mfs_pk_items(o, &n);
    if (!o || (o->kind != MFS_PK_TUPLE && o->kind != MFS_PK_LIST) || n > MFS_MAX_DIMS) return 0;
    for (size_t i = 0; i < n; i++)
        if (!nonneg(v[i], &dims[i])) return 0;
    *nd = (int)n;
    return 1;
}

/* The PERSID (or pid object) given as a rebuild call's storage. */
static const mfs_pk *storage_pid(const mfs_pk *s)
{
    if (s && s->kind == MFS_PK_PERSID) return s->u.persid.pid;
    return s;
}

/* The tensor of rebuild call @fn(*@args) (fn a GLOBAL, args a tuple). */
static int rebuild(struct mfs_torch *c, const mfs_pk *fn, const mfs_pk *args, const mfs_pk *o,
                   mfs_tensor **out, mfs_err *e)
{
    size_t n;
    mfs_pk **a = mfs_pk_items(args, &n);
    int64_t at = (int64_t)o->offset;
    const char *name = fn->u.g.name;
    if (!args || args->kind != MFS_PK_TUPLE) return 0;
    if (strcmp(fn->u.g.module, "torch._utils") == 0 &&
        (strcmp(name, "_rebuild_parameter") == 0 || strcmp(name, "_rebuild_parameter_with_state") == 0))
        return n >= 1 ? mfs_torch_tensor(c, a[0], out, e) : 0;
    if (mfs_pk_global_is(fn, "torch.nn.parameter", "Parameter"))
        return n >= 1 ? mfs_torch_tensor(c, a[0], out, e) : 0;
    if (mfs_pk_global_is(fn, "torch._tensor", "_rebuild_from_type_v2")) {
        /* (func, type, args, state): the tensor is func(*args) */
        if (n < 3 || !a[0] || a[0]->kind != MFS_PK_GLOBAL) return 0;
        return rebuild(c, a[0], a[2], o, out, e);
    }
    if (strcmp(fn->u.g.module, "torch._utils") != 0) return 0;

    int v1 = strcmp(name, "_rebuild_tensor") == 0, v2 = strcmp(name, "_rebuild_tensor_v2") == 0;
    int v3 = strcmp(name, "_rebuild_tensor_v3") == 0, q = strcmp(name, "_rebuild_qtensor") == 0;
    int meta = strcmp(name, "_rebuild_meta_tensor_no_storage") == 0;
    mfs_tensor *t = mfs_tree_tensor_new(c->t);
    if (!t) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    uint64_t dims[MFS_MAX_DIMS];
    int64_t strides[MFS_MAX_DIMS];
    int nd = 0;
    if (meta) { /* (dtype, size, stride, requires_grad) */
        if (n < 3 || !(t->dtype = mfs_torch_dtype_of_global(a[0])) || !int_tuple(a[1], dims, &nd))
            return 0;
        MFS_FORWARD(mfs_tensor_set_shape(t, nd, dims, e));
        *out = t;
        return 2;
    }
    if (!(v1 || v2 || v3 || q) || n < 4) return 0;
    struct mfs_torch_store st = {0};
    const mfs_pk *pid = storage_pid(a[0]);
    MFS_FORWARD(c->resolve(c, pid, &st, e));
    mfs_dtype dt = st.dtype;
    if (v3) {
        if (n < 7 || !(dt = mfs_torch_dtype_of_global(a[6])))
            return mfs_err_set(e, MFS_FATAL, EINVAL, at,
                               "pickle byte %lld: _rebuild_tensor_v3 without a known dtype", (long long)at);
    }
    t->dtype = dt;
    uint64_t soff, st_dims[MFS_MAX_DIMS];
    int snd = 0;
    if (!nonneg(a[1], &soff) || !int_tuple(a[2], dims, &nd) || !int_tuple(a[3], st_dims, &snd) ||
        snd != nd)
        return mfs_err_set(e, MFS_FATAL, EINVAL, at,
                           "pickle byte %lld: tensor offset/size/stride are not int tuples of one length",
                           (long long)at);
    for (int i = 0; i < nd; i++) {
        if (st_dims[i] > INT64_MAX)
            return mfs_err_set(e, MFS_FATAL, EINVAL, at, "pickle byte %lld: stride too large",
                               (long long)at);
        strides[i] = (int64_t)st_dims[i];
    }
    MFS_FORWARD(mfs_tensor_set_shape(t, nd, dims, e));
    *out = t;
    if (!st.src) return 2; /* meta device / no record: no data */
    uint32_t isz = mfs_dtype_get(dt)->itemsize;
    uint64_t elems = st.nbytes / isz;
    /* the pid's numel is in the storage class's elements (bytes for
     * UntypedStorage): never serve more than both it and the record hold */
    uint64_t ssz = mfs_dtype_get(st.dtype)->itemsize;
    if (st.numel <= UINT64_MAX / ssz && st.numel * ssz / isz < elems) elems = st.numel * ssz / isz;
    int rc = mfs_tensor_set_strided(t, st.src, st.off, elems, soff, strides, c->swap, e);
    if (rc < 0) {
        mfs_err_prefix(e, "pickle byte %lld: tensor on storage %s", (long long)at, st.key ? st.key : "?");
        return rc;
    }
    json_t *info = json_object();
    if (info) {
        char where[300];
        snprintf(where, sizeof where, "%s%s", c->where ? c->where : "", st.key ? st.key : "");
        json_object_set_new(info, "storage", json_string(where));
        json_object_set_new(info, "storage_offset", json_integer((json_int_t)soff));
        if (st.location) json_object_set_new(info, "device", json_string(st.location));
        if (q && n >= 5) json_object_set_new(info, "quantizer", mfs_pk_to_json(a[4], 4));
        t->info = info;
    }
    return 1;
}

int mfs_torch_tensor(struct mfs_torch *c, const mfs_pk *o, mfs_tensor **out, mfs_err *e)
{
    *out = NULL;
    if (o && o->kind == MFS_PK_PERSID && c->persid_tensor) {
        if (ensure_cache(c, o->id)) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        if (c->kind_by_id[o->id] == K_NOT) return 0;
        if (c->kind_by_id[o->id] == K_TENSOR) {
            *out = c->by_id[o->id];
            return 1;
        }
        int rc = c->persid_tensor(c, o->u.persid.pid, out, e);
        if (rc >= 0) {
            c->kind_by_id[o->id] = rc == 1 ? K_TENSOR : K_NOT;
            c->by_id[o->id] = rc == 1 ? *out : NULL;
        }
        return rc;
    }
    if (!o || o->kind != MFS_PK_CALL) return 0;
    const mfs_pk *fn = mfs_pk_call_of(o);
    if (!fn) return 0;
    if (strncmp(fn->u.g.module, "torch", 5) != 0) return 0;
    if (ensure_cache(c, o->id)) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    switch (c->kind_by_id[o->id]) {
    case K_TENSOR: *out = c->by_id[o->id]; return 1;
    case K_NODATA: *out = c->by_id[o->id]; return 2;
    case K_NOT: return 0;
    default: break;
    }
    c->kind_by_id[o->id] = K_NOT; /* also guards against cycles */
    int rc = rebuild(c, fn, o->u.call.args, o, out, e);
    if (rc < 0) { /* not cached: every caller gets the error */
        c->kind_by_id[o->id] = K_UNKNOWN;
        *out = NULL;
        return rc;
    }
    if (rc == 0) *out = NULL;
    c->kind_by_id[o->id] = rc == 1 ? K_TENSOR : rc == 2 ? K_NODATA : K_NOT;
    c->by_id[o->id] = *out;
    return rc;
}

/* raw/ hook: tensors as tensor dirs, data-less ones as small dirs. */
static int raw_node(void *ctx, mfs_tree *t, uint32_t parent, const char *name, const mfs_pk *o,
                    mfs_err *e)
{
    struct mfs_torch *c = ctx;
    mfs_tensor *tn;
    int rc = mfs_torch_tensor(c, o, &tn, e);
    if (rc <= 0) return rc;
    if (rc == 1) {
        if (!mfs_tree_add_tensor_name(t, parent, name, tn))
            return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        return 1;
    }
    char shape[512];
    mfs_tensor_shape_str(tn, shape, sizeof shape);
    uint32_t d = mfs_tree_mkdir(t, parent, name);
    if (!d || !mfs_tree_add_textf(t, d, "dtype", "%s\n", mfs_dtype_get(tn->dtype)->name) ||
        !mfs_tree_add_textf(t, d, "shape", "%s\n", shape) ||
        !mfs_tree_add_text(t, d, "device", "meta (no data stored)\n", 22))
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    return 1;
}

void mfs_torch_raw_hooks(struct mfs_torch *c, struct mfs_pk_raw_hooks *hk)
{
    hk->ctx = c;
    hk->node = raw_node;
}

static json_t *json_hook(void *ctx, const mfs_pk *o)
{
    struct mfs_torch *c = ctx;
    mfs_tensor *tn;
    mfs_err e = {0};
    int rc = mfs_torch_tensor(c, o, &tn, &e);
    if (rc <= 0) return NULL;
    char shape[512], buf[600];
    mfs_tensor_shape_str(tn, shape, sizeof shape);
    snprintf(buf, sizeof buf, "tensor %s %s%s", mfs_dtype_get(tn->dtype)->name, shape,
             rc == 2 ? " (no data)" : "");
    return json_string(buf);
}

json_t *mfs_torch_json(struct mfs_torch *c, const mfs_pk *o)
{
    return mfs_pk_to_json_ex(o, 32, json_hook, c);
}
