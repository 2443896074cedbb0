/* h5_keras.c: Keras 1/2 (and Keras 3 legacy-format) HDF5 models and weights.
 *
 * Layout (FORMATS.md §1, §2.1): the weights group (`/model_weights` of a
 * full model, the root of a save_weights file) lists its layers in the
 * attribute `layer_names` (model order, possibly split into
 * layer_names0, layer_names1, ...); each layer group lists its weights
 * in `weight_names` (trainable then non-trainable), each the path of a
 * dataset under the layer group ("dense_1/kernel:0" -> group dense_1 ->
 * dataset "kernel:0"). We resolve datasets only through these lists.
 *
 * Names shown:
 *   layers/<layer>/<weight>   the weight name without ":0", and without
 *                             the layer's own prefix when it carries one
 *                             ("dense_1/kernel:0" -> kernel, Keras 1
 *                             "dense_1_W:0" -> W; nested models keep the
 *                             inner path: decoder/dense_3/kernel);
 *                             every layer of layer_names gets a
 *                             directory, in that order, even without
 *                             weights.
 *   tensors/<name>            the weight name without ":0" (the layer is
 *                             prefixed on a clash); info.json keeps the
 *                             stored name.
 *   metadata/                 keras_version, backend, model_config.json,
 *                             training_config.json, other root attributes.
 *   optimizer/                config.json (training_config's
 *                             optimizer_config), step (iterations),
 *                             state/<param>/<slot> where the slot's name
 *                             contains a model tensor's name, or for Keras
 *                             2.0's anonymous "Variable_N" by position
 *                             (h5_keras_anon.c), vars/<name> for the rest
 *                             (hyperparameters, anonymous weights whose
 *                             count or shapes do not fit).
 * Caller holds h5_lock. */
#include "readers/h5_lib.h"
#include "core/log.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OOM(e) mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory")

/* Model tensor keys given so far (for clashes and optimizer matching),
 * with their layer and tensor (model order, for positional matching). */
struct keys {
    char **v;
    struct h5_kparam *p; /* p[i].key = v[i]; p[i].layer owned */
    size_t n, cap;
};

static int keys_has(const struct keys *k, const char *s)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->v[i], s) == 0) return 1;
    return 0;
}

static int keys_add(struct keys *k, const char *s, const char *layer, mfs_tensor *tn)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        char **v = realloc(k->v, cap * sizeof *v);
        if (!v) return -1;
        k->v = v;
        struct h5_kparam *p = realloc(k->p, cap * sizeof *p);
        if (!p) return -1;
        k->p = p;
        k->cap = cap;
    }
    k->v[k->n] = strdup(s);
    char *l = strdup(layer);
    if (!k->v[k->n] || !l) {
        free(k->v[k->n]);
        free(l);
        return -1;
    }
    k->p[k->n] = (struct h5_kparam){k->v[k->n], l, tn};
    k->n++;
    return 0;
}

static void keys_free(struct keys *k)
{
    for (size_t i = 0; i < k->n; i++) {
        free(k->v[i]);
        free((char *)k->p[i].layer);
    }
    free(k->v);
    free(k->p);
}

/* layers/<layer>/<this>: see the header comment. Caller frees. */
static char *short_name(const char *layer, const char *weight)
{
    char *s = h5_strip_colon(weight);
    if (!s) return NULL;
    size_t ll = strlen(layer);
    /* a component equal to the layer name, not the last one */
    for (char *p = s; *p;) {
        char *slash = strchr(p, '/');
        if (!slash) break;
        if ((size_t)(slash - p) == ll && strncmp(p, layer, ll) == 0) {
            memmove(s, slash + 1, strlen(slash + 1) + 1);
            return s;
        }
        p = slash + 1;
    }
    if (!strchr(s, '/') && strncmp(s, layer, ll) == 0 && s[ll] == '_' && s[ll + 1])
        memmove(s, s + ll + 1, strlen(s + ll + 1) + 1);
    return s;
}

static void info_set(mfs_tensor *tn, const char *key, const char *val)
{
    if (!tn->info) tn->info = json_object();
    if (tn->info) json_object_set_new(tn->info, key, json_string(val));
}

/* One layer: its weights into layers/ and tensors/. */
static int add_layer(struct h5_model *m, mfs_tree *t, hid_t wg, const char *wg_path,
                     const char *layer, uint32_t layers_dir, struct keys *keys, mfs_err *e)
{
    uint32_t ldir = mfs_tree_mkdir(t, layers_dir, layer);
    if (!ldir) return OOM(e);
    if (H5Lexists(wg, layer, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return MFS_OK; /* a layer without a group: no weights */
    }
    hid_t lg = H5Gopen2(wg, layer, H5P_DEFAULT);
    if (lg < 0) {
        H5Eclear2(H5E_DEFAULT);
        h5_warn(m, "layer %s: not a group", layer);
        return MFS_OK;
    }
    struct h5_strv wn = {0};
    mfs_err ae = {0};
    int rc = h5_attr_strings_chunked(lg, "weight_names", &wn, &ae);
    H5Gclose(lg);
    if (rc == MFS_FATAL) {
        h5_warn(m, "layer %s: weight_names: %s", layer, ae.msg);
        return MFS_OK;
    }
    rc = MFS_OK;
    for (size_t i = 0; i < wn.n && rc == MFS_OK; i++) {
        const char *w = wn.v[i];
        size_t plen = strlen(wg_path) + strlen(layer) + strlen(w) + 3;
        char *path = malloc(plen);
        if (!path) {
            rc = OOM(e);
            break;
        }
        snprintf(path, plen, "%s%s%s/%s", wg_path, wg_path[0] ? "/" : "", layer, w);
        mfs_tensor *tn = h5_model_find(m, path);
        free(path);
        if (!tn) {
            h5_warn(m, "layer %s: weight %s: no numeric dataset of that name", layer, w);
                continue;
        }
        char *key = h5_strip_colon(w), *sn = short_name(layer, w);
        if (!key || !sn) {
            free(key);
            free(sn);
            rc = OOM(e);
            break;
        }
        if (keys_has(keys, key)) { /* two layers share a weight name */
            char *k2 = malloc(strlen(layer) + strlen(key) + 2);
            if (k2) sprintf(k2, "%s/%s", layer, key);
            free(key);
            key = k2;
        }
        info_set(tn, "stored_name", w);
        info_set(tn, "layer", layer);
        if (!key || keys_add(keys, key, layer, tn) < 0 || !mfs_tree_add_model_tensor(t, key, tn) ||
            !mfs_tree_add_tensor(t, ldir, sn, tn))
            rc = OOM(e);
        free(key);
        free(sn);
    }
    h5_strv_free(&wn);
    return rc;
}

/* metadata/ from the root attributes; optimizer/config.json from
 * training_config. */
static int add_metadata(struct h5_model *m, mfs_tree *t, hid_t root, mfs_err *e)
{
    static const char *const skip[] = {"model_config", "training_config", "layer_names*", NULL};
    MFS_FORWARD(h5_meta_attrs(m, t, root, skip, e));
    uint32_t meta = mfs_tree_top(t, MFS_TOP_METADATA);
    if (!meta) return OOM(e);
    static const char *const cfgs[] = {"model_config", "training_config"};
    for (int i = 0; i < 2; i++) {
        char *s = h5_attr_string(root, cfgs[i], NULL);
        if (!s) continue;
        json_error_t je;
        json_t *j = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        char name[64];
        uint32_t id;
        if (j) {
            snprintf(name, sizeof name, "%s.json", cfgs[i]);
            id = mfs_tree_add_json(t, meta, name, j);
            json_t *oc = i == 1 ? json_object_get(j, "optimizer_config") : NULL;
            if (id && oc) {
                uint32_t opt = mfs_tree_top(t, MFS_TOP_OPTIMIZER);
                if (!opt || !mfs_tree_add_json(t, opt, "config.json", oc)) id = 0;
            }
        } else {
            h5_warn(m, "%s is not valid JSON (%s); shown as text", cfgs[i], je.text);
            id = mfs_tree_add_textf(t, meta, cfgs[i], "%s\n", s);
        }
        json_decref(j);
        free(s);
        if (!id) return OOM(e);
    }
    /* keras_version/backend may sit on the weights group only */
    if (!mfs_tree_lookup_path(t, meta, "keras_version") && m->layout == H5L_KERAS_FULL &&
        H5Lexists(root, "model_weights", H5P_DEFAULT) > 0) {
        hid_t wg = H5Gopen2(root, "model_weights", H5P_DEFAULT);
        if (wg >= 0) {
            static const char *const names[] = {"keras_version", "backend"};
            for (int i = 0; i < 2; i++) {
                char *s = h5_attr_string(wg, names[i], NULL);
                if (s && !mfs_tree_add_textf(t, meta, names[i], "%s\n", s)) {
                    free(s);
                    H5Gclose(wg);
                    return OOM(e);
                }
                free(s);
            }
            H5Gclose(wg);
        }
    }
    H5Eclear2(H5E_DEFAULT);
    return MFS_OK;
}

/* Splits @s at '/' into a malloc'd vector of pointers into @s (modified). */
static size_t split(char *s, char ***out)
{
    size_t n = 1;
    for (char *p = s; *p; p++) n += *p == '/';
    char **v = malloc(n * sizeof *v);
    *out = v;
    if (!v) return 0;
    size_t k = 0;
    v[k++] = s;
    for (char *p = s; *p; p++)
        if (*p == '/') {
            *p = 0;
            v[k++] = p + 1;
        }
    return k;
}

static char *join(char **c, size_t a, size_t b)
{
    size_t len = 1;
    for (size_t i = a; i < b; i++) len += strlen(c[i]) + 1;
    char *r = malloc(len), *p = r;
    if (!r) return NULL;
    *p = 0;
    for (size_t i = a; i < b; i++) p += sprintf(p, i > a ? "/%s" : "%s", c[i]);
    return r;
}

/* Finds the model tensor an optimizer weight name @s (":0" stripped)
 * belongs to: "<prefix>/<param>/<slot>" (TF-Keras optimizer_v2),
 * "<prefix>/<slot>/<param>" (TF-Keras >= 2.11), or
 * "<prefix>/<param with / -> _>_<slot>" (Keras 3). Sets *param, *slot
 * (malloc'd) and returns 1, or 0. */
static int match_slot(const char *s, const struct keys *keys, char **param, char **slot)
{
    *param = *slot = NULL;
    char *copy = strdup(s), **c = NULL;
    if (!copy) return 0;
    size_t n = split(copy, &c);
    int found = 0;
    for (size_t p = 0; !found && n >= 2 && p + 1 < n; p++) { /* form A */
        char *k = join(c, p, n - 1);
        if (k && keys_has(keys, k)) {
            *param = k;
            *slot = strdup(c[n - 1]);
            found = 1;
        } else {
            free(k);
        }
    }
    for (size_t p = 0; !found && n >= 2 && p + 1 < n; p++) { /* form B */
        char *k = join(c, p + 1, n);
        if (k && keys_has(keys, k)) {
            *param = k;
            *slot = strdup(c[p]);
            found = 1;
        } else {
            free(k);
        }
    }
    if (!found && n >= 1) { /* form C: longest flattened key prefix */
        const char *last = c[n - 1];
        size_t best = 0;
        for (size_t i = 0; i < keys->n; i++) {
            size_t kl = strlen(keys->v[i]);
            if (kl <= best || strlen(last) <= kl + 1 || last[kl] != '_') continue;
            int ok = 1;
            for (size_t j = 0; j < kl && ok; j++)
                ok = last[j] == (keys->v[i][j] == '/' ? '_' : keys->v[i][j]);
            if (!ok) continue;
            free(*param);
            free(*slot);
            *param = strdup(keys->v[i]);
            *slot = strdup(last + kl + 1);
            best = kl;
            found = 1;
        }
    }
    free(c);
    free(copy);
    if (found && (!*param || !*slot)) {
        free(*param);
        free(*slot);
        *param = *slot = NULL;
        found = 0;
    }
    return found;
}

static int is_step_name(const char *s)
{
    const char *last = strrchr(s, '/');
    last = last ? last + 1 : s;
    return strcmp(last, "iter") == 0 || strcmp(last, "iterations") == 0 ||
           strcmp(last, "iteration") == 0;
}

static int add_optimizer(struct h5_model *m, mfs_tree *t, hid_t root, const struct keys *keys,
                         mfs_err *e)
{
    if (H5Lexists(root, "optimizer_weights", H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return MFS_OK;
    }
    hid_t og = H5Gopen2(root, "optimizer_weights", H5P_DEFAULT);
    if (og < 0) {
        H5Eclear2(H5E_DEFAULT);
        return MFS_OK;
    }
    struct h5_strv wn = {0};
    mfs_err ae = {0};
    int rc = h5_attr_strings_chunked(og, "weight_names", &wn, &ae);
    if (rc == MFS_FATAL) {
        h5_warn(m, "optimizer_weights: weight_names: %s", ae.msg);
    }
    rc = MFS_OK;
    uint32_t opt = wn.n ? mfs_tree_top(t, MFS_TOP_OPTIMIZER) : 0;
    struct h5_kopt *anon = calloc(wn.n + 1, sizeof *anon);
    size_t nanon = 0, named = 0; /* Keras 2.0's "Variable_N", others */
    if ((wn.n && !opt) || !anon) rc = OOM(e);
    for (size_t i = 0; i < wn.n && rc == MFS_OK; i++) {
        const char *w = wn.v[i];
        char *path = malloc(strlen(w) + 32);
        if (!path) {
            rc = OOM(e);
            break;
        }
        sprintf(path, "optimizer_weights/%s", w);
        mfs_tensor *tn = h5_model_find(m, path);
        free(path);
        if (!tn) {
            h5_warn(m, "optimizer weight %s: no numeric dataset of that name", w);
                continue;
        }
        info_set(tn, "stored_name", w);
        char *s = h5_strip_colon(w), *param = NULL, *slot = NULL;
        if (!s) {
            rc = OOM(e);
            break;
        }
        if (is_step_name(s) && tn->nelems == 1) {
            hid_t d = H5Dopen2(og, w, H5P_DEFAULT);
            long long v;
            if (d >= 0 && h5_read_scalar_i64(d, &v) == MFS_OK &&
                !mfs_tree_lookup_path(t, opt, "step") && !mfs_tree_add_textf(t, opt, "step", "%lld\n", v))
                rc = OOM(e);
            if (d >= 0) H5Dclose(d);
            H5Eclear2(H5E_DEFAULT);
        }
        int step = is_step_name(s) && tn->nelems == 1;
        if (rc == MFS_OK && !step && h5_keras_is_anon(s)) { /* placed below, by position */
            anon[nanon++] = (struct h5_kopt){w, s, tn};
            continue;
        }
        named += !step;
        if (rc == MFS_OK && match_slot(s, keys, &param, &slot)) {
            char *sp = malloc(strlen(param) + strlen(slot) + 16);
            if (!sp) rc = OOM(e);
            else {
                sprintf(sp, "state/%s/%s", param, slot);
                if (!mfs_tree_add_tensor(t, opt, sp, tn)) rc = OOM(e);
                info_set(tn, "param", param);
                free(sp);
            }
        } else if (rc == MFS_OK) {
            char *vp = malloc(strlen(s) + 8);
            if (!vp) rc = OOM(e);
            else {
                sprintf(vp, "vars/%s", s);
                if (!mfs_tree_add_tensor(t, opt, vp, tn)) rc = OOM(e);
                free(vp);
            }
        }
        free(param);
        free(slot);
        free(s);
    }
    /* anonymous weights: by Keras' order when nothing else is named */
    int mapped = 0;
    if (rc == MFS_OK && nanon && !named) {
        json_t *cfg[2] = {NULL, NULL};
        static const char *const names[2] = {"model_config", "training_config"};
        for (int k = 0; k < 2; k++) {
            char *js = h5_attr_string(root, names[k], NULL);
            cfg[k] = js ? json_loads(js, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
            free(js);
        }
        H5Eclear2(H5E_DEFAULT);
        mapped = h5_keras_anon_map(m, t, opt, og, cfg[0], json_object_get(cfg[1], "optimizer_config"),
                                   keys->p, keys->n, anon, nanon, e);
        json_decref(cfg[0]);
        json_decref(cfg[1]);
        if (mapped < 0) rc = mapped;
    }
    for (size_t i = 0; i < nanon; i++) {
        char *vp = rc == MFS_OK && !mapped ? malloc(strlen(anon[i].s) + 8) : NULL;
        if (vp) {
            sprintf(vp, "vars/%s", anon[i].s);
            if (!mfs_tree_add_tensor(t, opt, vp, anon[i].tn)) rc = OOM(e);
            free(vp);
        } else if (rc == MFS_OK && !mapped) {
            rc = OOM(e);
        }
        free((char *)anon[i].s);
    }
    free(anon);
    h5_strv_free(&wn);
    H5Gclose(og);
    return rc;
}

/* H5Literate callback: appends the names of the groups (not "optimizer_
 * weights" or "top_level_model_weights") to the h5_strv @data. */
static herr_t group_name_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    struct h5_strv *s = data;
    H5O_info_t oi;
    if (info->type != H5L_TYPE_HARD || strcmp(name, "optimizer_weights") == 0 ||
        strcmp(name, "top_level_model_weights") == 0)
        return 0;
    if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    if (oi.type != H5O_TYPE_GROUP) return 0;
    if (h5_strv_push(s, name) < 0) return -1;
    return s->n > 1000000 ? 1 : 0;
}

int h5_keras_build(struct h5_model *m, mfs_tree *t, mfs_err *e)
{
    hid_t root = H5Gopen2(m->file, "/", H5P_DEFAULT);
    if (root < 0) return h5_err(e, MFS_FATAL, EINVAL, "cannot open the root group");
    struct keys keys = {0};
    int rc = add_metadata(m, t, root, e);
    const char *wg_path = m->layout == H5L_KERAS_FULL ? "model_weights" : "";
    hid_t wg = H5I_INVALID_HID;
    if (rc == MFS_OK) {
        if (wg_path[0] && H5Lexists(root, wg_path, H5P_DEFAULT) <= 0) {
            H5Eclear2(H5E_DEFAULT);
            goto optimizer; /* a model saved without weights */
        }
        wg = H5Gopen2(root, wg_path[0] ? wg_path : ".", H5P_DEFAULT);
        if (wg < 0) {
            rc = h5_err(e, MFS_FATAL, EINVAL, "cannot open the weights group /%s", wg_path);
            goto out;
        }
        struct h5_strv ln = {0};
        mfs_err ae = {0};
        int lr = h5_attr_strings_chunked(wg, "layer_names", &ln, &ae);
        if (lr == MFS_FATAL) {
            rc = mfs_err_set(e, MFS_FATAL, EINVAL, -1, "/%s: layer_names: %s", wg_path, ae.msg);
            goto out;
        }
        if (lr == MFS_FAILED) { /* no layer_names: the groups, in name order */
            hsize_t pos = 0;
            if (H5Literate(wg, H5_INDEX_NAME, H5_ITER_INC, &pos, group_name_cb, &ln) < 0)
                H5Eclear2(H5E_DEFAULT);
            h5_warn(m, "/%s has no layer_names: its %zu groups are shown as layers in name order",
                    wg_path, ln.n);
        }
        uint32_t layers = mfs_tree_top(t, MFS_TOP_LAYERS);
        if (!layers) rc = OOM(e);
        for (size_t i = 0; i < ln.n && rc == MFS_OK; i++)
            rc = add_layer(m, t, wg, wg_path, ln.v[i], layers, &keys, e);
        /* weights owned by the model itself (newer TF-Keras, Keras 3) */
        int listed = 0;
        for (size_t i = 0; i < ln.n; i++) listed |= strcmp(ln.v[i], "top_level_model_weights") == 0;
        h5_strv_free(&ln);
        if (rc == MFS_OK && !listed && H5Lexists(wg, "top_level_model_weights", H5P_DEFAULT) > 0) {
            hid_t tg = H5Gopen2(wg, "top_level_model_weights", H5P_DEFAULT);
            struct h5_strv tw = {0};
            mfs_err te = {0};
            if (tg >= 0 && h5_attr_strings_chunked(tg, "weight_names", &tw, &te) == MFS_OK && tw.n)
                rc = add_layer(m, t, wg, wg_path, "top_level_model_weights", layers, &keys, e);
            h5_strv_free(&tw);
            if (tg >= 0) H5Gclose(tg);
        }
        H5Eclear2(H5E_DEFAULT);
    }
optimizer:
    if (rc == MFS_OK) rc = add_optimizer(m, t, root, &keys, e);
out:
    keys_free(&keys);
    if (wg >= 0) H5Gclose(wg);
    H5Gclose(root);
    return rc;
}
