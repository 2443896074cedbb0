/* h5_keras_anon.c: the optimizer weights of Keras 1.x/2.0-era HDF5 models,
 * which have no names: "Variable:0", "Variable_1:0" ... (TensorFlow's
 * names for unnamed variables; 2.1-2.2 put them under "training/Adam/"),
 * or "param_<i>" (Theano). Their meaning is their position: save_model
 * writes optimizer.weights, which Keras 2.0 (keras/optimizers.py,
 * get_updates) builds per class as
 *     SGD      [iterations] + moments             (always, even momentum=0)
 *     RMSprop  accumulators
 *     Adagrad  accumulators
 *     Adadelta accumulators + delta_accumulators
 *     Adam     [iterations] + ms + vs            (2.1.3+: + vhats, which
 *                                                 are zeros(1) unless amsgrad)
 *     Adamax   [iterations] + ms + us
 *     Nadam    [iterations] + ms + vs
 * each slot list holding one variable per *trainable* weight of the
 * model, in model order (layer_names order, then each layer's trainable
 * weights; weight_names lists trainable before non-trainable ones).
 * iterations is a named variable ("iterations:0": optimizer/step, done by
 * the caller) or, when it is anonymous too, a leading scalar.
 *
 * Trainable weights: every weight of a layer whose config (model_config,
 * at any nesting depth) does not say "trainable": false, except
 * BatchNormalization's moving_mean/moving_variance (Keras 1:
 * running_mean/running_std). The mapping is used only when the counts
 * match exactly and every slot has its parameter's shape; otherwise the
 * caller lists the weights by stored name. Caller holds h5_lock. */
#include "readers/h5_lib.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OOM(e) mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory")

int h5_keras_is_anon(const char *s)
{
    const char *last = strrchr(s, '/');
    last = last ? last + 1 : s;
    const char *d = NULL;
    if (!strncmp(last, "Variable", 8)) {
        if (!last[8]) return 1;
        d = last[8] == '_' ? last + 9 : NULL;
    } else if (!strncmp(last, "param_", 6)) {
        d = last + 6;
    }
    if (!d || !*d) return 0;
    for (; *d; d++)
        if (!isdigit((unsigned char)*d)) return 0;
    return 1;
}

/* Slot lists of the Keras 1/2 optimizer classes (see above). */
static size_t class_slots(const char *cls, const char **names)
{
    char lc[32];
    size_t i;
    for (i = 0; cls[i] && i + 1 < sizeof lc; i++) lc[i] = (char)tolower((unsigned char)cls[i]);
    lc[i] = 0;
    size_t n = 0;
    if (!strcmp(lc, "sgd")) names[n++] = "moment";
    else if (!strcmp(lc, "rmsprop") || !strcmp(lc, "adagrad")) names[n++] = "accumulator";
    else if (!strcmp(lc, "adadelta")) names[n++] = "accumulator", names[n++] = "delta_accumulator";
    else if (!strcmp(lc, "adam") || !strcmp(lc, "nadam")) names[n++] = "m", names[n++] = "v";
    else if (!strcmp(lc, "adamax")) names[n++] = "m", names[n++] = "u";
    return n;
}

/* Names of layers whose config says "trainable": false, anywhere in @j. */
static int collect_frozen(json_t *j, struct h5_strv *out, int depth)
{
    if (depth > 64) return 0;
    if (json_is_object(j)) {
        json_t *c = json_object_get(j, "config");
        const char *name = json_string_value(json_object_get(c, "name"));
        if (!name) name = json_string_value(json_object_get(j, "name"));
        if (json_is_object(c) && json_is_false(json_object_get(c, "trainable")) && name &&
            h5_strv_push(out, name) < 0)
            return -1;
        const char *k;
        json_t *x;
        json_object_foreach(j, k, x) if (collect_frozen(x, out, depth + 1) < 0) return -1;
    } else if (json_is_array(j)) {
        size_t i;
        json_t *x;
        json_array_foreach(j, i, x) if (collect_frozen(x, out, depth + 1) < 0) return -1;
    }
    return 0;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Is parameter @p trainable (see above)? */
static int trainable(const struct h5_kparam *p, const struct h5_strv *frozen)
{
    if (has_suffix(p->key, "moving_mean") || has_suffix(p->key, "moving_variance") ||
        has_suffix(p->key, "running_mean") || has_suffix(p->key, "running_std"))
        return 0;
    for (size_t i = 0; i < frozen->n; i++) {
        if (!strcmp(p->layer, frozen->v[i])) return 0;
        size_t fl = strlen(frozen->v[i]); /* a frozen layer nested in the key's path */
        for (const char *c = p->key; (c = strstr(c, frozen->v[i])) != NULL; c++)
            if ((c == p->key || c[-1] == '/') && c[fl] == '/') return 0;
    }
    return 1;
}

static int same_dims(const mfs_tensor *a, const mfs_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* Does the blocked layout [lead] + k lists of np slots fit? */
static int layout_fits(const struct h5_kopt *w, size_t lead, size_t k, const struct h5_kparam *const *p,
                       size_t np, const char *const *names)
{
    for (size_t s = 0; s < k; s++)
        for (size_t j = 0; j < np; j++) {
            const mfs_tensor *a = w[lead + s * np + j].tn;
            int placeholder = !strcmp(names[s], "vhat") && a->ndim == 1 && a->shape[0] == 1;
            if (!same_dims(a, p[j]->tn) && !placeholder) return 0;
        }
    return 1;
}

int h5_keras_anon_map(struct h5_model *m, mfs_tree *t, uint32_t opt_dir, hid_t og, json_t *model_cfg,
                      json_t *opt_cfg, const struct h5_kparam *params, size_t nparams,
                      struct h5_kopt *w, size_t nw, mfs_err *e)
{
    const char *cls = json_string_value(json_object_get(opt_cfg, "class_name"));
    const char *names[3];
    size_t k = cls ? class_slots(cls, names) : 0;
    if (!k || !nw) return 0;
    struct h5_strv frozen = {0};
    const struct h5_kparam **p = malloc((nparams ? nparams : 1) * sizeof *p);
    if (!p || collect_frozen(model_cfg, &frozen, 0) < 0) {
        free(p);
        h5_strv_free(&frozen);
        return OOM(e);
    }
    size_t np = 0;
    for (size_t i = 0; i < nparams; i++)
        if (trainable(&params[i], &frozen)) p[np++] = &params[i];
    h5_strv_free(&frozen);
    /* Adam of 2.1.3+ has a third list (vhats) */
    if (k == 2 && !strcmp(names[0], "m") && !strcmp(names[1], "v") && np && (nw == 3 * np || nw == 3 * np + 1))
        names[k++] = "vhat";
    size_t lead = np && nw == k * np + 1 && w[0].tn->nelems == 1 ? 1 : 0;
    if (!np || nw != lead + k * np || !layout_fits(w, lead, k, p, np, names)) {
        h5_warn(m, "optimizer_weights: %zu unnamed weights do not match %s's %zu slot(s) for %zu "
                "trainable weights (count or shapes): listed by stored name", nw, cls, k, np);
        free(p);
        return 0;
    }
    int rc = 1;
    for (size_t s = 0; s < k && rc == 1; s++)
        for (size_t j = 0; j < np && rc == 1; j++) {
            struct h5_kopt *x = &w[lead + s * np + j];
            char *path = malloc(strlen(p[j]->key) + strlen(names[s]) + 16);
            if (!path) {
                rc = OOM(e);
                break;
            }
            sprintf(path, "state/%s/%s", p[j]->key, names[s]);
            if (!mfs_tree_add_tensor(t, opt_dir, path, x->tn)) rc = OOM(e);
            free(path);
            if (!x->tn->info) x->tn->info = json_object();
            json_object_set_new(x->tn->info, "param", json_string(p[j]->key));
            json_object_set_new(x->tn->info, "slot", json_string(names[s]));
            json_object_set_new(x->tn->info, "matched_by", json_string("position"));
        }
    if (rc == 1 && lead && !mfs_tree_lookup_path(t, opt_dir, "step")) { /* anonymous iterations */
        hid_t d = H5Dopen2(og, w[0].stored, H5P_DEFAULT);
        long long v;
        if (d >= 0 && h5_read_scalar_i64(d, &v) == MFS_OK && !mfs_tree_add_textf(t, opt_dir, "step", "%lld\n", v))
            rc = OOM(e);
        if (d >= 0) H5Dclose(d);
        H5Eclear2(H5E_DEFAULT);
        char *vp = malloc(strlen(w[0].s) + 8);
        if (vp) sprintf(vp, "vars/%s", w[0].s);
        if (rc == 1 && (!vp || !mfs_tree_add_tensor(t, opt_dir, vp, w[0].tn))) rc = OOM(e);
        free(vp);
    }
    free(p);
    return rc;
}
