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
 * Weights saved as model.weights.npz (weights_format="npz", NpzIOStore)
 * are decoded in place by keras_npz.c into the same views.
 *
 * Keras' unzipped variant (saving with zipped=False: a directory holding
 * the same files) is read the same way, the h5 being a plain file. (Keras
 * writes an npz store there under the name model.weights.h5: a
 * "model.weights.h5" that starts like a zip is read as the npz.)
 *
 * A ".keras" file that is really HDF5 (Keras 2 saving with the wrong
 * extension) never reaches this reader: it has the HDF5 signature, and
 * the HDF5 readers bid on it. */
#include "readers/h5_lib.h"
#include "readers/keras_npz.h"
#include "core/log.h"
#include "core/zip.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#define JSON_LIMIT ((uint64_t)256 << 20)

/* A member of the unzipped variant: a file under the directory. */
struct kv3_file {
    char *name;              /* relative path */
    mfs_src *src;
};

struct kv3 {
    struct mfs_zip *zip;     /* our own listing (the probe's is borrowed) */
    struct kv3_file *files;  /* unzipped variant instead of zip */
    size_t nfiles;
    json_t *config, *meta;   /* parsed members, or NULL */
    char *config_text;       /* when config.json is not valid JSON */
    struct h5_model *h5;     /* NULL without model.weights.h5 */
    struct keras_npz *npz;   /* model.weights.npz, when there is no h5 */
    int warned;
    struct h5_warns warns;   /* printed when the build succeeds */
};

static int kv3_bid(const struct mfs_probe *p, int best_bid)
{
    if (p->is_dir) { /* the zipped=False variant: same names */
        if (best_bid >= 112 || !mfs_probe_dir_has(p, "config.json") ||
            !mfs_probe_dir_has(p, "metadata.json"))
            return -1;
        return 96 + (mfs_probe_dir_has(p, "model.weights.h5") ? 16 : 0);
    }
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
static struct kv3_file *find_file(struct kv3 *k, const char *name)
{
    for (size_t i = 0; i < k->nfiles; i++)
        if (strcmp(k->files[i].name, name) == 0) return &k->files[i];
    return NULL;
}

static int load_json(struct kv3 *k, const char *name, json_t **out, char **text, mfs_err *e)
{
    *out = NULL;
    char *s = NULL;
    uint64_t size = 0;
    if (k->zip) {
        long i = mfs_zip_find(k->zip, name);
        if (i < 0) return MFS_OK;
        s = mfs_zip_read_member(k->zip, (size_t)i, JSON_LIMIT, e);
        size = k->zip->m[i].size;
    } else {
        struct kv3_file *f = find_file(k, name);
        if (!f) return MFS_OK;
        size = f->src->size;
        s = mfs_src_slurp(f->src, 0, size, JSON_LIMIT, e);
    }
    if (!s) {
        e->status = MFS_FATAL;
        mfs_err_prefix(e, "%s", name);
        return MFS_FATAL;
    }
    json_error_t je;
    *out = json_loadb(s, (size_t)size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
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

/* Files of the unzipped variant: the top-level files and assets/ below
 * (at most 16 levels, 100,000 files). */
static int add_files(struct kv3 *k, const char *root, const char *rel, int depth, mfs_err *e)
{
    char dirp[4200];
    snprintf(dirp, sizeof dirp, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dirp);
    if (!d) return mfs_err_set(e, MFS_FATAL, errno, -1, "%s: %s", dirp, strerror(errno));
    int rc = MFS_OK;
    struct dirent *de;
    while (rc == MFS_OK && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char sub[4200], full[8400];
        snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (stat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if ((rel[0] || !strcmp(de->d_name, "assets")) && depth < 16)
                rc = add_files(k, root, sub, depth + 1, e);
            continue;
        }
        if (!S_ISREG(st.st_mode) || k->nfiles >= 100000) continue;
        struct kv3_file *v = realloc(k->files, (k->nfiles + 1) * sizeof *v);
        if (!v) {
            rc = mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            break;
        }
        k->files = v;
        mfs_src *fs = mfs_src_new_file(full, e);
        if (!fs) {
            rc = MFS_FATAL;
            break;
        }
        k->files[k->nfiles].src = fs;
        if (!(k->files[k->nfiles].name = strdup(sub))) {
            mfs_src_unref(fs);
            rc = mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            break;
        }
        k->nfiles++;
    }
    closedir(d);
    return rc;
}

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const struct kv3_file *)a)->name, ((const struct kv3_file *)b)->name);
}

static int open_dir(struct kv3 *k, const char *path, mfs_err *e)
{
    MFS_FORWARD(add_files(k, path, "", 0, e));
    qsort(k->files, k->nfiles, sizeof *k->files, cmp_files);
    MFS_FORWARD(load_json(k, "config.json", &k->config, &k->config_text, e));
    MFS_FORWARD(load_json(k, "metadata.json", &k->meta, NULL, e));
    struct kv3_file *w = find_file(k, "model.weights.h5");
    unsigned char magic[4] = {0};
    mfs_err me = {0};
    if (w && w->src->size >= 4) mfs_src_read(w->src, magic, 4, 0, &me);
    struct kv3_file *npz = w && !memcmp(magic, "PK\3\4", 4) ? w : w ? NULL : find_file(k, "model.weights.npz");
    if (npz) {
        char nl[4200];
        snprintf(nl, sizeof nl, "%s/%s", path, npz->name);
        k->npz = keras_npz_open(npz->src, npz->src, 0, nl, e);
        return k->npz ? MFS_OK : MFS_FATAL;
    }
    if (!w) return MFS_OK;
    char label[4200];
    snprintf(label, sizeof label, "%s/model.weights.h5", path);
    k->h5 = h5_model_alloc(w->src, label, "keras-v3", "model.weights");
    if (!k->h5) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    k->h5->config = json_incref(k->config);
    int rc = h5_model_open(k->h5, e);
    if (rc < 0) mfs_err_prefix(e, "model.weights.h5");
    return rc;
}

/* model.weights.npz of the archive, if any (the h5 store is absent). */
static int open_npz(struct kv3 *k, const struct mfs_probe *p, mfs_err *e)
{
    long ni = mfs_zip_find(k->zip, "model.weights.npz");
    if (ni < 0) return MFS_OK;
    const struct mfs_zip_member *zm = &k->zip->m[ni];
    mfs_src *ms = mfs_zip_member_src(k->zip, (size_t)ni, e);
    if (!ms) {
        mfs_err_prefix(e, "model.weights.npz");
        return e->status = MFS_FATAL;
    }
    char label[4200];
    snprintf(label, sizeof label, "%s:model.weights.npz", p->path);
    k->npz = keras_npz_open(ms, zm->method == 0 ? p->src : NULL, zm->data_offset, label, e);
    mfs_src_unref(ms);
    return k->npz ? MFS_OK : MFS_FATAL;
}

static int kv3_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    *state = NULL;
    struct kv3 *k = calloc(1, sizeof *k);
    if (!k) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    *state = k;
    if (p->is_dir) return open_dir(k, p->path, e);
    if (!p->src) return mfs_err_set(e, MFS_FATAL, EINVAL, -1, "not a regular file");
    if (!(k->zip = mfs_zip_open(p->src, e))) return MFS_FATAL;
    MFS_FORWARD(load_json(k, "config.json", &k->config, &k->config_text, e));
    MFS_FORWARD(load_json(k, "metadata.json", &k->meta, NULL, e));
    long wi = mfs_zip_find(k->zip, "model.weights.h5");
    if (wi < 0) return open_npz(k, p, e);
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
    for (size_t i = 0; i < k->nfiles; i++) { /* unzipped variant */
        const struct kv3_file *f = &k->files[i];
        uint32_t id = mfs_tree_add_src_range(t, raw, f->name, f->src, 0, f->src->size);
        if (id && strncmp(f->name, "assets/", 7) == 0 && f->name[7]) {
            if (!assets) assets = mfs_tree_mkdir(t, MFS_ROOT, "assets");
            id = assets ? mfs_tree_add_src_range(t, assets, f->name + 7, f->src, 0, f->src->size) : 0;
        }
        if (!id) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    for (size_t i = 0; k->zip && i < k->zip->count; i++) {
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
    } else if (k->npz) {
        rc = keras_npz_build(k->npz, k->config, t, e);
        if (rc < 0) mfs_err_prefix(e, "model.weights.npz");
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
    keras_npz_free(k->npz);
    h5_warns_free(&k->warns);
    mfs_zip_free(k->zip);
    for (size_t i = 0; i < k->nfiles; i++) {
        free(k->files[i].name);
        mfs_src_unref(k->files[i].src);
    }
    free(k->files);
    json_decref(k->config);
    json_decref(k->meta);
    free(k->config_text);
    free(k);
}

const struct mfs_reader mfs_reader_keras_v3 = {
    .name = "keras-v3",
    .description = "Keras 3 .keras archive: config.json, metadata.json, model.weights.h5 or .npz read in place",
    .flags = MFS_READER_DIR,
    .bid = kv3_bid,
    .open = kv3_open,
    .build = kv3_build,
    .close = kv3_close,
};
