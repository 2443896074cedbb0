/* sklearn.c: tensors/, layers/ and metadata/ for a pickled object graph
 * (naming and metadata rules in sklearn.h).
 *
 * One depth-first walk from the root: arrays become model tensors at the
 * current path, containers and objects extend the path, and each
 * scikit-learn estimator met on the way writes its metadata. The graph may
 * share objects (the memo) and even cycle: an object already on the
 * current path is not entered again (cycle), a shared array gets one
 * tensor placed at each of its paths, and the walk is bounded in depth
 * and in the number of visits (a diamond-shaped graph could otherwise
 * explode). */
#include "readers/sklearn.h"
#include "readers/common.h"
#include "core/log.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#define MAX_DEPTH 64
#define MAX_VISITS 2000000u
#define PATH_LEN 4096
#define JSON_DEPTH 6
#define JSON_ITEMS 1000

struct walk {
    mfs_tree *t;
    struct mfs_np_ctx *c;
    mfs_err *e;
    const char *stem;
    uint8_t *onpath;     /* by object id: on the current path */
    uint32_t cap;
    size_t visits;
    int status;          /* MFS_OK, MFS_WARN, MFS_FATAL */
    int limited;         /* a limit message was logged */
    char path[PATH_LEN];
    size_t plen;
    int in_est;          /* inside an estimator ... */
    size_t est_plen;     /* ... whose path is path[0, est_plen) */
};

const char *mfs_skl_class(const mfs_pk *o, char *buf, size_t n)
{
    return mfs_pk_qualname(mfs_np_class_of(o), buf, n);
}

/* ---- small helpers ---- */

static int starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static int is_estimator(const mfs_pk *o)
{
    const mfs_pk *g = mfs_np_class_of(o);
    if (!g) return 0;
    if (g->u.g.module && starts_with(g->u.g.module, "sklearn.")) return 1;
    const mfs_pk *st = mfs_pk_state(o);
    return st && st->kind == MFS_PK_DICT && mfs_pk_dict_get(st, "_sklearn_version") != NULL;
}

/* The attribute dicts of an object: its BUILD state when a dict, or the
 * two halves of a (dict, slots-dict) state. */
static int state_dicts(const mfs_pk *o, const mfs_pk *d[2])
{
    d[0] = d[1] = NULL;
    const mfs_pk *st = mfs_pk_state(o);
    if (!st) return 0;
    if (st->kind == MFS_PK_DICT) d[0] = st;
    else if (st->kind == MFS_PK_TUPLE && st->u.seq.n == 2) {
        for (int i = 0; i < 2; i++)
            if (st->u.seq.v[i]->kind == MFS_PK_DICT) d[i] = st->u.seq.v[i];
    }
    return d[0] || d[1];
}

/* A list of (name, object[, ...]) tuples: Pipeline.steps and friends. */
static int named_list(const mfs_pk *v)
{
    if (!v || (v->kind != MFS_PK_LIST && v->kind != MFS_PK_TUPLE) || v->u.seq.n == 0) return 0;
    int objects = 0;
    for (size_t i = 0; i < v->u.seq.n; i++) {
        const mfs_pk *it = v->u.seq.v[i];
        if (it->kind != MFS_PK_TUPLE || it->u.seq.n < 2 || it->u.seq.n > 3) return 0;
        if (!mfs_pk_str(it->u.seq.v[0]) || it->u.seq.v[0]->kind != MFS_PK_STR) return 0;
        objects += it->u.seq.v[1]->kind == MFS_PK_CALL;
    }
    return objects > 0;
}

static int push(struct walk *w, const char *comp, size_t *saved)
{
    *saved = w->plen;
    size_t n = strlen(comp);
    if (w->plen + 1 + n + 1 > PATH_LEN) return -1;
    if (w->plen) w->path[w->plen++] = '/';
    memcpy(w->path + w->plen, comp, n + 1);
    w->plen += n;
    return 0;
}

static void pop(struct walk *w, size_t saved)
{
    w->plen = saved;
    w->path[saved] = 0;
}

static void limit(struct walk *w, const char *what)
{
    if (!w->limited) mfs_log("pickle: %s at %s; deeper objects are not searched for arrays", what,
                             w->plen ? w->path : "(root)");
    w->limited = 1;
    if (w->status == MFS_OK) w->status = MFS_WARN;
}

/* ---- JSON for metadata ---- */

static json_t *to_json(const mfs_pk *o, int depth);

static json_t *json_str_of(const mfs_pk *o)
{
    if (o->u.s.data) {
        json_t *j = json_stringn(o->u.s.data, (size_t)o->u.s.len);
        if (j) return j;
    }
    char buf[200];
    return json_string(mfs_pk_repr(o, buf, sizeof buf));
}

static json_t *to_json(const mfs_pk *o, int depth)
{
    char buf[300];
    if (!o) return json_null();
    switch (o->kind) {
    case MFS_PK_NONE: return json_null();
    case MFS_PK_BOOL: return json_boolean(o->u.b);
    case MFS_PK_INT:
        if (!(o->flags & MFS_PK_F_BIG)) return json_integer(o->u.i.v);
        return json_string(mfs_pk_repr(o, buf, sizeof buf));
    case MFS_PK_FLOAT: {
        double f = o->u.f;
        if (f == f && f - f == 0) return json_real(f);
        return json_string(f != f ? "nan" : f > 0 ? "inf" : "-inf");
    }
    case MFS_PK_STR: return json_str_of(o);
    case MFS_PK_BYTES: case MFS_PK_BYTEARRAY:
        snprintf(buf, sizeof buf, "<bytes %llu>", (unsigned long long)o->u.s.len);
        return json_string(buf);
    case MFS_PK_LIST: case MFS_PK_TUPLE: case MFS_PK_SET: case MFS_PK_FROZENSET: {
        if (depth >= JSON_DEPTH) return json_string("...");
        json_t *a = json_array();
        for (size_t i = 0; a && i < o->u.seq.n; i++) {
            if (i == JSON_ITEMS) {
                json_array_append_new(a, json_string("..."));
                break;
            }
            json_array_append_new(a, to_json(o->u.seq.v[i], depth + 1));
        }
        return a;
    }
    case MFS_PK_DICT: {
        if (depth >= JSON_DEPTH) return json_string("...");
        json_t *d = json_object();
        for (size_t i = 0; d && i < o->u.dict.n && i < JSON_ITEMS; i++)
            json_object_set_new(d, mfs_pk_key_name(o->u.dict.k[i], buf, sizeof buf),
                                to_json(o->u.dict.v[i], depth + 1));
        return d;
    }
    case MFS_PK_GLOBAL: return json_string(mfs_pk_qualname(o, buf, sizeof buf));
    case MFS_PK_CALL: {
        json_t *j = mfs_np_scalar_json(o);
        if (j) return j;
        struct mfs_np_dtype dt;
        if (mfs_np_dtype_parse(o, &dt))
            return json_string(dt.dtype != MFS_DT_INVALID ? mfs_dtype_get(dt.dtype)->name : dt.descr);
        if (mfs_np_is_array(o)) return json_string("<ndarray>");
        const mfs_pk *d = mfs_pk_as_dict(o);
        if (d && d->kind == MFS_PK_DICT && d->u.dict.n) return to_json(d, depth);
        if (mfs_np_class_of(o)) return json_string(mfs_skl_class(o, buf, sizeof buf));
        return json_string(mfs_pk_repr(o, buf, sizeof buf));
    }
    default:
        return json_string(mfs_pk_repr(o, buf, sizeof buf));
    }
}

/* A Python scalar (or numpy scalar) as a JSON value, else NULL. */
static json_t *scalar_json(const mfs_pk *o)
{
    switch (o->kind) {
    case MFS_PK_NONE: case MFS_PK_BOOL: case MFS_PK_INT: case MFS_PK_FLOAT: case MFS_PK_STR:
        return to_json(o, 0);
    case MFS_PK_CALL: return mfs_np_scalar_json(o);
    default: return NULL;
    }
}

/* metadata/<path>/ for estimator @o. */
static int add_meta(struct walk *w, const mfs_pk *o)
{
    mfs_tree *t = w->t;
    uint32_t dir = mfs_tree_top(t, MFS_TOP_METADATA);
    if (dir && w->plen) dir = mfs_tree_mkdir(t, dir, w->path);
    if (!dir) return mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
    char cls[300];
    mfs_skl_class(o, cls, sizeof cls);
    int ok = mfs_tree_add_textf(t, dir, "class", "%s\n", cls) != 0;
    json_t *params = json_object(), *fitted = json_object();
    const mfs_pk *d[2];
    state_dicts(o, d);
    for (int h = 0; h < 2; h++) {
        for (size_t i = 0; d[h] && i < d[h]->u.dict.n; i++) {
            const char *k = mfs_pk_str(d[h]->u.dict.k[i]);
            const mfs_pk *v = d[h]->u.dict.v[i];
            if (!k || d[h]->u.dict.k[i]->kind != MFS_PK_STR || !*k || strchr(k, '/')) continue;
            if (!strcmp(k, "_sklearn_version")) {
                json_t *j = scalar_json(v);
                if (j) ok = ok && mfs_tree_add_value(t, dir, "sklearn_version", j) != 0;
                json_decref(j);
                continue;
            }
            if (k[0] == '_' || mfs_np_is_array(v)) continue;
            size_t n = strlen(k);
            json_t *target = k[n - 1] == '_' ? fitted : params;
            json_t *j = scalar_json(v);
            if (j) { /* one file per scalar */
                ok = ok && mfs_tree_add_value(t, dir, k, j) != 0;
                json_object_set_new(target, k, j);
            } else {
                json_object_set_new(target, k, to_json(v, 0));
            }
        }
    }
    if (params && json_object_size(params)) ok = ok && mfs_tree_add_json(t, dir, "params.json", params) != 0;
    if (fitted && json_object_size(fitted)) ok = ok && mfs_tree_add_json(t, dir, "fitted.json", fitted) != 0;
    json_decref(params);
    json_decref(fitted);
    return ok ? MFS_OK : mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
}

/* ---- the walk ---- */

static int walk_obj(struct walk *w, const mfs_pk *o, int depth);

/* Places array @o at the current path. */
static int add_tensor(struct walk *w, const mfs_pk *o)
{
    const char *key = w->plen ? w->path : w->stem;
    mfs_tensor *tn = NULL;
    struct mfs_np_array a;
    int r = mfs_np_tensor(w->c, w->t, o, &a, &tn, w->e);
    if (r < 0) {
        mfs_log("pickle: array %s skipped: %s", key, w->e->msg);
        mfs_err_clear(w->e);
        w->status = MFS_WARN;
        return MFS_OK;
    }
    if (r == 0) return MFS_OK; /* object/str arrays: raw/ shows them */
    if (!mfs_tree_add_model_tensor(w->t, key, tn))
        return mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
    uint32_t ok;
    if (w->in_est && w->plen > w->est_plen) {
        char lp[PATH_LEN + 16];
        if (w->est_plen)
            snprintf(lp, sizeof lp, "%s", w->path);
        else
            snprintf(lp, sizeof lp, "%s/%s", MFS_ROOT_LAYER, w->path);
        uint32_t layers = mfs_tree_top(w->t, MFS_TOP_LAYERS);
        ok = layers ? mfs_tree_add_tensor(w->t, layers, lp, tn) : 0;
    } else {
        ok = mfs_add_layer_by_key(w->t, key, tn);
    }
    return ok ? MFS_OK : mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
}

/* Walks the items of a (name, object[, ...]) list under their names. */
static int walk_named(struct walk *w, const mfs_pk *v, int depth)
{
    for (size_t i = 0; i < v->u.seq.n; i++) {
        const mfs_pk *it = v->u.seq.v[i];
        size_t saved;
        if (push(w, mfs_pk_str(it->u.seq.v[0]), &saved) < 0) {
            limit(w, "path too long");
            continue;
        }
        int st = walk_obj(w, it->u.seq.v[1], depth + 1);
        pop(w, saved);
        MFS_FORWARD(st);
    }
    return MFS_OK;
}

static int walk_dict(struct walk *w, const mfs_pk *d, int depth, int pipeline)
{
    char kb[256];
    for (size_t i = 0; i < d->u.dict.n; i++) {
        const char *k = mfs_pk_key_name(d->u.dict.k[i], kb, sizeof kb);
        const mfs_pk *v = d->u.dict.v[i];
        int named = named_list(v);
        if (named && pipeline && !strcmp(k, "steps")) {
            MFS_FORWARD(walk_named(w, v, depth));
            continue;
        }
        size_t saved;
        if (push(w, k, &saved) < 0) {
            limit(w, "path too long");
            continue;
        }
        int st = named ? walk_named(w, v, depth + 1) : walk_obj(w, v, depth + 1);
        pop(w, saved);
        MFS_FORWARD(st);
    }
    return MFS_OK;
}

static int walk_seq(struct walk *w, mfs_pk *const *v, size_t n, int depth)
{
    for (size_t i = 0; i < n; i++) {
        char ib[32];
        snprintf(ib, sizeof ib, "%zu", i);
        size_t saved;
        if (push(w, ib, &saved) < 0) {
            limit(w, "path too long");
            continue;
        }
        int st = walk_obj(w, v[i], depth + 1);
        pop(w, saved);
        MFS_FORWARD(st);
    }
    return MFS_OK;
}

static int walk_call(struct walk *w, const mfs_pk *o, int depth)
{
    /* numpy.random generators (an estimator's random_state_) hold their
     * state as arrays: not model weights (raw/ shows them) */
    const mfs_pk *cls = mfs_np_class_of(o);
    if (cls && cls->u.g.module && starts_with(cls->u.g.module, "numpy.random")) return MFS_OK;
    const mfs_pk *asd = mfs_pk_as_dict(o);
    if (asd && asd->kind == MFS_PK_DICT) return walk_dict(w, asd, depth, 0);
    const mfs_pk *d[2];
    int est = is_estimator(o);
    int was_in = w->in_est;
    size_t was_plen = w->est_plen;
    if (est) {
        MFS_FORWARD(add_meta(w, o));
        w->in_est = 1;
        w->est_plen = w->plen;
    }
    int st = MFS_OK;
    if (state_dicts(o, d)) {
        const mfs_pk *g = mfs_np_class_of(o);
        int pipeline = g && g->u.g.name && !strcmp(g->u.g.name, "Pipeline");
        for (int h = 0; h < 2 && st >= 0; h++)
            if (d[h]) st = walk_dict(w, d[h], depth, pipeline);
    }
    size_t n;
    mfs_pk **items = mfs_pk_items(o, &n);
    if (st >= 0 && n) st = walk_seq(w, items, n, depth);
    w->in_est = was_in;
    w->est_plen = was_plen;
    return st;
}

static int walk_obj(struct walk *w, const mfs_pk *o, int depth)
{
    if (!o) return MFS_OK;
    if (depth > MAX_DEPTH) {
        limit(w, "nesting deeper than 64");
        return MFS_OK;
    }
    if (++w->visits > MAX_VISITS) {
        limit(w, "more than 2000000 objects visited");
        return MFS_OK;
    }
    if (mfs_np_is_array(o)) return add_tensor(w, o);
    if (o->kind != MFS_PK_DICT && o->kind != MFS_PK_LIST && o->kind != MFS_PK_TUPLE &&
        o->kind != MFS_PK_CALL)
        return MFS_OK;
    if (o->id >= w->cap) {
        uint32_t n = w->cap ? w->cap : 1024;
        while (n <= o->id) n *= 2;
        uint8_t *p = realloc(w->onpath, n);
        if (!p) return mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
        memset(p + w->cap, 0, n - w->cap);
        w->onpath = p;
        w->cap = n;
    }
    if (w->onpath[o->id]) return MFS_OK; /* a cycle */
    w->onpath[o->id] = 1;
    int st;
    switch (o->kind) {
    case MFS_PK_DICT: st = walk_dict(w, o, depth, 0); break;
    case MFS_PK_LIST: case MFS_PK_TUPLE: st = walk_seq(w, o->u.seq.v, o->u.seq.n, depth); break;
    default: st = walk_call(w, o, depth); break;
    }
    w->onpath[o->id] = 0;
    return st;
}

int mfs_skl_build(mfs_tree *t, struct mfs_np_ctx *c, const mfs_pk *root, const char *stem,
                  mfs_err *e)
{
    struct walk w;
    memset(&w, 0, sizeof w);
    w.t = t;
    w.c = c;
    w.e = e;
    w.stem = stem && *stem ? stem : "array";
    uint32_t meta = mfs_tree_top(t, MFS_TOP_METADATA);
    char cls[300];
    const char *type = mfs_skl_class(root, cls, sizeof cls);
    if (!*type) type = root ? mfs_pk_kind_name(root->kind) : "none";
    if (!meta || !mfs_tree_add_textf(t, meta, "root_type", "%s\n", type))
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    int st = walk_obj(&w, root, 0);
    free(w.onpath);
    if (st < 0) return st;
    return w.status;
}
