/* tf_build.c: a tensor bundle described into the tree (see tf_build.h).
 *
 * Order of work: decode every string tensor once (they are small and
 * needed both as text and for names), decode the object graph and give it
 * name hints (layer configs, then the caller's), then place every entry
 * in key order, then write what was collected along the way (optimizer
 * config.json and step, the object graph as JSON, metadata). */
#include "readers/tf_build.h"
#include "readers/tf_dtype.h"
#include "readers/tf_text.h"
#include "core/log.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OBJGRAPH_KEY "_CHECKPOINTABLE_OBJECT_GRAPH"

/* ---- scalars as text ---- */

static void shortest(double v, int is32, char *buf, size_t n)
{
    if (isnan(v)) {
        snprintf(buf, n, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v < 0 ? "-inf" : "inf");
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        double r = strtod(buf, NULL);
        if (is32 ? (float)r == (float)v : r == v) return;
    }
}

int tf_scalar_text(const mfs_tensor *tn, char *buf, size_t n)
{
    unsigned char v[16];
    if (tn->nelems != 1 || tn->nbytes > sizeof v) return -1;
    mfs_err e = {0};
    if (mfs_tensor_read(tn, 0, v, (size_t)tn->nbytes, &e) != (int64_t)tn->nbytes) return -1;
    const struct mfs_dtype_info *di = mfs_dtype_get(tn->dtype);
    switch (di->kind) {
    case MFS_DK_BOOL:
        snprintf(buf, n, "%s", v[0] ? "true" : "false");
        return 0;
    case MFS_DK_INT:
    case MFS_DK_UINT:
    case MFS_DK_FLOAT: {
        double d = mfs_dtype_to_double(tn->dtype, v, NULL);
        if (di->kind == MFS_DK_FLOAT) {
            shortest(d, tn->dtype != MFS_DT_F64, buf, n);
        } else if (di->kind == MFS_DK_INT) {
            int64_t x = 0;
            switch (di->itemsize) {
            case 1: x = (int8_t)v[0]; break;
            case 2: { int16_t y; memcpy(&y, v, 2); x = y; break; }
            case 4: { int32_t y; memcpy(&y, v, 4); x = y; break; }
            default: memcpy(&x, v, 8);
            }
            snprintf(buf, n, "%lld", (long long)x);
        } else {
            uint64_t x = 0;
            memcpy(&x, v, di->itemsize);
            snprintf(buf, n, "%llu", (unsigned long long)x);
        }
        return 0;
    }
    default:
        return -1;
    }
}

/* ---- string tensors ---- */

struct failing {
    const char *key;
};

static int failing_read(void *ctx, uint64_t off, void *buf, size_t len, mfs_err *e)
{
    (void)off, (void)buf, (void)len;
    const struct failing *f = ctx;
    return mfs_err_set(e, MFS_FAILED, EIO, -1, "string tensor '%s': crc32c mismatch", f->key);
}
static const struct mfs_file_ops failing_ops = {failing_read};

/* Adds @len bytes at @p as file @name of @dir, or a file that fails with
 * EIO when @ok is 0. */
static uint32_t add_bytes(mfs_tree *t, uint32_t dir, const char *name, const char *p, size_t len,
                          int ok, struct failing *f)
{
    if (ok) return mfs_tree_add_text(t, dir, name, p, len);
    return mfs_tree_add_file(t, dir, name, len, &failing_ops, f);
}

int tf_add_string_dir(mfs_tree *t, uint32_t dir, int ndim, const uint64_t *shape,
                      const struct tf_strings *s, const char *key, json_t *info, mfs_err *e)
{
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (tf_escape(s->buf + s->off[i], (size_t)s->len[i], &text, &len, &cap) < 0 ||
            tf_escape((const unsigned char *)"", 0, &text, &len, &cap) < 0) {
            free(text);
            return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        }
        /* newline after each element */
        if (len + 2 > cap) {
            char *q = realloc(text, cap = len + 16);
            if (!q) {
                free(text);
                return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            }
            text = q;
        }
        text[len++] = '\n';
        text[len] = 0;
    }
    struct failing *f = mfs_tree_alloc(t, sizeof *f);
    char shp[64 * 32];
    size_t sl = 0;
    sl += (size_t)snprintf(shp, sizeof shp, "[");
    for (int d = 0; d < ndim && sl < sizeof shp - 32; d++)
        sl += (size_t)snprintf(shp + sl, sizeof shp - sl, d ? ", %llu" : "%llu",
                               (unsigned long long)shape[d]);
    snprintf(shp + sl, sizeof shp - sl, "]\n");
    int ok = f && mfs_tree_add_text(t, dir, "dtype", "string\n", 7) &&
             mfs_tree_add_text(t, dir, "shape", shp, strlen(shp));
    if (ok && f) {
        f->key = mfs_tree_strdup(t, key);
        ok = f->key && add_bytes(t, dir, "values", text ? text : "", len, s->crc_ok, f);
        if (ok && ndim == 0 && s->n == 1)
            ok = add_bytes(t, dir, "bytes", (const char *)s->buf + s->off[0], (size_t)s->len[0],
                           s->crc_ok, f) != 0;
        if (ok) ok = mfs_tree_add_json(t, dir, "info.json", info) != 0;
    }
    free(text);
    return ok ? MFS_OK : mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
}

/* ---- the builder ---- */

struct optvals {            /* scalar optimizer values, for config.json */
    char *opt;              /* optimizer display path ("" for name-based) */
    char *name;
    char value[64];
};

struct bstate {
    tf_bundle *b;
    struct tf_build *o;
    mfs_tree *t;
    struct tf_strings *strs;  /* per entry (string entries only) */
    int *str_ok;              /* decoded */
    tf_objgraph *g;
    uint32_t dir_tensors, dir_layers, dir_opt, dir_meta, dir_raw;
    struct optvals *ov;
    size_t nov, capov;
    char **opts;              /* distinct optimizers seen */
    size_t nopts;
    int warn;
};

static uint32_t dir_of(struct bstate *s, uint32_t *slot, enum mfs_topdir top, const char *name)
{
    if (!*slot)
        *slot = s->o->model ? mfs_tree_top(s->t, top) : mfs_tree_mkdir(s->t, s->o->root, name);
    return *slot;
}

static int is_var(void *ctx, const char *k, size_t n)
{
    const tf_bundle *b = ctx;
    long i = tf_bundle_find(b, k, n);
    return i >= 0 && b->ents[i].dtype != TF_DT_STRING;
}

/* Same stored shape of the entries with keys @a and @b (slot checks). */
static int same_shape(void *ctx, const char *a, const char *b)
{
    const tf_bundle *bu = ctx;
    long i = tf_bundle_find(bu, a, strlen(a)), j = tf_bundle_find(bu, b, strlen(b));
    if (i < 0 || j < 0) return 0;
    const struct tf_entry *x = &bu->ents[i], *y = &bu->ents[j];
    if (x->ndim != y->ndim) return 0;
    for (int d = 0; d < x->ndim; d++)
        if (x->shape[d] != y->shape[d]) return 0;
    return 1;
}

static int note_opt(struct bstate *s, const char *opt)
{
    for (size_t i = 0; i < s->nopts; i++)
        if (!strcmp(s->opts[i], opt)) return MFS_OK;
    char **v = realloc(s->opts, (s->nopts + 1) * sizeof *v);
    if (!v) return -1;
    s->opts = v;
    if (!(s->opts[s->nopts] = strdup(opt))) return -1;
    s->nopts++;
    return MFS_OK;
}

static int add_optval(struct bstate *s, const char *opt, const char *name, const mfs_tensor *tn)
{
    char v[64];
    if (tn->nelems != 1 || tf_scalar_text(tn, v, sizeof v) < 0) return MFS_OK;
    if (s->nov == s->capov) {
        size_t cap = s->capov ? s->capov * 2 : 16;
        struct optvals *q = realloc(s->ov, cap * sizeof *q);
        if (!q) return -1;
        s->ov = q;
        s->capov = cap;
    }
    struct optvals *x = &s->ov[s->nov];
    x->opt = strdup(opt ? opt : "");
    x->name = strdup(name);
    if (!x->opt || !x->name) {
        free(x->opt);
        free(x->name);
        return -1;
    }
    memcpy(x->value, v, sizeof v);
    s->nov++;
    return MFS_OK;
}

/* JSON string literal of @s appended to the text buffer. */
static int put_jstr(char **buf, size_t *len, size_t *cap, const char *str)
{
    json_t *j = json_string(str);
    char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!d) return -1;
    int rc = tf_escape((const unsigned char *)"", 0, buf, len, cap);
    size_t l = strlen(d);
    if (rc == 0 && *len + l + 1 > *cap) {
        char *q = realloc(*buf, *cap = *len + l + 64);
        if (!q) rc = -1;
        else *buf = q;
    }
    if (rc == 0) {
        memcpy(*buf + *len, d, l + 1);
        *len += l;
    }
    free(d);
    return rc;
}

static int put_raw(char **buf, size_t *len, size_t *cap, const char *str)
{
    size_t l = strlen(str);
    if (*len + l + 1 > *cap) {
        char *q = realloc(*buf, *cap = (*len + l + 1) * 2);
        if (!q) return -1;
        *buf = q;
    }
    memcpy(*buf + *len, str, l + 1);
    *len += l;
    return 0;
}

/* optimizer/config.json (written as text: numbers keep their shortest
 * form, "0.9" rather than 0.89999997615814209) and optimizer/step. */
static int write_optimizer(struct bstate *s, mfs_err *e)
{
    if (!s->nov) return MFS_OK;
    uint32_t od = dir_of(s, &s->dir_opt, MFS_TOP_OPTIMIZER, "optimizer");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int multi = s->nopts > 1, rc = 0;
    rc |= put_raw(&buf, &len, &cap, "{");
    for (size_t k = 0; k < (multi ? s->nopts : 1) && !rc; k++) {
        const char *ind = multi ? "    " : "  ";
        if (multi) {
            rc |= put_raw(&buf, &len, &cap, k ? ",\n  " : "\n  ");
            rc |= put_jstr(&buf, &len, &cap, s->opts[k]);
            rc |= put_raw(&buf, &len, &cap, ": {");
        }
        int first = 1;
        for (size_t i = 0; i < s->nov && !rc; i++) {
            if (multi && strcmp(s->ov[i].opt, s->opts[k])) continue;
            rc |= put_raw(&buf, &len, &cap, first ? "\n" : ",\n");
            rc |= put_raw(&buf, &len, &cap, ind);
            rc |= put_jstr(&buf, &len, &cap, s->ov[i].name);
            rc |= put_raw(&buf, &len, &cap, ": ");
            const char *v = s->ov[i].value;
            int num = strcmp(v, "nan") && strcmp(v, "inf") && strcmp(v, "-inf");
            rc |= num ? put_raw(&buf, &len, &cap, v) : put_jstr(&buf, &len, &cap, v);
            first = 0;
            /* iteration counters become `step` */
            if (!strcmp(s->ov[i].name, "iter") || !strcmp(s->ov[i].name, "iterations") ||
                !strcmp(s->ov[i].name, "global_step")) {
                char path[512];
                snprintf(path, sizeof path, "%s%sstep", multi ? s->ov[i].opt : "", multi ? "/" : "");
                if (!mfs_tree_lookup_path(s->t, od, path))
                    mfs_tree_add_textf(s->t, od, path, "%s\n", v);
            }
        }
        if (multi) rc |= put_raw(&buf, &len, &cap, first ? "}" : "\n  }");
    }
    rc |= put_raw(&buf, &len, &cap, "\n}\n");
    if (!rc && !mfs_tree_add_text(s->t, od, "config.json", buf, len)) rc = -1;
    free(buf);
    return rc ? mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory") : MFS_OK;
}

/* A layer's OBJECT_CONFIG_JSON: its config name is a display-name hint. */
static void config_hints(struct bstate *s)
{
    for (size_t i = 0; i < s->b->n; i++) {
        if (!s->str_ok[i] || s->strs[i].n != 1) continue;
        const struct tf_entry *en = &s->b->ents[i];
        static const char suf[] = ".ATTRIBUTES/OBJECT_CONFIG_JSON";
        if (en->klen < sizeof suf - 1 || strcmp(en->key + en->klen - (sizeof suf - 1), suf)) continue;
        int node = tf_objgraph_node_of_key(s->g, en->key, en->klen);
        if (node <= 0) continue;
        json_t *j = json_loadb((const char *)s->strs[i].buf + s->strs[i].off[0],
                               (size_t)s->strs[i].len[0], 0, NULL);
        json_t *cfg = j ? json_object_get(j, "config") : NULL;
        const char *name = json_string_value(json_object_get(cfg ? cfg : j, "name"));
        if (name) tf_objgraph_hint(s->g, node, name, 2);
        json_decref(j);
    }
}

/* Places string entry @i: tensors/<key> as text; a config as config.json. */
static int place_string(struct bstate *s, size_t i, const struct tf_place *pl, mfs_err *e)
{
    const struct tf_entry *en = &s->b->ents[i];
    uint32_t td = dir_of(s, &s->dir_tensors, MFS_TOP_TENSORS, "tensors");
    uint32_t d = mfs_tree_mkdir(s->t, td, en->key);
    if (!d) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    json_t *info = json_object();
    char crc[16];
    snprintf(crc, sizeof crc, "0x%08x", en->crc);
    json_object_set_new(info, "dtype", json_string("string"));
    json_object_set_new(info, "key", tf_json_bytes(en->key, en->klen));
    json_object_set_new(info, "shard", json_integer(en->shard));
    json_object_set_new(info, "offset", json_integer((json_int_t)en->offset));
    json_object_set_new(info, "stored_bytes", json_integer((json_int_t)en->size));
    json_object_set_new(info, "crc32c", json_string(crc));
    if (!s->str_ok[i]) {
        json_object_set_new(info, "note", json_string("not decoded (see the mount log)"));
        int ok = mfs_tree_add_text(s->t, d, "dtype", "string\n", 7) &&
                 mfs_tree_add_json(s->t, d, "info.json", info);
        json_decref(info);
        return ok ? MFS_OK : mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    json_object_set_new(info, "crc32c_check", json_string(s->strs[i].crc_ok ? "matched" : "corrupt"));
    int rc = tf_add_string_dir(s->t, d, en->ndim, en->shape, &s->strs[i], en->key, info, e);
    json_decref(info);
    MFS_FORWARD(rc);
    if (pl && pl->role == TF_ROLE_CONFIG && s->strs[i].n == 1 && s->strs[i].crc_ok) {
        json_t *j = json_loadb((const char *)s->strs[i].buf + s->strs[i].off[0],
                               (size_t)s->strs[i].len[0], 0, NULL);
        if (j) {
            uint32_t cd;
            const char *name;
            if (pl->path[0]) {
                cd = mfs_tree_mkdir(s->t, dir_of(s, &s->dir_layers, MFS_TOP_LAYERS, "layers"), pl->path);
                name = "config.json";
            } else {
                cd = dir_of(s, &s->dir_meta, MFS_TOP_METADATA, "metadata");
                name = "model_config.json";
            }
            if (cd && !mfs_tree_lookup_path(s->t, cd, name)) mfs_tree_add_json(s->t, cd, name, j);
            json_decref(j);
        }
    }
    return MFS_OK;
}

/* Entries modelfs cannot show as numbers (resource, variant, 4-bit):
 * their dtype, shape, info and stored bytes. */
static int place_opaque(struct bstate *s, size_t i, mfs_err *e)
{
    const struct tf_entry *en = &s->b->ents[i];
    char nb[16], shp[64 * 32];
    uint32_t d = mfs_tree_mkdir(s->t, dir_of(s, &s->dir_tensors, MFS_TOP_TENSORS, "tensors"), en->key);
    size_t sl = (size_t)snprintf(shp, sizeof shp, "[");
    for (int k = 0; k < en->ndim && sl < sizeof shp - 32; k++)
        sl += (size_t)snprintf(shp + sl, sizeof shp - sl, k ? ", %llu" : "%llu",
                               (unsigned long long)en->shape[k]);
    snprintf(shp + sl, sizeof shp - sl, "]\n");
    int ok = d && mfs_tree_add_textf(s->t, d, "dtype", "%s\n", tf_dtype_name(en->dtype, nb)) &&
             mfs_tree_add_text(s->t, d, "shape", shp, strlen(shp));
    if (ok && en->size && !en->nslices)
        ok = mfs_tree_add_src_range(s->t, d, "stored", s->b->shards[en->shard], en->offset, en->size) != 0;
    if (!ok) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    return MFS_OK;
}

static int place_tensor(struct bstate *s, size_t i, const struct tf_place *pl, mfs_err *e)
{
    const struct tf_entry *en = &s->b->ents[i];
    mfs_tensor *tn = NULL;
    int rc = tf_bundle_tensor(s->b, s->t, i, &tn, e);
    MFS_FORWARD(rc);
    if (!tn) return place_opaque(s, i, e);
    if (pl->role != TF_ROLE_WEIGHT && !tn->info) tn->info = json_object();
    if (pl->role != TF_ROLE_WEIGHT)
        json_object_set_new(tn->info, "role", json_string(pl->role == TF_ROLE_SLOT ? "optimizer slot"
                                                           : pl->role == TF_ROLE_OPT ? "optimizer"
                                                           : "counter"));
    uint32_t ok;
    if (s->o->model) ok = mfs_tree_add_model_tensor(s->t, en->key, tn);
    else ok = mfs_tree_add_tensor(s->t, dir_of(s, &s->dir_tensors, MFS_TOP_TENSORS, "tensors"), en->key, tn);
    s->o->ntensors++;
    char path[4096];
    switch (pl->role) {
    case TF_ROLE_WEIGHT:
        if (ok) ok = mfs_tree_add_tensor(s->t, dir_of(s, &s->dir_layers, MFS_TOP_LAYERS, "layers"), pl->path, tn);
        break;
    case TF_ROLE_SLOT:
        snprintf(path, sizeof path, "state/%s", pl->path);
        if (ok) ok = mfs_tree_add_tensor(s->t, dir_of(s, &s->dir_opt, MFS_TOP_OPTIMIZER, "optimizer"), path, tn);
        break;
    case TF_ROLE_OPT: {
        /* with several optimizers, each has its own optimizer/<opt>/ */
        const char *opt = pl->optimizer ? pl->optimizer : "";
        int multi = s->nopts > 1;
        if (add_optval(s, opt, pl->path, tn) < 0) ok = 0;
        snprintf(path, sizeof path, "%s%s%s", multi ? opt : "", multi && *opt ? "/" : "", pl->path);
        if (ok) ok = mfs_tree_add_tensor(s->t, dir_of(s, &s->dir_opt, MFS_TOP_OPTIMIZER, "optimizer"), path, tn);
        break;
    }
    case TF_ROLE_COUNTER: {
        char v[64];
        uint32_t md = dir_of(s, &s->dir_meta, MFS_TOP_METADATA, "metadata");
        if (ok && tf_scalar_text(tn, v, sizeof v) == 0 && !mfs_tree_lookup_path(s->t, md, pl->path))
            ok = mfs_tree_add_textf(s->t, md, pl->path, "%s\n", v);
        if (ok && !strcmp(pl->path, "global_step") && add_optval(s, "", "global_step", tn) < 0) ok = 0;
        break;
    }
    default:
        break;
    }
    return ok ? MFS_OK : mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
}

static void bstate_free(struct bstate *s)
{
    if (s->strs)
        for (size_t i = 0; i < s->b->n; i++) tf_strings_free(&s->strs[i]);
    free(s->strs);
    free(s->str_ok);
    tf_objgraph_free(s->g);
    for (size_t i = 0; i < s->nov; i++) {
        free(s->ov[i].opt);
        free(s->ov[i].name);
    }
    free(s->ov);
    for (size_t i = 0; i < s->nopts; i++) free(s->opts[i]);
    free(s->opts);
}

static int write_metadata(struct bstate *s, mfs_err *e)
{
    uint32_t md = dir_of(s, &s->dir_meta, MFS_TOP_METADATA, "metadata");
    json_t *j = json_object();
    json_object_set_new(j, "format", json_string("TensorFlow tensor bundle (V2 checkpoint)"));
    json_object_set_new(j, "index", json_string(s->b->index_path));
    json_object_set_new(j, "num_shards", json_integer(s->b->num_shards));
    json_object_set_new(j, "byte_order", json_string(s->b->big_endian ? "big-endian" : "little-endian"));
    json_object_set_new(j, "version_producer", json_integer(s->b->producer));
    json_object_set_new(j, "index_compression", json_string(s->b->snappy ? "snappy" : "none"));
    json_object_set_new(j, "entries", json_integer((json_int_t)s->b->n));
    json_object_set_new(j, "object_based", json_boolean(s->g != NULL));
    uint32_t ok = md && mfs_tree_add_json(s->t, md, "checkpoint.json", j);
    json_decref(j);
    if (ok && s->g) {
        json_t *gj = tf_objgraph_json(s->g);
        ok = gj && mfs_tree_add_json(s->t, dir_of(s, &s->dir_raw, MFS_TOP_RAW, "raw"), "object_graph.json", gj);
        json_decref(gj);
    }
    return ok ? MFS_OK : mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
}

int tf_build_bundle(tf_bundle *b, struct tf_build *o, mfs_err *e)
{
    struct bstate s = {.b = b, .o = o, .t = o->t};
    s.strs = calloc(b->n ? b->n : 1, sizeof *s.strs);
    s.str_ok = calloc(b->n ? b->n : 1, sizeof *s.str_ok);
    if (!s.strs || !s.str_ok) {
        bstate_free(&s);
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    /* string tensors */
    for (size_t i = 0; i < b->n; i++) {
        const struct tf_entry *en = &b->ents[i];
        if (en->dtype != TF_DT_STRING || en->is_slice || en->nslices) continue;
        mfs_err e2 = {0};
        if (tf_bundle_strings(b, i, &s.strs[i], &e2) == MFS_OK) {
            s.str_ok[i] = 1;
            if (!s.strs[i].crc_ok)
                mfs_log("%s: string tensor '%s': crc32c mismatch: its values fail with EIO",
                        b->index_path, en->key);
        } else {
            mfs_log("%s: %s", b->index_path, e2.msg);
            s.warn = 1;
        }
    }
    /* the object graph */
    long gi = tf_bundle_find(b, OBJGRAPH_KEY, sizeof OBJGRAPH_KEY - 1);
    if (gi >= 0 && s.str_ok[gi] && s.strs[gi].n == 1 && s.strs[gi].crc_ok) {
        mfs_err e2 = {0};
        if (tf_objgraph_new(s.strs[gi].buf + s.strs[gi].off[0], (size_t)s.strs[gi].len[0], &s.g, &e2) != MFS_OK) {
            mfs_log("%s: %s; naming tensors by their keys", b->index_path, e2.msg);
            s.warn = 1;
        }
    }
    o->object_based = s.g != NULL;
    if (s.g) {
        config_hints(&s);
        if (o->hints) o->hints(o->hints_ctx, s.g);
        tf_objgraph_attach_slots(s.g, same_shape, b);
    }
    /* roles first: how many optimizers decides where their variables go */
    int rc = MFS_OK;
    struct tf_place *pls = calloc(b->n ? b->n : 1, sizeof *pls);
    if (!pls) rc = mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (size_t i = 0; i < b->n && rc >= 0; i++) {
        const struct tf_entry *en = &b->ents[i];
        if (en->is_slice) continue;
        rc = s.g ? tf_objgraph_place(s.g, en->key, en->klen, &pls[i], e)
                 : tf_place_by_name(en->key, is_var, b, &pls[i], e);
        if (rc >= 0 && (pls[i].role == TF_ROLE_OPT || pls[i].role == TF_ROLE_SLOT) &&
            note_opt(&s, pls[i].optimizer ? pls[i].optimizer : "") < 0)
            rc = mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    for (size_t i = 0; i < b->n && rc >= 0; i++) {
        const struct tf_entry *en = &b->ents[i];
        if (en->is_slice) continue;
        if (en->dtype == TF_DT_STRING && !en->nslices) rc = place_string(&s, i, &pls[i], e);
        else rc = place_tensor(&s, i, &pls[i], e);
    }
    if (pls)
        for (size_t i = 0; i < b->n; i++) tf_place_free(&pls[i]);
    free(pls);
    if (rc >= 0) rc = write_optimizer(&s, e);
    if (rc >= 0) rc = write_metadata(&s, e);
    int warn = s.warn;
    bstate_free(&s);
    if (rc < 0) return rc;
    return warn ? MFS_WARN : MFS_OK;
}

int tf_place_named(mfs_tree *t, const char *key, mfs_tensor *tn,
                   int (*is_var)(void *ctx, const char *k, size_t n), void *ctx, mfs_err *e)
{
    struct tf_place pl;
    MFS_FORWARD(tf_place_by_name(key, is_var, ctx, &pl, e));
    uint32_t ok = mfs_tree_add_model_tensor(t, key, tn);
    char v[64], path[4096];
    switch (pl.role) {
    case TF_ROLE_SLOT:
        snprintf(path, sizeof path, "state/%s", pl.path);
        if (ok) ok = mfs_tree_add_tensor(t, mfs_tree_top(t, MFS_TOP_OPTIMIZER), path, tn);
        break;
    case TF_ROLE_OPT:
        if (ok) ok = mfs_tree_add_tensor(t, mfs_tree_top(t, MFS_TOP_OPTIMIZER), pl.path, tn);
        break;
    case TF_ROLE_COUNTER: {
        uint32_t md = mfs_tree_top(t, MFS_TOP_METADATA);
        if (ok && md && tf_scalar_text(tn, v, sizeof v) == 0 && !mfs_tree_lookup_path(t, md, pl.path))
            ok = mfs_tree_add_textf(t, md, pl.path, "%s\n", v);
        break;
    }
    case TF_ROLE_WEIGHT:
        if (ok) ok = mfs_tree_add_tensor(t, mfs_tree_top(t, MFS_TOP_LAYERS), pl.path, tn);
        break;
    default:
        break;
    }
    tf_place_free(&pl);
    return ok ? MFS_OK : mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
}
