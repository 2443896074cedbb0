/* torch_model.c: what the user means by a torch.save'd object.
 *
 * The object graph of data.pkl is mapped onto the shared tree by shape
 * (FORMATS.md §6.6, §12.1):
 *   a tensor                 tensors/tensor
 *   a state_dict             a dict/OrderedDict whose values are tensors:
 *                            tensors/<key>, layers/<module>/<param>
 *   an nn.Module             torch.save(model): the module hierarchy from
 *                            _parameters/_buffers/_modules (TorchScript:
 *                            the attributes of __torch__.* objects);
 *                            class names in metadata/modules.json
 *   a checkpoint dict        the model state_dict(s)/module(s) as above
 *                            (prefixed by their key when there are
 *                            several), optimizer state_dicts (also inside
 *                            a list: Lightning's optimizer_states) in
 *                            optimizer/, every other entry in metadata/
 *                            (scalars as files, tensors as tensor dirs,
 *                            the rest as <key>.json)
 * metadata/content says which of these it was. raw/ (built by the
 * readers) always shows the whole graph besides. */
#include "readers/torch.h"
#include "readers/common.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODULE_DEPTH 100

/* Model tensors collected for the optimizer mapping. */
struct plist {
    char **names;
    mfs_tensor **tensors;
    size_t n, cap;
};

static void plist_free(struct plist *p)
{
    for (size_t i = 0; i < p->n; i++) free(p->names[i]);
    free(p->names);
    free(p->tensors);
}

static int plist_add(struct plist *p, const char *name, mfs_tensor *t)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        char **nn = realloc(p->names, nc * sizeof *nn);
        if (!nn) return -1;
        p->names = nn;
        mfs_tensor **nt = realloc(p->tensors, nc * sizeof *nt);
        if (!nt) return -1;
        p->tensors = nt;
        p->cap = nc;
    }
    if (!(p->names[p->n] = strdup(name))) return -1;
    p->tensors[p->n++] = t;
    return 0;
}

static int oom(mfs_err *e) { return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory"); }

/* Buffers that state_dicts hold besides parameters (BatchNorm ...). */
static int is_buffer_name(const char *key)
{
    const char *dot = strrchr(key, '.');
    const char *last = dot ? dot + 1 : key;
    return !strcmp(last, "running_mean") || !strcmp(last, "running_var") ||
           !strcmp(last, "num_batches_tracked") || !strcmp(last, "_extra_state");
}

/* Places one model tensor: tensors/<key> and layers/<module>/<param>. */
static int place(struct mfs_torch *c, const char *key, mfs_tensor *tn, struct plist *params,
                 int is_param, mfs_err *e)
{
    if (!mfs_tree_add_model_tensor(c->t, key, tn) || !mfs_add_layer_by_key(c->t, key, tn))
        return oom(e);
    if (params && is_param && plist_add(params, key, tn)) return oom(e);
    return MFS_OK;
}

/* 1 when @o is a dict-like whose values are all tensors (or _extra_state). */
static int is_state_dict(struct mfs_torch *c, const mfs_pk *o)
{
    const mfs_pk *d = mfs_pk_as_dict(o);
    if (!d || !d->u.dict.n) return 0;
    if (o->kind == MFS_PK_CALL && !mfs_pk_call_is(o, "collections", "OrderedDict") &&
        !mfs_pk_call_is(o, "builtins", "dict"))
        return 0;
    size_t tensors = 0;
    mfs_err e = {0};
    char key[1024];
    for (size_t i = 0; i < d->u.dict.n; i++) {
        mfs_tensor *tn;
        int rc = mfs_torch_tensor(c, d->u.dict.v[i], &tn, &e);
        if (rc != 0) { /* a tensor, or a broken one: add_state_dict reports it */
            tensors++;
            continue;
        }
        mfs_pk_key_name(d->u.dict.k[i], key, sizeof key);
        size_t l = strlen(key);
        if (l < 12 || strcmp(key + l - 12, "_extra_state") != 0) return 0;
    }
    return tensors > 0;
}

static int add_state_dict(struct mfs_torch *c, const char *prefix, const mfs_pk *o,
                          struct plist *params, mfs_err *e)
{
    const mfs_pk *d = mfs_pk_as_dict(o);
    char key[1024], full[2048];
    for (size_t i = 0; i < d->u.dict.n; i++) {
        mfs_tensor *tn;
        int rc = mfs_torch_tensor(c, d->u.dict.v[i], &tn, e);
        if (rc < 0) return rc;
        if (rc != 1) continue; /* no data (meta) or _extra_state: raw/ shows it */
        mfs_pk_key_name(d->u.dict.k[i], key, sizeof key);
        snprintf(full, sizeof full, "%s%s", prefix, key);
        MFS_FORWARD(place(c, full, tn, params, !is_buffer_name(key), e));
    }
    return MFS_OK;
}

/* Class name of a module object: its callable, or a legacy ('module',
 * cls, file, source) persistent id. */
static const char *module_class(const mfs_pk *m, char *buf, size_t n)
{
    buf[0] = 0;
    if (!m || m->kind != MFS_PK_CALL) return buf;
    const mfs_pk *fn = m->u.call.callable;
    if (fn && fn->kind == MFS_PK_PERSID) {
        size_t k;
        mfs_pk **v = mfs_pk_items(fn->u.persid.pid, &k);
        if (k >= 2 && mfs_pk_str_eq(v[0], "module")) fn = v[1];  /* legacy stream */
        else if (k >= 1 && v[0]->kind == MFS_PK_GLOBAL) fn = v[0]; /* tar: (cls, file, source) */
    }
    return mfs_pk_qualname(fn, buf, n);
}

int mfs_torch_is_module(const mfs_pk *o)
{
    if (!o || o->kind != MFS_PK_CALL) return 0;
    const mfs_pk *st = mfs_pk_state(o);
    if (!st || st->kind != MFS_PK_DICT) return 0;
    if (mfs_pk_dict_get(st, "_modules") || mfs_pk_dict_get(st, "_parameters")) return 1;
    char buf[512];
    return strncmp(module_class(o, buf, sizeof buf), "__torch__.", 10) == 0;
}

/* Names in a `set(list)` call (_non_persistent_buffers_set). */
static int in_set(const mfs_pk *set, const mfs_pk *key)
{
    if (!set) return 0;
    const mfs_pk *l = set->kind == MFS_PK_CALL ? mfs_pk_arg(set, 0) : set;
    size_t n;
    mfs_pk **v = mfs_pk_items(l, &n);
    for (size_t i = 0; i < n; i++)
        if (v[i]->kind == MFS_PK_STR && key->kind == MFS_PK_STR && v[i]->u.s.data && key->u.s.data &&
            strcmp(v[i]->u.s.data, key->u.s.data) == 0)
            return 1;
    return 0;
}

static int add_module_rec(struct mfs_torch *c, const char *prefix, const mfs_pk *m, json_t *classes,
                          struct plist *params, int depth, mfs_err *e)
{
    char cls[512], key[1024], full[2048];
    if (depth > MAX_MODULE_DEPTH) return MFS_OK;
    const mfs_pk *st = mfs_pk_state(m);
    if (classes) {
        size_t pl = strlen(prefix);
        snprintf(full, sizeof full, "%.*s", (int)(pl ? pl - 1 : 0), prefix);
        json_object_set_new(classes, full, json_string(module_class(m, cls, sizeof cls)));
    }
    const mfs_pk *ps = mfs_pk_dict_get(st, "_parameters");
    const mfs_pk *bs = mfs_pk_dict_get(st, "_buffers");
    const mfs_pk *ms = mfs_pk_dict_get(st, "_modules");
    if (ps || ms) { /* nn.Module: the state_dict order */
        const mfs_pk *np = mfs_pk_dict_get(st, "_non_persistent_buffers_set");
        for (int pass = 0; pass < 2; pass++) {
            const mfs_pk *d = mfs_pk_as_dict(pass ? bs : ps);
            for (size_t i = 0; d && i < d->u.dict.n; i++) {
                mfs_tensor *tn;
                int rc = mfs_torch_tensor(c, d->u.dict.v[i], &tn, e);
                if (rc < 0) return rc;
                if (rc != 1 || (pass && in_set(np, d->u.dict.k[i]))) continue;
                mfs_pk_key_name(d->u.dict.k[i], key, sizeof key);
                snprintf(full, sizeof full, "%s%s", prefix, key);
                MFS_FORWARD(place(c, full, tn, params, !pass, e));
            }
        }
        const mfs_pk *d = mfs_pk_as_dict(ms);
        for (size_t i = 0; d && i < d->u.dict.n; i++) {
            if (!mfs_torch_is_module(d->u.dict.v[i])) continue;
            mfs_pk_key_name(d->u.dict.k[i], key, sizeof key);
            snprintf(full, sizeof full, "%s%s.", prefix, key);
            MFS_FORWARD(add_module_rec(c, full, d->u.dict.v[i], classes, params, depth + 1, e));
        }
        return MFS_OK;
    }
    /* TorchScript: parameters, buffers and submodules are attributes */
    const mfs_pk *d = mfs_pk_as_dict(st);
    for (size_t i = 0; d && i < d->u.dict.n; i++) {
        const mfs_pk *v = d->u.dict.v[i];
        mfs_pk_key_name(d->u.dict.k[i], key, sizeof key);
        mfs_tensor *tn;
        int rc = mfs_torch_tensor(c, v, &tn, e);
        if (rc < 0) return rc;
        if (rc == 1) {
            snprintf(full, sizeof full, "%s%s", prefix, key);
            MFS_FORWARD(place(c, full, tn, params, !is_buffer_name(key), e));
        } else if (rc == 0 && mfs_torch_is_module(v)) {
            snprintf(full, sizeof full, "%s%s.", prefix, key);
            MFS_FORWARD(add_module_rec(c, full, v, classes, params, depth + 1, e));
        }
    }
    return MFS_OK;
}

int mfs_torch_add_module(struct mfs_torch *c, const char *prefix, const mfs_pk *m, json_t *classes,
                         mfs_err *e)
{
    return add_module_rec(c, prefix, m, classes, NULL, 0, e);
}

/* Adds model @o (state_dict or module) under @prefix; class names of a
 * module go to metadata/<mdname>. */
static int add_model(struct mfs_torch *c, const char *prefix, const mfs_pk *o, struct plist *params,
                     const char *mdname, mfs_err *e)
{
    if (!mfs_torch_is_module(o)) return add_state_dict(c, prefix, o, params, e);
    json_t *classes = json_object();
    if (!classes) return oom(e);
    int rc = add_module_rec(c, prefix, o, classes, params, 0, e);
    uint32_t md = mfs_tree_top(c->t, MFS_TOP_METADATA);
    char cls[512];
    if (rc >= 0 && (!md || !mfs_tree_add_json(c->t, md, mdname, classes))) rc = oom(e);
    if (rc >= 0 && !*prefix &&
        !mfs_tree_add_textf(c->t, md, "model_class", "%s\n", module_class(o, cls, sizeof cls)))
        rc = oom(e);
    json_decref(classes);
    return rc;
}

static int is_model(struct mfs_torch *c, const mfs_pk *o)
{
    return mfs_torch_is_module(o) || is_state_dict(c, o);
}

static int preferred_model_key(const char *k)
{
    static const char *const keys[] = {
        "state_dict", "model_state_dict", "model", "net", "network", "model_state",
        "module", "weights", "params", "state",
    };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!strcmp(k, keys[i])) return 1;
    return 0;
}

static int add_metadata_entry(struct mfs_torch *c, uint32_t md, const char *key, const mfs_pk *v,
                              mfs_err *e)
{
    char buf[256];
    mfs_tensor *tn;
    int rc = mfs_torch_tensor(c, v, &tn, e);
    if (rc < 0) return rc;
    if (rc == 1) return mfs_tree_add_tensor_name(c->t, md, key, tn) ? MFS_OK : oom(e);
    switch (v->kind) {
    case MFS_PK_NONE: case MFS_PK_BOOL: case MFS_PK_INT: case MFS_PK_FLOAT:
        return mfs_tree_add_textf(c->t, md, key, "%s\n", mfs_pk_repr(v, buf, sizeof buf)) ? MFS_OK : oom(e);
    case MFS_PK_STR:
        if (v->u.s.data && v->u.s.len < 65536)
            return mfs_tree_add_textf(c->t, md, key, "%s\n", v->u.s.data) ? MFS_OK : oom(e);
        break;
    default:
        break;
    }
    json_t *j = mfs_torch_json(c, v);
    if (!j) return oom(e);
    char name[1100];
    snprintf(name, sizeof name, "%s.json", key);
    uint32_t id = mfs_tree_add_json(c->t, md, name, j);
    json_decref(j);
    return id ? MFS_OK : oom(e);
}

static int add_checkpoint(struct mfs_torch *c, const mfs_pk *root, mfs_err *e)
{
    const mfs_pk *d = mfs_pk_as_dict(root);
    size_t n = d->u.dict.n;
    char key[1024], pre[1100];
    uint8_t *role = calloc(n ? n : 1, 1); /* 1 model, 2 optimizer, 3 optimizer list */
    struct plist params = {0};
    int rc = MFS_OK;
    if (!role) return oom(e);
    size_t nmodels = 0, first = SIZE_MAX, nopt = 0;
    int first_preferred = 0;
    for (size_t i = 0; i < n; i++) {
        const mfs_pk *v = d->u.dict.v[i];
        if (is_model(c, v)) {
            role[i] = 1;
            nmodels++;
            mfs_pk_key_name(d->u.dict.k[i], key, sizeof key);
            if (first == SIZE_MAX || (preferred_model_key(key) && !first_preferred)) {
                first = i;
                first_preferred = preferred_model_key(key);
            }
        } else if (mfs_torch_is_optimizer(v)) {
            role[i] = 2;
            nopt++;
        } else if (v->kind == MFS_PK_LIST || v->kind == MFS_PK_TUPLE) {
            size_t m;
            mfs_pk **it = mfs_pk_items(v, &m);
            int all = m > 0;
            for (size_t j = 0; j < m && all; j++) all = mfs_torch_is_optimizer(it[j]);
            if (all) {
                role[i] = 3;
                nopt += m;
            }
        }
    }
    /* the model(s): the preferred one first, so its parameters name the optimizer state */
    for (size_t pass = 0; pass < 2 && rc >= 0; pass++)
        for (size_t i = 0; i < n && rc >= 0; i++) {
            if (role[i] != 1 || (pass == 0) != (i == first)) continue;
            mfs_pk_key_name(d->u.dict.k[i], key, sizeof key);
            snprintf(pre, sizeof pre, "%s/", key);
            char mdname[1200];
            snprintf(mdname, sizeof mdname, nmodels > 1 ? "%s.modules.json" : "modules.json", key);
            rc = add_model(c, nmodels > 1 ? pre : "", d->u.dict.v[i], i == first ? &params : NULL,
                           mdname, e);
        }
    /* optimizers */
    size_t k = 0;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        size_t m = 1;
        mfs_pk *const *it = &d->u.dict.v[i];
        if (role[i] == 3) it = mfs_pk_items(d->u.dict.v[i], &m);
        else if (role[i] != 2) continue;
        for (size_t j = 0; j < m && rc >= 0; j++, k++) {
            snprintf(pre, sizeof pre, "%zu", k);
            rc = mfs_torch_add_optimizer(c, it[j], nopt > 1 ? pre : NULL,
                                         (const char *const *)params.names, params.tensors, params.n, e);
        }
    }
    /* the rest: metadata */
    uint32_t md = mfs_tree_top(c->t, MFS_TOP_METADATA);
    if (!md && rc >= 0) rc = oom(e);
    for (size_t i = 0; i < n && rc >= 0; i++) {
        if (role[i]) continue;
        mfs_pk_key_name(d->u.dict.k[i], key, sizeof key);
        rc = add_metadata_entry(c, md, key, d->u.dict.v[i], e);
    }
    free(role);
    plist_free(&params);
    return rc;
}

static int content(struct mfs_torch *c, const char *what, mfs_err *e)
{
    uint32_t md = mfs_tree_top(c->t, MFS_TOP_METADATA);
    return md && mfs_tree_add_textf(c->t, md, "content", "%s\n", what) ? MFS_OK : oom(e);
}

int mfs_torch_build_model(struct mfs_torch *c, const mfs_pk *root, mfs_err *e)
{
    mfs_tensor *tn;
    int rc = mfs_torch_tensor(c, root, &tn, e);
    if (rc < 0) return rc;
    if (rc == 1) {
        MFS_FORWARD(content(c, "tensor", e));
        return mfs_tree_add_model_tensor(c->t, "tensor", tn) ? MFS_OK : oom(e);
    }
    if (rc == 2) return content(c, "tensor (no data)", e);
    if (is_state_dict(c, root)) {
        MFS_FORWARD(content(c, "state_dict", e));
        return add_state_dict(c, "", root, NULL, e);
    }
    if (mfs_torch_is_module(root)) {
        MFS_FORWARD(content(c, "module", e));
        return add_model(c, "", root, NULL, "modules.json", e);
    }
    if (mfs_torch_is_optimizer(root)) {
        MFS_FORWARD(content(c, "optimizer", e));
        return mfs_torch_add_optimizer(c, root, NULL, NULL, NULL, 0, e);
    }
    const mfs_pk *d = mfs_pk_as_dict(root);
    if (d) {
        MFS_FORWARD(content(c, "checkpoint", e));
        return add_checkpoint(c, root, e);
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", mfs_pk_kind_name(root ? root->kind : 0));
    if (root && root->kind == MFS_PK_CALL) {
        const mfs_pk *fn = mfs_pk_call_of(root);
        if (fn) mfs_pk_qualname(fn, buf, sizeof buf);
    }
    return content(c, buf, e);
}
