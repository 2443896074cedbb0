/* keras_npz.c: model.weights.npz of a .keras archive (Keras 3 NpzIOStore),
 * decoded in place; see keras_npz.h for the layout.
 *
 * Open lists the npz (a zip inside the zip: core/zip.c over the member's
 * byte source), checks each member's .npy prelude and header (a 0-d
 * object array, '|O'), and loads the pickle after it with the
 * no-execution VM (pickle/vm.h). Large str/bytes payloads are never read:
 * they keep their offset, so each array becomes a locator on its bytes
 * (numpy_obj.c). When the .keras member and the npz member are both
 * stored, the pickles are loaded straight from the archive file, so those
 * locators are PLAIN on the .keras itself (info.json: the archive and the
 * absolute offset, as for the h5); otherwise they go through the zip
 * layer's window/inflater sources.
 *
 * A dict value is an ndarray when the saveable converted its variables
 * (the optimizer does: variable.numpy()); a layer's save_own_variables
 * stores the Keras Variable itself, which pickles as an object wrapping
 * its value: then the one ndarray found inside the value's pickled state
 * (depth <= 8) is taken, and info.json says which class wrapped it. */
#include "readers/keras_npz.h"
#include "readers/h5_lib.h"
#include "readers/npy_header.h"
#include "readers/numpy_obj.h"
#include "core/zip.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OOM(e) mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory")

struct npz_mem {
    char *name;          /* member name ("layers/dense.npy") */
    char *key;           /* without ".npy": the saveable's path, "__root__" */
    mfs_src *src;        /* where its bytes are read (referenced) */
    uint64_t base, size; /* its bytes: [base, base + size) of src */
    mfs_pk *root;        /* the unpickled object (heap) */
};

struct keras_npz {
    char *label;
    struct mfs_zip *zip;
    struct npz_mem *m;
    size_t n;
    mfs_pk_heap *heap;
    struct mfs_np_ctx np;
    char **paths;        /* variable paths (k3_var.path points here) */
    size_t npaths;
    struct h5_warns warns;
    int warned;
};

static void npz_warn(struct keras_npz *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void npz_warn(struct keras_npz *k, const char *fmt, ...)
{
    char buf[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    h5_warns_add(&k->warns, "%s: %s", k->label, buf);
    k->warned = 1;
}

void keras_npz_free(struct keras_npz *k)
{
    if (!k) return;
    for (size_t i = 0; i < k->n; i++) {
        free(k->m[i].name);
        free(k->m[i].key);
        mfs_src_unref(k->m[i].src);
    }
    free(k->m);
    for (size_t i = 0; i < k->npaths; i++) free(k->paths[i]);
    free(k->paths);
    mfs_np_ctx_destroy(&k->np);
    mfs_pk_heap_free(k->heap);
    mfs_zip_free(k->zip);
    h5_warns_free(&k->warns);
    free(k->label);
    free(k);
}

/* Checks member @m's .npy header (an object array) and loads its pickle.
 * @return MFS_OK (m->root set, or left NULL with a warning when the member
 * is not an object array), or MFS_FATAL with @e set. */
static int load_member(struct keras_npz *k, struct npz_mem *m, mfs_err *e)
{
    unsigned char pre[12];
    int64_t got = mfs_src_read(m->src, pre, m->size < 12 ? (size_t)m->size : 12, m->base, e);
    if (got < 0) return e->status = MFS_FATAL;
    struct mfs_npy_header h;
    memset(&h, 0, sizeof h);
    MFS_FORWARD(mfs_npy_parse_prelude(pre, (size_t)got, 0, &h, e));
    MFS_CHECK(h.data_offset < m->size, e, MFS_FATAL, EINVAL, (int64_t)(h.data_offset - h.header_len),
              "header of %llu bytes leaves no room for the pickled object",
              (unsigned long long)h.header_len);
    char *text = mfs_src_slurp(m->src, m->base + h.data_offset - h.header_len, h.header_len,
                               MFS_NPY_MAX_HEADER, e);
    if (!text) return e->status = MFS_FATAL;
    int object = strstr(text, "'|O'") != NULL;
    free(text);
    if (!object) { /* a plain array: not what NpzIOStore writes */
        npz_warn(k, "member %s is not a pickled object array (skipped)", m->name);
        return MFS_OK;
    }
    return mfs_pk_load(k->heap, m->src, m->base + h.data_offset, m->base + m->size, NULL, &m->root,
                       NULL, e);
}

struct keras_npz *keras_npz_open(mfs_src *npz, mfs_src *plain, uint64_t plain_base,
                                 const char *label, mfs_err *e)
{
    struct keras_npz *k = calloc(1, sizeof *k);
    struct mfs_pk_limits lim;
    mfs_pk_limits_default(&lim);
    lim.inline_max = 256; /* array bytes stay in the file (keys are short) */
    if (k) k->label = strdup(label ? label : "model.weights.npz");
    if (k) k->heap = mfs_pk_heap_new(&lim);
    if (!k || !k->label || !k->heap) {
        keras_npz_free(k);
        OOM(e);
        return NULL;
    }
    if (!(k->zip = mfs_zip_open(npz, e))) goto fail;
    k->m = calloc(k->zip->count + 1, sizeof *k->m);
    if (!k->m) {
        OOM(e);
        goto fail;
    }
    for (size_t i = 0; i < k->zip->count; i++) {
        const struct mfs_zip_member *zm = &k->zip->m[i];
        size_t nl = strlen(zm->name);
        if (zm->is_dir) continue;
        if (nl <= 4 || strcmp(zm->name + nl - 4, ".npy") != 0) {
            npz_warn(k, "member %s is not a .npy (skipped)", zm->name);
            continue;
        }
        if (zm->method != 0 && zm->method != 8) {
            mfs_err_set(e, MFS_FATAL, ENOTSUP, (int64_t)zm->data_offset,
                        "member %s: zip compression method %u is not supported (stored and deflate are)",
                        zm->name, zm->method);
            goto fail;
        }
        struct npz_mem *m = &k->m[k->n++];
        m->name = strdup(zm->name);
        m->key = strndup(zm->name, nl - 4);
        if (!m->name || !m->key) {
            OOM(e);
            goto fail;
        }
        m->size = zm->size;
        if (plain && zm->method == 0) { /* stored in stored: read the archive itself */
            m->src = mfs_src_ref(plain);
            m->base = plain_base + zm->data_offset;
        } else if (!(m->src = mfs_zip_member_src(k->zip, i, e))) {
            mfs_err_prefix(e, "member %s", zm->name);
            goto fail;
        }
        if (load_member(k, m, e) < 0) {
            mfs_err_prefix(e, "member %s", zm->name);
            goto fail;
        }
    }
    return k;
fail:
    e->status = MFS_FATAL;
    mfs_err_prefix(e, "%s", k->label);
    keras_npz_free(k);
    return NULL;
}

/* The dict a member's object array holds: _reconstruct state (version,
 * shape, dtype, fortran, [dict]) of a 0-d array. NULL when it is not. */
static const mfs_pk *member_dict(const mfs_pk *root)
{
    if (!root || !mfs_np_is_array(root)) return NULL;
    const mfs_pk *st = mfs_pk_state(root);
    if (!st || st->kind != MFS_PK_TUPLE || (st->u.seq.n != 5 && st->u.seq.n != 4)) return NULL;
    const mfs_pk *raw = st->u.seq.v[st->u.seq.n - 1];
    size_t n = 0;
    mfs_pk **items = mfs_pk_items(raw, &n);
    if (!raw || raw->kind != MFS_PK_LIST || n != 1) return NULL;
    const mfs_pk *d = mfs_pk_as_dict(items[0]);
    return d && d->kind == MFS_PK_DICT ? d : NULL;
}

/* Depth-first search for ndarrays inside @o (a pickled wrapper object):
 * counts them in *count, the first in *found. Bounded by depth and by
 * *budget nodes (cycles). */
static void find_arrays(const mfs_pk *o, int depth, const mfs_pk **found, int *count, int *budget)
{
    if (!o || depth > 8 || --*budget < 0) return;
    if (mfs_np_is_array(o)) {
        if (!(*count)++) *found = o;
        return;
    }
    size_t n = 0;
    mfs_pk **v = mfs_pk_items(o, &n);
    for (size_t i = 0; i < n; i++) find_arrays(v[i], depth + 1, found, count, budget);
    if (o->kind == MFS_PK_DICT)
        for (size_t i = 0; i < o->u.dict.n; i++) find_arrays(o->u.dict.v[i], depth + 1, found, count, budget);
    if (o->kind == MFS_PK_CALL) {
        find_arrays(o->u.call.args, depth + 1, found, count, budget);
        find_arrays(o->u.call.kwargs, depth + 1, found, count, budget);
        for (size_t i = 0; o->x && i < o->x->nstates; i++)
            find_arrays(o->x->states[i], depth + 1, found, count, budget);
        if (o->x) find_arrays(o->x->dictitems, depth + 1, found, count, budget);
    }
}

/* k3_in.read_i64: a scalar integer variable, through its locator. */
static int npz_read_i64(const struct k3_in *in, const struct k3_var *v, long long *out)
{
    (void)in;
    const struct mfs_dtype_info *d = mfs_dtype_get(v->tn->dtype);
    unsigned char b[8];
    mfs_err e = {0};
    if (v->tn->nelems != 1 || d->block != 1 || d->itemsize == 0 || d->itemsize > 8 ||
        (d->kind != MFS_DK_INT && d->kind != MFS_DK_UINT && d->kind != MFS_DK_BOOL) ||
        mfs_tensor_read(v->tn, 0, b, d->itemsize, &e) != (int64_t)d->itemsize)
        return MFS_FAILED;
    unsigned long long u = 0;
    for (uint32_t i = d->itemsize; i-- > 0;) u = u << 8 | b[i];
    if (d->kind == MFS_DK_INT && d->itemsize < 8 && (u >> (8 * d->itemsize - 1)) & 1)
        u |= ~0ULL << (8 * d->itemsize); /* sign-extend */
    *out = (long long)u;
    return MFS_OK;
}

/* numpy_obj.c serves the payloads the VM copied (<= inline_max bytes)
 * from memory; put such a tensor back on its bytes in @src, where they
 * lie, so info.json's file and offset hold. Raw bytes payloads of C-order
 * (PLAIN/BYTESWAP) arrays only; anything else stays as it is. */
static void relocate_inline(mfs_tensor *tn, const mfs_pk *arr, mfs_src *src)
{
    if (tn->src == src || (tn->enc != MFS_ENC_PLAIN && tn->enc != MFS_ENC_BYTESWAP)) return;
    const mfs_pk *st = mfs_pk_state(arr);
    if (!mfs_pk_call_of(arr) || !st || st->kind != MFS_PK_TUPLE || st->u.seq.n < 4) return;
    const mfs_pk *raw = st->u.seq.v[st->u.seq.n - 1];
    if (!raw || (raw->kind != MFS_PK_BYTES && raw->kind != MFS_PK_BYTEARRAY) || raw->u.s.len != tn->nbytes)
        return;
    mfs_err e = {0};
    mfs_tensor_set_plain(tn, src, raw->u.s.off, tn->enc == MFS_ENC_BYTESWAP, &e);
}

/* The variables of member @m into @in (tensors made in @t). */
static int add_member(struct keras_npz *k, struct npz_mem *m, mfs_tree *t, struct k3_in *in,
                      size_t cap, mfs_err *e)
{
    const mfs_pk *d = member_dict(m->root);
    if (!d) {
        npz_warn(k, "member %s does not hold a pickled dict of arrays (skipped)", m->name);
        return MFS_OK;
    }
    int root = strcmp(m->key, "__root__") == 0;
    for (size_t i = 0; i < d->u.dict.n && in->n < cap; i++) {
        char kbuf[64], what[300];
        mfs_pk_key_name(d->u.dict.k[i], kbuf, sizeof kbuf);
        snprintf(what, sizeof what, "%s[\"%s\"]", m->name, kbuf);
        const mfs_pk *val = d->u.dict.v[i], *arr = val;
        char wrapper[200] = "";
        if (!mfs_np_is_array(val)) {
            int count = 0, budget = 10000;
            arr = NULL;
            find_arrays(val, 0, &arr, &count, &budget);
            if (count != 1) {
                npz_warn(k, "%s is not an array (%s): skipped", what,
                         count ? "it holds several" : "no array inside");
                continue;
            }
            mfs_pk_qualname(mfs_np_class_of(val), wrapper, sizeof wrapper);
        }
        struct mfs_np_array a;
        mfs_tensor *tn = NULL;
        mfs_err ae = {0};
        k->np.src = m->src;
        int r = mfs_np_tensor(&k->np, t, arr, &a, &tn, &ae);
        if (r <= 0) {
            if (ae.status == MFS_FATAL || ae.errnum == ENOMEM) return OOM(e);
            npz_warn(k, "%s: %s (skipped)", what, r < 0 ? ae.msg : a.why);
            continue;
        }
        relocate_inline(tn, arr, m->src);
        char *path = malloc(strlen(m->key) + strlen(kbuf) + 8);
        if (!path) return OOM(e);
        sprintf(path, root ? "vars/%s" : "%s/vars/%s", root ? kbuf : m->key, kbuf);
        k->paths[k->npaths++] = path;
        if (!tn->info) tn->info = json_object();
        json_object_set_new(tn->info, "npz_member", json_string(m->name));
        json_object_set_new(tn->info, "npz_key", json_string(kbuf));
        if (wrapper[0]) json_object_set_new(tn->info, "pickled_in", json_string(wrapper));
        in->v[in->n++] = (struct k3_var){path, tn, 0};
    }
    return MFS_OK;
}

int keras_npz_build(struct keras_npz *k, json_t *config, mfs_tree *t, mfs_err *e)
{
    size_t cap = 0;
    for (size_t i = 0; i < k->n; i++) {
        const mfs_pk *d = member_dict(k->m[i].root);
        if (d) cap += d->u.dict.n;
    }
    struct k3_in in = {.config = config, .lroot = "layers", .read_i64 = npz_read_i64};
    in.v = calloc(cap + 1, sizeof *in.v);
    in.g = calloc(k->n + 1, sizeof *in.g);
    k->paths = calloc(cap + 1, sizeof *k->paths);
    int rc = MFS_OK;
    if (!in.v || !in.g || !k->paths) rc = OOM(e);
    for (size_t i = 0; i < k->n && rc == MFS_OK; i++) {
        struct npz_mem *m = &k->m[i];
        if (m->root) rc = add_member(k, m, t, &in, cap, e);
        /* every saveable under layers/ is a layer group, even without variables */
        if (strncmp(m->key, "layers/", 7) != 0 || !m->key[7]) continue;
        size_t cl = strcspn(m->key + 7, "/"), j;
        for (j = 0; j < in.ng; j++)
            if (strlen(in.g[j].stored) == cl && !strncmp(in.g[j].stored, m->key + 7, cl)) break;
        if (j == in.ng) {
            char *g = strndup(m->key + 7, cl);
            if (!g) rc = OOM(e);
            else in.g[in.ng++].stored = g;
        }
    }
    if (rc == MFS_OK) rc = k3_build(&in, t, e);
    for (size_t j = 0; j < in.ng; j++) free((char *)in.g[j].stored);
    free(in.g);
    free(in.v);
    if (rc < 0) return rc;
    h5_warns_flush(&k->warns);
    return k->warned ? MFS_WARN : MFS_OK;
}
