/* rd_torch_export.c: torch.export / AOTInductor PT2 archives (.pt2), the
 * "PT2 Archive Spec" (docs/source/export/pt2_archive.md; paths from
 * torch/csrc/export/pt2_archive_constants.h, JSON from
 * torch/_export/serde/schema.py PayloadConfig/PayloadMeta/TensorMeta).
 *
 * A zip (written by torch's PyTorchFileWriter: one folder, stored,
 * 64-byte aligned records) with
 *   archive_format                      "pt2"
 *   models/<model>.json                 the serialized ExportedProgram
 *   data/weights/<model>_weights_config.json
 *       {"config": {fqn: {"path_name": "weight_0", "is_param": true,
 *        "use_pickle": false, "tensor_meta": {"dtype": 7, "sizes":
 *        [{"as_int": 4}], "strides": [{"as_int": 1}], "storage_offset":
 *        {"as_int": 0}, "device": {...}, "requires_grad": ...}}}}
 *   data/weights/weight_<i>             raw storage bytes (shared by views)
 *   data/constants/<model>_constants_config.json, tensor_<i>
 * Each fqn is a strided view (sizes, strides, storage_offset in elements)
 * of its record, as torch.as_strided rebuilds it: STRIDED/PLAIN locators
 * on the record, read in place for stored records. Pickled payloads
 * (tensor subclasses, custom objects) are left in raw/ untouched.
 *
 * Tree: tensors/<fqn> and layers/ for weights and tensor constants (with
 * several models: tensors/<model>/<fqn>), metadata/ the archive records
 * and model names, raw/ every member (the models' JSON, configs, records). */
#include "readers/torch.h"
#include "readers/common.h"
#include "core/zip.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_LIMIT ((uint64_t)256 << 20)

struct xmember {
    char *rel;
    uint64_t off, size;
    int stored;
    mfs_src *src; /* compressed members */
};

struct xconfig {
    char *model;   /* model name */
    int constants; /* 0 weights, 1 constants */
    json_t *cfg;   /* the parsed config */
};

struct xarch {
    mfs_src *file;
    char prefix[1024];
    struct xmember *m;
    size_t nm;
    struct xconfig *c;
    size_t nc;
    int swap;
    char *rec[4];
};

static const char *const RECS[4][2] = {
    {"archive_format", "archive_format"}, {"archive_version", "archive_version"},
    {"byteorder", "byteorder"}, {".data/version", "version"},
};

static int xp_bid(const struct mfs_probe *p, int best)
{
    if (best >= 96 || p->is_dir || p->head_len < 4 || memcmp(p->head, "PK\003\004", 4) != 0) return -1;
    struct mfs_zip *z = mfs_probe_zip(p);
    char prefix[1024];
    if (!z || mfs_torch_zip_prefix(z, prefix, sizeof prefix) < 0) return -1;
    if (mfs_torch_zip_find(z, prefix, "archive_format") < 0) return -1;
    /* zip magic + the archive_format record + a models/ or data/ member */
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < z->count; i++)
        if (!strncmp(z->m[i].name, prefix, pl) &&
            (!strncmp(z->m[i].name + pl, "models/", 7) || !strncmp(z->m[i].name + pl, "data/", 5)))
            return 96;
    return -1;
}

static int cmp_member(const void *a, const void *b)
{
    return strcmp(((const struct xmember *)a)->rel, ((const struct xmember *)b)->rel);
}

static struct xmember *find_member(struct xarch *s, const char *rel)
{
    struct xmember k = {.rel = (char *)rel};
    return s->nm ? bsearch(&k, s->m, s->nm, sizeof *s->m, cmp_member) : NULL;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int add_config(struct xarch *s, struct mfs_zip *z, long zi, const char *rel, int constants,
                      mfs_err *e)
{
    const char *dir = constants ? "data/constants/" : "data/weights/";
    const char *suf = constants ? "_constants_config.json" : "_weights_config.json";
    size_t dl = strlen(dir), rl = strlen(rel), sl = strlen(suf);
    if (strncmp(rel, dir, dl) != 0 || rl <= dl + sl || strchr(rel + dl, '/') || !ends_with(rel, suf))
        return MFS_OK;
    char *txt = mfs_zip_read_member(z, (size_t)zi, CONFIG_LIMIT, e);
    if (!txt) return e->status = MFS_FATAL;
    json_error_t je;
    json_t *cfg = json_loadb(txt, (size_t)z->m[zi].size, 0, &je);
    free(txt);
    MFS_CHECK(cfg && json_is_object(json_object_get(cfg, "config")), e, MFS_FATAL, EINVAL,
              (int64_t)z->m[zi].data_offset, "pt2: %s is not a payload config: %s", rel,
              cfg ? "no \"config\" object" : je.text);
    struct xconfig *nc = realloc(s->c, (s->nc + 1) * sizeof *nc);
    if (!nc) {
        json_decref(cfg);
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    s->c = nc;
    s->c[s->nc] = (struct xconfig){strndup(rel + dl, rl - dl - sl), constants, cfg};
    if (!s->c[s->nc++].model) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    return MFS_OK;
}

static int xp_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    struct xarch *s = calloc(1, sizeof *s);
    MFS_CHECK(s, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    *state = s;
    struct mfs_zip *z = mfs_probe_zip(p);
    MFS_CHECK(z, e, MFS_FATAL, EINVAL, 0, "not a readable zip archive");
    s->file = mfs_src_ref(z->src);
    MFS_CHECK(mfs_torch_zip_prefix(z, s->prefix, sizeof s->prefix) == 0, e, MFS_FATAL, EINVAL, -1,
              "pt2: cannot find the archive folder");
    char buf[256];
    for (int i = 0; i < 4; i++)
        if (mfs_torch_zip_record(z, s->prefix, RECS[i][0], buf, sizeof buf) == 0)
            MFS_CHECK(s->rec[i] = strdup(buf), e, MFS_FATAL, ENOMEM, -1, "out of memory");
    MFS_CHECK(s->rec[0] && !strcmp(s->rec[0], "pt2"), e, MFS_FATAL, EINVAL, -1,
              "pt2: archive_format is \"%s\", not \"pt2\"", s->rec[0] ? s->rec[0] : "(unreadable)");
    if (s->rec[2]) {
        MFS_CHECK(!strcmp(s->rec[2], "little") || !strcmp(s->rec[2], "big"), e, MFS_FATAL, EINVAL, -1,
                  "pt2: byteorder record is \"%s\"", s->rec[2]);
        s->swap = !strcmp(s->rec[2], "big");
    }
    size_t pl = strlen(s->prefix);
    s->m = calloc(z->count ? z->count : 1, sizeof *s->m);
    MFS_CHECK(s->m, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (size_t i = 0; i < z->count; i++) {
        const struct mfs_zip_member *zm = &z->m[i];
        if (zm->is_dir || strncmp(zm->name, s->prefix, pl) != 0 || !zm->name[pl]) continue;
        struct xmember *x = &s->m[s->nm++];
        MFS_CHECK(x->rel = strdup(zm->name + pl), e, MFS_FATAL, ENOMEM, -1, "out of memory");
        x->off = zm->data_offset;
        x->size = zm->size;
        x->stored = zm->method == 0;
        if (!x->stored) {
            mfs_err le = {0};
            x->src = mfs_zip_member_src(z, i, &le);
        }
        MFS_FORWARD(add_config(s, z, (long)i, x->rel, 0, e));
        MFS_FORWARD(add_config(s, z, (long)i, x->rel, 1, e));
    }
    if (s->nm) qsort(s->m, s->nm, sizeof *s->m, cmp_member);
    return MFS_OK;
}

/* schema.py ScalarType -> dtype. */
static mfs_dtype scalar_type(json_int_t t)
{
    switch (t) {
    case 1: return MFS_DT_U8;
    case 2: return MFS_DT_I8;
    case 3: return MFS_DT_I16;
    case 4: return MFS_DT_I32;
    case 5: return MFS_DT_I64;
    case 6: return MFS_DT_F16;
    case 7: return MFS_DT_F32;
    case 8: return MFS_DT_F64;
    case 10: return MFS_DT_C64;
    case 11: return MFS_DT_C128;
    case 12: return MFS_DT_BOOL;
    case 13: return MFS_DT_BF16;
    case 28: return MFS_DT_U16;
    case 29: return MFS_DT_F8_E4M3FN;
    case 30: return MFS_DT_F8_E5M2;
    case 31: return MFS_DT_F8_E4M3FNUZ;
    case 32: return MFS_DT_F8_E5M2FNUZ;
    default: return MFS_DT_INVALID;
    }
}

/* A SymInt {"as_int": n} (non-negative), else -1. */
static int64_t symint(const json_t *v)
{
    json_t *i = json_object_get(v, "as_int");
    if (!json_is_integer(i) || json_integer_value(i) < 0) return -1;
    return (int64_t)json_integer_value(i);
}

/* The tensor of config entry @meta (PayloadMeta) in @dir; 1 placed, 0
 * skipped (pickled payload), < 0 error. */
static int payload_tensor(struct xarch *s, mfs_tree *t, const char *dir, const char *fqn,
                          const json_t *meta, mfs_tensor **out, mfs_err *e)
{
    *out = NULL;
    if (json_is_true(json_object_get(meta, "use_pickle"))) return 0;
    const char *path = json_string_value(json_object_get(meta, "path_name"));
    const json_t *tm = json_object_get(meta, "tensor_meta");
    const json_t *sizes = json_object_get(tm, "sizes"), *strides = json_object_get(tm, "strides");
    mfs_dtype dt = scalar_type(json_integer_value(json_object_get(tm, "dtype")));
    int64_t soff = symint(json_object_get(tm, "storage_offset"));
    size_t nd = json_array_size(sizes);
    MFS_CHECK(path && !strchr(path, '/') && dt && json_is_array(sizes) && json_is_array(strides) &&
                  json_array_size(strides) == nd && nd <= MFS_MAX_DIMS && soff >= 0,
              e, MFS_FATAL, EINVAL, -1, "pt2: %s: bad or symbolic tensor_meta", fqn);
    uint64_t shape[MFS_MAX_DIMS];
    int64_t st[MFS_MAX_DIMS];
    for (size_t i = 0; i < nd; i++) {
        int64_t a = symint(json_array_get(sizes, i)), b = symint(json_array_get(strides, i));
        MFS_CHECK(a >= 0 && b >= 0, e, MFS_FATAL, EINVAL, -1, "pt2: %s: symbolic or negative size/stride", fqn);
        shape[i] = (uint64_t)a;
        st[i] = b;
    }
    char rel[1200];
    snprintf(rel, sizeof rel, "%s%s", dir, path);
    struct xmember *m = find_member(s, rel);
    MFS_CHECK(m, e, MFS_FATAL, EINVAL, -1, "pt2: %s: record %s%s is missing", fqn, s->prefix, rel);
    if (!m->stored && !m->src) return 0; /* unsupported compression */
    mfs_tensor *tn = mfs_tree_tensor_new(t);
    MFS_CHECK(tn, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    tn->dtype = dt;
    MFS_FORWARD(mfs_tensor_set_shape(tn, (int)nd, shape, e));
    uint64_t elems = m->size / mfs_dtype_get(dt)->itemsize;
    int rc = mfs_tensor_set_strided(tn, m->stored ? s->file : m->src, m->stored ? m->off : 0, elems,
                                    (uint64_t)soff, st, s->swap, e);
    if (rc < 0) {
        mfs_err_prefix(e, "pt2: %s on %s", fqn, rel);
        return rc;
    }
    if ((tn->info = json_object())) {
        json_object_set_new(tn->info, "storage", json_string(rel));
        json_object_set_new(tn->info, "storage_offset", json_integer(soff));
        json_object_set(tn->info, "is_param", json_object_get(meta, "is_param"));
    }
    *out = tn;
    return 1;
}

static int xp_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct xarch *s = state;
    uint32_t md = mfs_tree_top(t, MFS_TOP_METADATA), raw = mfs_tree_top(t, MFS_TOP_RAW);
    MFS_CHECK(md && raw, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    /* model names: distinct config owners, in order */
    json_t *models = json_array();
    MFS_CHECK(models, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (size_t i = 0; i < s->nc; i++) {
        int seen = 0;
        for (size_t j = 0; j < i; j++) seen |= !strcmp(s->c[j].model, s->c[i].model);
        if (!seen) json_array_append_new(models, json_string(s->c[i].model));
    }
    size_t nmodels = json_array_size(models);
    int rc = MFS_OK;
    for (int pass = 0; pass < 2 && rc >= 0; pass++) /* weights first, then constants */
        for (size_t i = 0; i < s->nc && rc >= 0; i++) {
            if (s->c[i].constants != pass) continue;
            const char *fqn;
            json_t *meta;
            json_object_foreach(json_object_get(s->c[i].cfg, "config"), fqn, meta) {
                mfs_tensor *tn;
                rc = payload_tensor(s, t, pass ? "data/constants/" : "data/weights/", fqn, meta, &tn, e);
                if (rc < 0) break;
                if (rc == 0) continue;
                char key[2048], layer[2048], weight[2048], ml[2100];
                if (nmodels > 1) snprintf(key, sizeof key, "%s/%s", s->c[i].model, fqn);
                else snprintf(key, sizeof key, "%s", fqn);
                if (strlen(fqn) < sizeof layer) mfs_layer_split(fqn, layer, weight);
                else snprintf(layer, sizeof layer, "%s", MFS_ROOT_LAYER), snprintf(weight, sizeof weight, "%.2000s", fqn);
                if (nmodels > 1) snprintf(ml, sizeof ml, "%s/%s", s->c[i].model, layer);
                else snprintf(ml, sizeof ml, "%s", layer);
                if (!mfs_tree_add_model_tensor(t, key, tn) || !mfs_add_layer_tensor(t, ml, weight, tn)) {
                    rc = mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
                    break;
                }
                rc = MFS_OK;
            }
        }
    if (rc >= 0 && !mfs_tree_add_json(t, md, "models.json", models))
        rc = mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    json_decref(models);
    MFS_FORWARD(rc);
    MFS_CHECK(mfs_tree_add_text(t, md, "content", "torch.export program (PT2 archive)\n", 35), e, MFS_FATAL,
              ENOMEM, -1, "out of memory");
    for (int i = 0; i < 4; i++)
        if (s->rec[i])
            MFS_CHECK(mfs_tree_add_textf(t, md, RECS[i][1], "%s\n", s->rec[i]), e, MFS_FATAL, ENOMEM, -1,
                      "out of memory");
    for (size_t i = 0; i < s->nm; i++) {
        const struct xmember *m = &s->m[i];
        if (!m->stored && !m->src) continue;
        MFS_CHECK(mfs_tree_add_src_range(t, raw, m->rel, m->stored ? s->file : m->src, m->stored ? m->off : 0,
                                         m->size),
                  e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    return MFS_OK;
}

static void xp_close(void *state)
{
    struct xarch *s = state;
    if (!s) return;
    for (size_t i = 0; i < s->nm; i++) {
        free(s->m[i].rel);
        mfs_src_unref(s->m[i].src);
    }
    free(s->m);
    for (size_t i = 0; i < s->nc; i++) {
        free(s->c[i].model);
        json_decref(s->c[i].cfg);
    }
    free(s->c);
    for (int i = 0; i < 4; i++) free(s->rec[i]);
    mfs_src_unref(s->file);
    free(s);
}

const struct mfs_reader mfs_reader_torch_export = {
    .name = "torch-export",
    .description = "torch.export / AOTInductor PT2 archive (.pt2): weights and constants with their configs",
    .flags = 0,
    .bid = xp_bid,
    .open = xp_open,
    .build = xp_build,
    .close = xp_close,
};
