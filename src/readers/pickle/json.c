/* json.c: rendering pickle objects as JSON for metadata/ and config.json
 * files (hyperparameters, optimizer param_groups, Lightning loops ...).
 *
 * The graph may share nodes and hold cycles: the walk keeps the chain of
 * ancestors (bounded by max_depth) and writes "..." for an object that
 * is its own ancestor or lies deeper than max_depth. Containers are
 * capped at 100,000 entries each and the whole rendering at a million
 * objects (a DAG sharing nodes at each level would otherwise expand
 * exponentially). */
#include "readers/pickle/vm_priv.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_ITEMS 100000
#define MAX_DEPTH 64
#define MAX_OBJECTS 1000000L

struct jctx {
    const mfs_pk *anc[64];
    mfs_pk_json_fn fn;
    void *ctx;
    long budget; /* objects left to render: shared subgraphs may repeat */
};

static json_t *conv(const mfs_pk *o, struct jctx *j, int depth, int max_depth);

static json_t *conv_seq(mfs_pk *const *v, size_t n, struct jctx *anc, int depth, int max)
{
    json_t *a = json_array();
    if (!a) return NULL;
    for (size_t i = 0; i < n && i < MAX_ITEMS; i++)
        if (json_array_append_new(a, conv(v[i], anc, depth + 1, max))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *conv_dict(const mfs_pk *d, struct jctx *anc, int depth, int max)
{
    json_t *obj = json_object();
    char key[512];
    if (!obj) return NULL;
    for (size_t i = 0; i < d->u.dict.n && i < MAX_ITEMS; i++) {
        mfs_pk_key_name(d->u.dict.k[i], key, sizeof key);
        json_t *v = conv(d->u.dict.v[i], anc, depth + 1, max);
        if (!v || json_object_set_new(obj, key, v)) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *conv(const mfs_pk *o, struct jctx *anc, int depth, int max)
{
    char buf[512];
    if (!o) return json_null();
    if (depth >= max || --anc->budget < 0) return json_string("...");
    for (int i = 0; i < depth; i++)
        if (anc->anc[i] == o) return json_string("...");
    anc->anc[depth] = o;
    if (anc->fn) {
        json_t *r = anc->fn(anc->ctx, o);
        if (r) return r;
    }
    switch (o->kind) {
    case MFS_PK_NONE: return json_null();
    case MFS_PK_BOOL: return json_boolean(o->u.b);
    case MFS_PK_INT:
        if (o->flags & MFS_PK_F_BIG) return json_string(mfs_pk_repr(o, buf, sizeof buf));
        return json_integer((json_int_t)o->u.i.v);
    case MFS_PK_FLOAT:
        if (!isfinite(o->u.f)) return json_string(isnan(o->u.f) ? "nan" : o->u.f > 0 ? "inf" : "-inf");
        return json_real(o->u.f);
    case MFS_PK_STR:
        if (o->u.s.data) {
            /* json_stringn checks UTF-8 (py2 str may be Latin-1): else repr */
            json_t *s = json_stringn(o->u.s.data, (size_t)o->u.s.len);
            if (s) return s;
        }
        return json_string(mfs_pk_repr(o, buf, sizeof buf));
    case MFS_PK_BYTES: case MFS_PK_BYTEARRAY:
        snprintf(buf, sizeof buf, "<%s %llu>", mfs_pk_kind_name(o->kind),
                 (unsigned long long)o->u.s.len);
        return json_string(buf);
    case MFS_PK_LIST: case MFS_PK_TUPLE: case MFS_PK_SET: case MFS_PK_FROZENSET:
        return conv_seq(o->u.seq.v, o->u.seq.n, anc, depth, max);
    case MFS_PK_DICT:
        return conv_dict(o, anc, depth, max);
    case MFS_PK_GLOBAL:
        return json_string(mfs_pk_qualname(o, buf, sizeof buf));
    case MFS_PK_CALL: {
        const mfs_pk *d = mfs_pk_as_dict(o);
        if (d && (mfs_pk_call_is(o, "collections", "OrderedDict") ||
                  mfs_pk_call_is(o, "collections", "defaultdict") ||
                  mfs_pk_call_is(o, "builtins", "dict")))
            return conv_dict(d, anc, depth, max);
        json_t *c = json_object();
        if (!c) return NULL;
        const mfs_pk *fn = o->u.call.callable;
        if (fn && fn->kind == MFS_PK_GLOBAL)
            json_object_set_new(c, "__call__", json_string(mfs_pk_qualname(fn, buf, sizeof buf)));
        else
            json_object_set_new(c, "__call__", conv(fn, anc, depth + 1, max));
        if (o->u.call.args) json_object_set_new(c, "args", conv(o->u.call.args, anc, depth + 1, max));
        if (o->u.call.kwargs) json_object_set_new(c, "kwargs", conv(o->u.call.kwargs, anc, depth + 1, max));
        if (d && d->u.dict.n) json_object_set_new(c, "items", conv_dict(d, anc, depth, max));
        size_t n;
        mfs_pk **it = mfs_pk_items(o, &n);
        if (n) json_object_set_new(c, "list_items", conv_seq(it, n, anc, depth, max));
        if (mfs_pk_state(o)) json_object_set_new(c, "state", conv(mfs_pk_state(o), anc, depth + 1, max));
        return c;
    }
    case MFS_PK_PERSID: {
        json_t *c = json_object();
        if (c) json_object_set_new(c, "__persistent_id__", conv(o->u.persid.pid, anc, depth + 1, max));
        return c;
    }
    default:
        return json_string(mfs_pk_kind_name(o->kind));
    }
}

json_t *mfs_pk_to_json_ex(const mfs_pk *o, int max_depth, mfs_pk_json_fn fn, void *ctx)
{
    struct jctx j = {.fn = fn, .ctx = ctx, .budget = MAX_OBJECTS};
    if (max_depth <= 0 || max_depth > MAX_DEPTH) max_depth = MAX_DEPTH;
    return conv(o, &j, 0, max_depth);
}

json_t *mfs_pk_to_json(const mfs_pk *o, int max_depth)
{
    return mfs_pk_to_json_ex(o, max_depth, NULL, NULL);
}
