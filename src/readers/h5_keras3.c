/* h5_keras3.c: Keras 3 weights (.weights.h5, and model.weights.h5 in .keras).
 *
 * Layout (FORMATS.md §2.2): every saveable object at path P has a group
 * P/vars holding datasets "0", "1", ... in the object's variable order.
 * The model's layers are under /layers (TF-Keras 2.13:
 * /_layer_checkpoint_dependencies), named not by the layer's .name but
 * by the snake_case class name, uniquified in model order: Dense, Dense
 * -> dense, dense_1 (keras saving_lib._save_container_state and
 * naming.to_snake_case). The optimizer's variables are /optimizer/vars:
 * iteration, learning_rate, then its slots (Adam: momentum and velocity
 * of each trainable variable in turn).
 *
 * Names shown:
 *   layers/<name>/<rest>   <rest> is the path under the layer's group
 *                          (vars/0, cell/vars/1 ...). <name> is the
 *                          layer's .name from the model config (the
 *                          .keras config.json) by replaying Keras' naming
 *                          over config.layers; without a config, the
 *                          group's vars/@name attribute when present
 *                          (newer Keras), else the stored group name.
 *                          Order: config order, else natural name order.
 *   tensors/<path>         the dataset's HDF5 path (layers/dense/vars/0),
 *                          which is what EXPECTED/h5py call it.
 *   optimizer/vars/<i>     every optimizer variable; optimizer/step (the
 *                          iteration count); with a model config also
 *                          state/<param>/<slot>: slot groups are matched
 *                          to the model's variables in order, checking
 *                          shapes, interleaved (Adam) or blocked
 *                          (RMSprop); slot names come from the optimizer
 *                          class when known. optimizer/config.json from
 *                          compile_config.optimizer.
 * Caller holds h5_lock. */
#include "readers/h5_lib.h"
#include "core/log.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OOM(e) mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory")

/* ---- naming ----------------------------------------------------------- */

/* keras.src.utils.naming.to_snake_case, regex by regex. Caller frees. */
static char *snake_case(const char *in)
{
    size_t n = strlen(in);
    char *a = malloc(n + 1), *b = malloc(2 * n + 1), *c = malloc(4 * n + 1);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return NULL;
    }
    size_t k = 0; /* re.sub(r"\W+", "", name) */
    for (size_t i = 0; i < n; i++)
        if (isalnum((unsigned char)in[i]) || in[i] == '_' || (unsigned char)in[i] >= 0x80) a[k++] = in[i];
    a[k] = 0;
    /* re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name): non-overlapping, left to right */
    size_t j = 0;
    for (size_t i = 0; i < k;) {
        if (i + 2 < k && isupper((unsigned char)a[i + 1]) && islower((unsigned char)a[i + 2])) {
            size_t end = i + 2;
            while (end < k && islower((unsigned char)a[end])) end++;
            b[j++] = a[i];
            b[j++] = '_';
            memcpy(b + j, a + i + 1, end - i - 1);
            j += end - i - 1;
            i = end;
        } else {
            b[j++] = a[i++];
        }
    }
    b[j] = 0;
    /* re.sub("([a-z])([A-Z])", r"\1_\2", name).lower() */
    size_t m = 0;
    for (size_t i = 0; i < j;) {
        if (i + 1 < j && islower((unsigned char)b[i]) && isupper((unsigned char)b[i + 1])) {
            c[m++] = b[i];
            c[m++] = '_';
            c[m++] = b[i + 1];
            i += 2;
        } else {
            c[m++] = b[i++];
        }
    }
    c[m] = 0;
    for (size_t i = 0; i < m; i++) c[i] = (char)tolower((unsigned char)c[i]);
    free(a);
    free(b);
    return c;
}

/* Natural order of paths: component by component, all-digit components
 * by value (vars/2 before vars/10). */
static int natcmp(const char *x, const char *y)
{
    while (*x && *y) {
        if (isdigit((unsigned char)*x) && isdigit((unsigned char)*y)) {
            const char *xe = x, *ye = y;
            while (isdigit((unsigned char)*xe)) xe++;
            while (isdigit((unsigned char)*ye)) ye++;
            while (*x == '0' && x + 1 < xe) x++;
            while (*y == '0' && y + 1 < ye) y++;
            if (xe - x != ye - y) return (xe - x) < (ye - y) ? -1 : 1;
            int c = strncmp(x, y, (size_t)(xe - x));
            if (c) return c;
            x = xe, y = ye;
            continue;
        }
        if (*x != *y) {
            if (*x == '/') return -1; /* "a/..." before "a_1" */
            if (*y == '/') return 1;
            return (unsigned char)*x < (unsigned char)*y ? -1 : 1;
        }
        x++, y++;
    }
    return *x ? 1 : *y ? -1 : 0;
}

/* ---- the layer list --------------------------------------------------- */

struct layer {
    char *stored;   /* group name under /layers */
    char *display;  /* layers/<display> */
};

struct layers {
    struct layer *v;
    size_t n, cap;
};

static void layers_free(struct layers *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i].stored), free(l->v[i].display);
    free(l->v);
}

static int layers_add(struct layers *l, const char *stored, const char *display)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].stored, stored) == 0) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct layer *v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].stored = strdup(stored);
    l->v[l->n].display = strdup(display);
    if (!l->v[l->n].stored || !l->v[l->n].display) {
        free(l->v[l->n].stored), free(l->v[l->n].display);
        return -1;
    }
    l->n++;
    return 0;
}

static int cmp_group_nat(const void *a, const void *b)
{
    return natcmp((*(const struct k3_group *const *)a)->stored,
                  (*(const struct k3_group *const *)b)->stored);
}

static int cmp_group_str(const void *a, const void *b)
{
    return strcmp((*(const struct k3_group *const *)a)->stored,
                  (*(const struct k3_group *const *)b)->stored);
}

/* The model config's layer list (Sequential/Functional), or NULL. */
static json_t *config_layers(json_t *cfg)
{
    if (!cfg) return NULL;
    json_t *inner = json_object_get(cfg, "config");
    json_t *ls = inner ? json_object_get(inner, "layers") : NULL;
    return json_is_array(ls) ? ls : NULL;
}

/* 1 when @name is one of the @n groups of @by_name (sorted by strcmp). */
static int group_exists(struct k3_group *const *by_name, size_t n, const char *name)
{
    struct k3_group key = {.stored = name}, *kp = &key;
    return n && bsearch(&kp, by_name, n, sizeof *by_name, cmp_group_str) != NULL;
}

/* Fills @out: layers in config order (mapped through Keras' container
 * naming), then any other groups of the layers root in natural order.
 * @return 0, or -1 on OOM. */
static int list_layers(const struct k3_in *in, struct layers *out)
{
    size_t ng = in->ng;
    struct k3_group **nat = malloc((ng ? ng : 1) * sizeof *nat);
    struct k3_group **by_name = malloc((ng ? ng : 1) * sizeof *by_name);
    if (!nat || !by_name) {
        free(nat);
        free(by_name);
        return -1;
    }
    for (size_t i = 0; i < ng; i++) nat[i] = by_name[i] = &in->g[i];
    qsort(nat, ng, sizeof *nat, cmp_group_nat);
    qsort(by_name, ng, sizeof *by_name, cmp_group_str);
    int rc = 0;
    json_t *cl = config_layers(in->config);
    if (cl) {
        /* replay _save_container_state's naming */
        struct h5_strv used = {0};
        size_t *count = calloc(json_array_size(cl) + 1, sizeof *count);
        size_t i;
        json_t *ly;
        json_array_foreach(cl, i, ly) {
            const char *cls = json_string_value(json_object_get(ly, "class_name"));
            json_t *lc = json_object_get(ly, "config");
            const char *name = json_string_value(json_object_get(lc, "name"));
            if (!name) name = json_string_value(json_object_get(ly, "name"));
            if (!cls || !count) continue;
            char *sn = snake_case(cls);
            if (!sn) {
                rc = -1;
                break;
            }
            size_t k;
            for (k = 0; k < used.n && strcmp(used.v[k], sn) != 0; k++) {}
            char stored[600];
            if (k == used.n) {
                char **v = realloc(used.v, (used.n + 1) * sizeof *v);
                if (!v) {
                    free(sn);
                    rc = -1;
                    break;
                }
                used.v = v;
                used.v[used.n++] = sn;
                snprintf(stored, sizeof stored, "%s", sn);
            } else {
                count[k]++;
                snprintf(stored, sizeof stored, "%s_%zu", sn, count[k]);
                free(sn);
            }
            if (group_exists(by_name, ng, stored) && layers_add(out, stored, name ? name : stored) < 0) {
                rc = -1;
                break;
            }
        }
        free(count);
        h5_strv_free(&used);
    }
    for (size_t i = 0; rc == 0 && i < ng; i++) {
        /* newer Keras writes the layer's .name as vars/@name */
        const char *display = nat[i]->display;
        if (display && (!display[0] || strchr(display, '/'))) display = NULL;
        if (layers_add(out, nat[i]->stored, display ? display : nat[i]->stored) < 0) rc = -1;
    }
    free(nat);
    free(by_name);
    return rc;
}

/* ---- optimizer slots ---------------------------------------------------- */

struct tref {
    const char *key;
    mfs_tensor *tn;
    const struct k3_var *var;
};

static int same_shape(const mfs_tensor *a, const mfs_tensor *b)
{
    if (a->ndim != b->ndim || a->dtype != b->dtype) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* Slot names of Keras 3 optimizers (keras/src/optimizers/<name>.py). */
static size_t slot_names(json_t *opt, const char **names)
{
    const char *cls = json_string_value(json_object_get(opt, "class_name"));
    json_t *c = json_object_get(opt, "config");
    if (!cls) return 0;
    char *lc = snake_case(cls);
    size_t n = 0;
    if (!lc) return 0;
    if (!strcmp(lc, "adam") || !strcmp(lc, "adam_w") || !strcmp(lc, "nadam") || !strcmp(lc, "lamb")) {
        names[n++] = "momentum", names[n++] = "velocity";
        if (json_is_true(json_object_get(c, "amsgrad"))) names[n++] = "velocity_hat";
    } else if (!strcmp(lc, "adamax")) {
        names[n++] = "m", names[n++] = "u";
    } else if (!strcmp(lc, "sgd")) {
        if (json_number_value(json_object_get(c, "momentum")) != 0) names[n++] = "momentum";
    } else if (!strcmp(lc, "rm_sprop") || !strcmp(lc, "rmsprop")) {
        names[n++] = "velocity";
        if (json_number_value(json_object_get(c, "momentum")) > 0) names[n++] = "momentum";
        if (json_is_true(json_object_get(c, "centered"))) names[n++] = "average_gradient";
    } else if (!strcmp(lc, "adagrad")) {
        names[n++] = "accumulator";
    } else if (!strcmp(lc, "adadelta")) {
        names[n++] = "accumulated_grad", names[n++] = "accumulated_delta";
    } else if (!strcmp(lc, "lion")) {
        names[n++] = "momentum";
    } else if (!strcmp(lc, "ftrl")) {
        names[n++] = "accumulator", names[n++] = "linear";
    }
    free(lc);
    return n;
}

/* Maps optimizer slot variables opt[h..] onto model variables @p (model
 * order, shapes checked). Adds optimizer/state/<key>/<slot>. */
static int map_slots(mfs_tree *t, uint32_t opt_dir, json_t *optcfg, struct tref *o, size_t no,
                     struct tref *p, size_t np, mfs_err *e)
{
    size_t h = 0;
    while (h < no && h < 2 && o[h].tn->ndim == 0) h++;
    size_t r = no - h;
    if (r == 0 || np == 0) return MFS_OK;
    const char *names[4];
    size_t tk = slot_names(optcfg, names);
    size_t cand[6], nc = 0;
    if (tk) cand[nc++] = tk;
    for (size_t k = 1; k <= 4; k++)
        if (k != tk) cand[nc++] = k;
    size_t *match = calloc(r, sizeof *match);
    if (!match) return OOM(e);
    for (size_t ci = 0; ci < nc; ci++) {
        size_t k = cand[ci];
        if (r % k) continue;
        size_t n = r / k;
        for (int blocked = 0; blocked < 2; blocked++) {
            if (k == 1 && blocked) continue;
            int ok = 1;
            size_t pi = 0;
            for (size_t j = 0; j < n && ok; j++) {
                struct tref *g0 = &o[h + (blocked ? j : j * k)];
                for (size_t s = 1; s < k && ok; s++)
                    ok = same_shape(g0->tn, o[h + (blocked ? s * n + j : j * k + s)].tn);
                while (ok && pi < np && !same_shape(p[pi].tn, g0->tn)) pi++;
                if (pi == np) ok = 0;
                if (ok) match[j] = pi++;
            }
            if (!ok) continue;
            for (size_t j = 0; j < n; j++)
                for (size_t s = 0; s < k; s++) {
                    struct tref *v = &o[h + (blocked ? s * n + j : j * k + s)];
                    char slot[32];
                    if (k == tk) snprintf(slot, sizeof slot, "%s", names[s]);
                    else snprintf(slot, sizeof slot, "slot%zu", s);
                    char *path = malloc(strlen(p[match[j]].key) + 48);
                    if (!path) {
                        free(match);
                        return OOM(e);
                    }
                    sprintf(path, "state/%s/%s", p[match[j]].key, slot);
                    uint32_t id = mfs_tree_add_tensor(t, opt_dir, path, v->tn);
                    free(path);
                    if (!id) {
                        free(match);
                        return OOM(e);
                    }
                }
            free(match);
            return MFS_OK;
        }
    }
    free(match);
    return MFS_OK;
}

/* ---- build --------------------------------------------------------------- */

static int cmp_var_nat(const void *a, const void *b)
{
    return natcmp((*(const struct k3_var *const *)a)->path, (*(const struct k3_var *const *)b)->path);
}

int k3_build(const struct k3_in *in, mfs_tree *t, mfs_err *e)
{
    int rc = MFS_OK;
    const char *lroot_name = in->lroot ? in->lroot : "layers";
    size_t lrl = strlen(lroot_name), n = in->n;

    /* variables in natural order */
    const struct k3_var **ord = malloc((n ? n : 1) * sizeof *ord);
    struct tref *params = calloc(n + 1, sizeof *params), *opt = calloc(n + 1, sizeof *opt);
    char *used = calloc(n + 1, 1);
    struct layers ls = {0};
    if (!ord || !params || !opt || !used) {
        rc = OOM(e);
        goto out;
    }
    for (size_t i = 0; i < n; i++) ord[i] = &in->v[i];
    qsort(ord, n, sizeof *ord, cmp_var_nat);
    size_t np = 0, no = 0;

    if (list_layers(in, &ls) < 0) {
        rc = OOM(e);
        goto out;
    }
    uint32_t ldir = ls.n ? mfs_tree_top(t, MFS_TOP_LAYERS) : 0;
    if (ls.n && !ldir) {
        rc = OOM(e);
        goto out;
    }
    for (size_t li = 0; li < ls.n && rc == MFS_OK; li++) {
        uint32_t d = mfs_tree_mkdir(t, ldir, ls.v[li].display);
        if (!d) {
            rc = OOM(e);
            break;
        }
        size_t sl = strlen(ls.v[li].stored);
        for (size_t i = 0; i < n && rc == MFS_OK; i++) {
            const char *p = ord[i]->path;
            mfs_tensor *tn = ord[i]->tn;
            if (used[i] || strncmp(p, lroot_name, lrl) || p[lrl] != '/' ||
                strncmp(p + lrl + 1, ls.v[li].stored, sl) || p[lrl + 1 + sl] != '/')
                continue;
            used[i] = 1;
            if (!mfs_tree_add_model_tensor(t, p, tn) || !mfs_tree_add_tensor(t, d, p + lrl + 2 + sl, tn))
                rc = OOM(e);
            params[np++] = (struct tref){p, tn, ord[i]};
            if (!tn->info) tn->info = json_object();
            json_object_set_new(tn->info, "layer", json_string(ls.v[li].display));
        }
    }
    /* everything else: model state (root vars, metrics, seed generators),
     * and the optimizer */
    for (size_t i = 0; i < n && rc == MFS_OK; i++) {
        if (used[i]) continue;
        const char *p = ord[i]->path;
        if (strncmp(p, "optimizer/", 10) == 0) {
            opt[no++] = (struct tref){p, ord[i]->tn, ord[i]};
            continue;
        }
        if (!mfs_tree_add_model_tensor(t, p, ord[i]->tn)) rc = OOM(e);
    }
    if (rc != MFS_OK) goto out;

    json_t *optcfg = json_object_get(json_object_get(in->config, "compile_config"), "optimizer");
    if (no || json_is_object(optcfg)) {
        uint32_t od = mfs_tree_top(t, MFS_TOP_OPTIMIZER);
        if (!od) {
            rc = OOM(e);
            goto out;
        }
        if (json_is_object(optcfg) && !mfs_tree_add_json(t, od, "config.json", optcfg)) {
            rc = OOM(e);
            goto out;
        }
        size_t nv = 0; /* the optimizer/vars/<i> ones first, for step and slots */
        struct tref *ov = calloc(no + 1, sizeof *ov);
        if (!ov) {
            rc = OOM(e);
            goto out;
        }
        for (size_t i = 0; i < no; i++)
            if (strncmp(opt[i].key, "optimizer/vars/", 15) == 0) ov[nv++] = opt[i];
        long long step;
        if (nv && ov[0].tn->ndim == 0 && mfs_dtype_get(ov[0].tn->dtype)->kind != MFS_DK_FLOAT &&
            in->read_i64 && in->read_i64(in, ov[0].var, &step) == MFS_OK &&
            !mfs_tree_add_textf(t, od, "step", "%lld\n", step))
            rc = OOM(e);
        for (size_t i = 0; i < no && rc == MFS_OK; i++)
            if (!mfs_tree_add_tensor(t, od, opt[i].key + 10, opt[i].tn)) rc = OOM(e);
        memcpy(opt, ov, nv * sizeof *ov);
        free(ov);
        if (rc == MFS_OK && in->config && nv) rc = map_slots(t, od, optcfg, opt, nv, params, np, e);
    }
out:
    layers_free(&ls);
    free(ord);
    free(params);
    free(opt);
    free(used);
    return rc;
}

/* ---- the HDF5 side: one file, or the shards of a sharded save ---------- */

/* k3_in.read_i64 for HDF5 variables: reads the dataset through libhdf5
 * (the caller holds the lock, so the tensor's own read path, which takes
 * it, cannot be used). in->ctx is the parts array. */
static int h5_read_i64_cb(const struct k3_in *in, const struct k3_var *v, long long *out)
{
    struct h5_model *const *parts = in->ctx;
    hid_t d = H5Dopen2(parts[v->part]->file, v->path, H5P_DEFAULT);
    int rc = d >= 0 ? h5_read_scalar_i64(d, out) : MFS_FAILED;
    if (d >= 0) H5Dclose(d);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

/* H5Literate callback: appends every link name to the h5_strv @data. */
static herr_t name_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g, (void)info;
    struct h5_strv *s = data;
    if (h5_strv_push(s, name) < 0) return -1;
    return s->n > 1000000 ? 1 : 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int cmp_var_dedup(const void *a, const void *b)
{
    const struct k3_var *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : (x->part > y->part) - (x->part < y->part);
}

/* 1 when link path @path (components that must each exist) names a
 * group of @f. */
static int path_exists(hid_t f, const char *a, const char *b, const char *c)
{
    char buf[1600];
    int n = snprintf(buf, sizeof buf, "%s", a);
    if (H5Lexists(f, buf, H5P_DEFAULT) <= 0) return 0;
    if (b && (n = snprintf(buf, sizeof buf, "%s/%s", a, b), n >= (int)sizeof buf || H5Lexists(f, buf, H5P_DEFAULT) <= 0))
        return 0;
    if (c && (n = snprintf(buf, sizeof buf, "%s/%s/%s", a, b, c), n >= (int)sizeof buf ||
              H5Lexists(f, buf, H5P_DEFAULT) <= 0))
        return 0;
    return 1;
}

int h5_keras3_build_parts(struct h5_model **parts, size_t nparts, json_t *config, mfs_tree *t,
                          mfs_err *e)
{
    struct k3_in in = {.config = config, .read_i64 = h5_read_i64_cb, .ctx = parts, .lroot = "layers"};
    int has_layers = 0, has_tf = 0;
    for (size_t p = 0; p < nparts; p++) {
        if (H5Lexists(parts[p]->file, "layers", H5P_DEFAULT) > 0) has_layers = 1;
        else if (H5Lexists(parts[p]->file, "_layer_checkpoint_dependencies", H5P_DEFAULT) > 0) has_tf = 1;
        H5Eclear2(H5E_DEFAULT);
    }
    if (!has_layers && has_tf) in.lroot = "_layer_checkpoint_dependencies";

    size_t total = 0;
    for (size_t p = 0; p < nparts; p++) total += parts[p]->nent;
    struct h5_strv names = {0};
    int rc = MFS_OK;
    in.v = calloc(total + 1, sizeof *in.v);
    if (!in.v) return OOM(e);
    for (size_t p = 0; p < nparts; p++)
        for (size_t i = 0; i < parts[p]->nent; i++)
            if (parts[p]->ent[i].tensor)
                in.v[in.n++] = (struct k3_var){parts[p]->ent[i].path, parts[p]->ent[i].tensor, p};
    if (nparts > 1) { /* a dataset in two shards: the first shard's is shown */
        if (in.n) qsort(in.v, in.n, sizeof *in.v, cmp_var_dedup);
        size_t k = 0;
        for (size_t i = 0; i < in.n; i++) {
            if (k && strcmp(in.v[k - 1].path, in.v[i].path) == 0) {
                h5_warn(parts[0], "dataset /%s is in %s and %s: the first is shown", in.v[i].path,
                        parts[in.v[k - 1].part]->label, parts[in.v[i].part]->label);
                continue;
            }
            in.v[k++] = in.v[i];
        }
        in.n = k;
    }

    /* the layers root's children in every part (once each) */
    for (size_t p = 0; p < nparts; p++) {
        if (!path_exists(parts[p]->file, in.lroot, NULL, NULL)) {
            H5Eclear2(H5E_DEFAULT);
            continue;
        }
        hid_t lroot = H5Gopen2(parts[p]->file, in.lroot, H5P_DEFAULT);
        hsize_t pos = 0;
        if (lroot < 0 || H5Literate(lroot, H5_INDEX_NAME, H5_ITER_INC, &pos, name_cb, &names) < 0)
            H5Eclear2(H5E_DEFAULT);
        if (lroot >= 0) H5Gclose(lroot);
    }
    if (names.n) qsort(names.v, names.n, sizeof *names.v, cmp_str);
    in.g = calloc(names.n + 1, sizeof *in.g);
    if (!in.g) {
        rc = OOM(e);
        goto out;
    }
    for (size_t i = 0; i < names.n; i++) {
        if (in.ng && strcmp(in.g[in.ng - 1].stored, names.v[i]) == 0) continue;
        struct k3_group *g = &in.g[in.ng++];
        g->stored = names.v[i];
        /* newer Keras writes the layer's .name as vars/@name */
        for (size_t p = 0; p < nparts && !g->display; p++) {
            if (!path_exists(parts[p]->file, in.lroot, names.v[i], "vars")) continue;
            char vp[1600];
            snprintf(vp, sizeof vp, "%s/%s/vars", in.lroot, names.v[i]);
            hid_t vg = H5Gopen2(parts[p]->file, vp, H5P_DEFAULT);
            if (vg >= 0) {
                g->display = h5_attr_string(vg, "name", NULL);
                H5Gclose(vg);
            }
        }
        H5Eclear2(H5E_DEFAULT);
    }
    rc = k3_build(&in, t, e);
out:
    for (size_t i = 0; in.g && i < in.ng; i++) free((char *)in.g[i].display);
    free(in.g);
    free(in.v);
    h5_strv_free(&names);
    return rc;
}

int h5_keras3_build(struct h5_model *m, mfs_tree *t, mfs_err *e)
{
    return h5_keras3_build_parts(&m, 1, m->config, t, e);
}
