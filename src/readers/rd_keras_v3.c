/* rd_keras_v3.c: the Keras 3 ".keras" zip archive ("keras-v3").
 *
 * Members (FORMATS.md §3): metadata.json, config.json, model.weights.h5
 * (Keras 3 weights layout, §2.2) and assets/... . Python's zipfile
 * stores them uncompressed, so the h5 is opened in place: the HDF5 file
 * driver of h5_vfd.c reads the member's window of the archive, nothing
 * is extracted or copied, and contiguous datasets become PLAIN locators
 * on the archive itself (info.json gives the archive and the absolute
 * offset). A deflated member (other zip writers) goes through the zip
 * layer's on-demand inflater instead: slower, same result.
 *
 * Tree: metadata/config.json and metadata/metadata.json pretty-printed,
 * plus metadata.json's scalars (keras_version, date_saved); layers/,
 * tensors/, optimizer/ from the h5 with layer names resolved through
 * config.json (h5_keras3.c); assets/<path> for the asset files; raw/ has
 * every member as a file and the h5's HDF5 tree under raw/model.weights/.
 * A model.weights.npz (NpzIOStore) is listed in raw/ but not decoded.
 *
 * A ".keras" file that is really HDF5 (Keras 2 saving with the wrong
 * extension) never reaches this reader: it has the HDF5 signature, and
 * the HDF5 readers bid on it. */
#include "readers/h5_lib.h"
#include "core/log.h"
#include "core/zip.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_LIMIT ((uint64_t)256 << 20)

struct kv3 {
    struct mfs_zip *zip;     /* our own listing (the probe's is borrowed) */
    json_t *config, *meta;   /* parsed members, or NULL */
    char *config_text;       /* when config.json is not valid JSON */
    struct h5_model *h5;     /* NULL without model.weights.h5 */
    int warned;
    struct h5_warns warns;   /* printed when the build succeeds */
};

static int kv3_bid(const struct mfs_probe *p, int best_bid)
{
    /* zip magic (32) + config.json (32) + metadata.json (32) + weights (16) */
    if (best_bid >= 112 || !p->head || p->head_len < 4 || memcmp(p->head, "PK\3\4", 4) != 0)
        return -1;
    struct mfs_zip *z = mfs_probe_zip(p);
    if (!z || mfs_zip_find(z, "config.json") < 0 || mfs_zip_find(z, "metadata.json") < 0)
        return -1;
    int w = mfs_zip_find(z, "model.weights.h5") >= 0 || mfs_zip_find(z, "model.weights.npz") >= 0;
    return 96 + (w ? 16 : 0);
}

/* Reads and parses member @name; *text keeps the raw text when it is not
 * JSON. MFS_OK (also when absent), MFS_FATAL on read errors. */
static int load_json(struct kv3 *k, const char *name, json_t **out, char **text, mfs_err *e)
{
    *out = NULL;
    long i = mfs_zip_find(k->zip, name);
    if (i < 0) return MFS_OK;
    char *s = mfs_zip_read_member(k->zip, (size_t)i, JSON_LIMIT, e);
    if (!s) {
        mfs_err_prefix(e, "%s", name);
        return MFS_FATAL;
    }
    json_error_t je;
    *out = json_loadb(s, k->zip->m[i].size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!*out) {
        h5_warns_add(&k->warns, "%s: not valid JSON (%s, line %d); shown as text", name, je.text,
                     je.line);
        k->warned = 1;
        if (text) {
            *text = s;
            return MFS_OK;
        }
    }
    free(s);
    return MFS_OK;
}

static int kv3_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    *state = NULL;
    if (!p->src) return mfs_err_set(e, MFS_FATAL, EINVAL, -1, "not a regular file");
    struct kv3 *k = calloc(1, sizeof *k);
    if (!k) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    *state = k;
    if (!(k->zip = mfs_zip_open(p->src, e))) return MFS_FATAL;
    MFS_FORWARD(load_json(k, "config.json", &k->config, &k->config_text, e));
    MFS_FORWARD(load_json(k, "metadata.json", &k->meta, NULL, e));
    long wi = mfs_zip_find(k->zip, "model.weights.h5");
    if (wi < 0) return MFS_OK;
    mfs_src *ms = mfs_zip_member_src(k->zip, (size_t)wi, e);
    if (!ms) {
        e->status = MFS_FATAL;
        mfs_err_prefix(e, "model.weights.h5");
        return MFS_FATAL;
    }
    char label[4200];
    snprintf(label, sizeof label, "%s:model.weights.h5", p->path);
    k->h5 = h5_model_alloc(ms, label, "keras-v3", "model.weights");
    mfs_src_unref(ms);
    if (!k->h5) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    k->h5->config = json_incref(k->config);
    if (k->zip->m[wi].method == 0) { /* stored: PLAIN locators on the archive */
        k->h5->plain_src = mfs_src_ref(p->src);
        k->h5->plain_base = k->zip->m[wi].data_offset;
    }
    int rc = h5_model_open(k->h5, e);
    if (rc < 0) mfs_err_prefix(e, "model.weights.h5");
    return rc;
}

static int kv3_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct kv3 *k = state;
    uint32_t meta = mfs_tree_top(t, MFS_TOP_METADATA), raw = mfs_tree_top(t, MFS_TOP_RAW);
    if (!meta || !raw) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (k->config && !mfs_tree_add_json(t, meta, "config.json", k->config))
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (!k->config && k->config_text &&
        !mfs_tree_add_text(t, meta, "config.json", k->config_text, strlen(k->config_text)))
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (k->meta) {
        if (!mfs_tree_add_json(t, meta, "metadata.json", k->meta))
            return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        const char *key;
        json_t *v;
        json_object_foreach(k->meta, key, v) {
            if ((json_is_string(v) || json_is_number(v) || json_is_boolean(v)) && !strchr(key, '/') &&
                !mfs_tree_add_value(t, meta, key, v))
                return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        }
    }
    /* raw/<member> for every member; assets/ on top */
    uint32_t assets = 0;
    for (size_t i = 0; i < k->zip->count; i++) {
        const struct mfs_zip_member *zm = &k->zip->m[i];
        if (zm->is_dir) continue;
        mfs_err me = {0};
        mfs_src *ms = mfs_zip_member_src(k->zip, i, &me);
        if (!ms) {
            h5_warns_add(&k->warns, "%s: %s", zm->name, me.msg);
            k->warned = 1;
            continue;
        }
        uint32_t id = mfs_tree_add_src_range(t, raw, zm->name, ms, 0, zm->size);
        if (id && strncmp(zm->name, "assets/", 7) == 0 && zm->name[7]) {
            if (!assets) assets = mfs_tree_mkdir(t, MFS_ROOT, "assets");
            id = assets ? mfs_tree_add_src_range(t, assets, zm->name + 7, ms, 0, zm->size) : 0;
        }
        mfs_src_unref(ms);
        if (!id) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    int rc = MFS_OK;
    if (k->h5) {
        rc = h5_model_build(k->h5, t, e);
        if (rc < 0) mfs_err_prefix(e, "model.weights.h5");
    } else if (mfs_zip_find(k->zip, "model.weights.npz") >= 0) {
        h5_warns_add(&k->warns, "model.weights.npz: weights stored with NpzIOStore are listed in "
                     "raw/ but not decoded");
        k->warned = 1;
    }
    if (rc < 0) return rc;
    h5_warns_flush(&k->warns);
    return (rc == MFS_WARN || k->warned) ? MFS_WARN : MFS_OK;
}

static void kv3_close(void *state)
{
    struct kv3 *k = state;
    if (!k) return;
    h5_model_free(k->h5);
    h5_warns_free(&k->warns);
    mfs_zip_free(k->zip);
    json_decref(k->config);
    json_decref(k->meta);
    free(k->config_text);
    free(k);
}

const struct mfs_reader mfs_reader_keras_v3 = {
    .name = "keras-v3",
    .description = "Keras 3 .keras archive: config.json, metadata.json, model.weights.h5 read in place",
    .flags = 0,
    .bid = kv3_bid,
    .open = kv3_open,
    .build = kv3_build,
    .close = kv3_close,
};
