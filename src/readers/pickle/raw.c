/* raw.c: a pickle object graph as directories and files (see raw.h for
 * the rendering rules).
 *
 * The walk is recursive with an explicit depth bound (MAX_DEPTH) and a
 * node budget (MAX_NODES) shared by the whole build, so a hostile graph
 * (a DAG that doubles at each level, a list nested 100,000 deep) costs at
 * most the budget. Each container is expanded once: `first[id]` keeps
 * the raw path where it was expanded, later meetings link to it. */
#include "readers/pickle/raw.h"
#include "core/log.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 200
#define MAX_NODES 2000000
#define MARK_BUDGET 4096

struct raw {
    mfs_tree *t;
    mfs_src *src;
    const struct mfs_pk_raw_hooks *hk;
    struct mfs_pk_where *w;
    char **first;       /* by id */
    uint32_t cap;
    uint64_t nodes;
    int truncated;
    char *path;         /* current raw path */
    size_t plen, pcap;
    mfs_err *e;
};

static int oom(struct raw *r)
{
    return mfs_err_set(r->e, MFS_FATAL, ENOMEM, -1, "out of memory building raw/");
}

/* Appends "/name" to the current path; returns the old length or -1. */
static long path_push(struct raw *r, const char *name)
{
    size_t old = r->plen, l = strlen(name);
    if (old + l + 2 > r->pcap) {
        size_t nc = (old + l + 2) * 2;
        char *np = realloc(r->path, nc);
        if (!np) return -1;
        r->path = np;
        r->pcap = nc;
    }
    if (old) r->path[r->plen++] = '/';
    memcpy(r->path + r->plen, name, l + 1);
    r->plen += l;
    return (long)old;
}

static void path_pop(struct raw *r, long old)
{
    r->plen = (size_t)old;
    r->path[r->plen] = 0;
}

/* Makes by-id arrays hold @id. */
static int ensure_id(char ***arr, uint32_t *cap, uint32_t id)
{
    if (id < *cap) return 0;
    uint32_t nc = *cap ? *cap : 1024;
    while (nc <= id) nc *= 2;
    char **na = realloc(*arr, nc * sizeof *na);
    if (!na) return -1;
    memset(na + *cap, 0, (nc - *cap) * sizeof *na);
    *arr = na;
    *cap = nc;
    return 0;
}

/* Records the current path as where GLOBAL @g is used (first use wins). */
static int note_global(struct raw *r, const mfs_pk *g)
{
    if (!r->w || !g || g->kind != MFS_PK_GLOBAL) return MFS_OK;
    if (ensure_id(&r->w->path, &r->w->cap, g->id)) return oom(r);
    if (!r->w->path[g->id] && !(r->w->path[g->id] = strdup(r->path))) return oom(r);
    return MFS_OK;
}

/* Marks every GLOBAL below @o (a hook-rendered subtree) with the current
 * path; bounded by depth and *budget, no visited set needed. */
static int mark_globals(struct raw *r, const mfs_pk *o, int depth, int *budget)
{
    if (!o || depth > 16 || --*budget < 0) return MFS_OK;
    size_t n;
    mfs_pk **v;
    switch (o->kind) {
    case MFS_PK_GLOBAL:
        return note_global(r, o);
    case MFS_PK_LIST: case MFS_PK_TUPLE: case MFS_PK_SET: case MFS_PK_FROZENSET:
        v = mfs_pk_items(o, &n);
        for (size_t i = 0; i < n; i++) MFS_FORWARD(mark_globals(r, v[i], depth + 1, budget));
        break;
    case MFS_PK_DICT:
        for (size_t i = 0; i < o->u.dict.n; i++) {
            MFS_FORWARD(mark_globals(r, o->u.dict.k[i], depth + 1, budget));
            MFS_FORWARD(mark_globals(r, o->u.dict.v[i], depth + 1, budget));
        }
        break;
    case MFS_PK_CALL:
        MFS_FORWARD(mark_globals(r, o->u.call.callable, depth + 1, budget));
        MFS_FORWARD(mark_globals(r, o->u.call.args, depth + 1, budget));
        MFS_FORWARD(mark_globals(r, o->u.call.kwargs, depth + 1, budget));
        break;
    case MFS_PK_PERSID:
        MFS_FORWARD(mark_globals(r, o->u.persid.pid, depth + 1, budget));
        break;
    default:
        break;
    }
    if (o->x) {
        for (size_t i = 0; i < o->x->nstates; i++)
            MFS_FORWARD(mark_globals(r, o->x->states[i], depth + 1, budget));
        MFS_FORWARD(mark_globals(r, o->x->items, depth + 1, budget));
        MFS_FORWARD(mark_globals(r, o->x->dictitems, depth + 1, budget));
    }
    return MFS_OK;
}

static int render(struct raw *r, uint32_t parent, const char *name, const mfs_pk *o, int depth);

/* A scalar or bytes object as a file; 1 when @o was one, 0 if not. */
static int scalar_file(struct raw *r, uint32_t parent, const char *name, const mfs_pk *o)
{
    char buf[160];
    uint32_t id = 1;
    switch (o->kind) {
    case MFS_PK_NONE: id = mfs_tree_add_text(r->t, parent, name, "None\n", 5); break;
    case MFS_PK_BOOL: id = mfs_tree_add_textf(r->t, parent, name, "%s\n", o->u.b ? "True" : "False"); break;
    case MFS_PK_INT: case MFS_PK_FLOAT:
        id = mfs_tree_add_textf(r->t, parent, name, "%s\n", mfs_pk_repr(o, buf, sizeof buf));
        break;
    case MFS_PK_STR: case MFS_PK_BYTES: case MFS_PK_BYTEARRAY: {
        int nl = o->kind == MFS_PK_STR;
        if (!o->u.s.data) {
            id = r->src ? mfs_tree_add_src_range(r->t, parent, name, r->src, o->u.s.off, o->u.s.len)
                        : mfs_tree_add_textf(r->t, parent, name, "<%s of %llu bytes>\n",
                                             mfs_pk_kind_name(o->kind),
                                             (unsigned long long)o->u.s.len);
        } else if (nl) {
            char *tmp = malloc((size_t)o->u.s.len + 1);
            if (!tmp) return oom(r);
            memcpy(tmp, o->u.s.data, (size_t)o->u.s.len);
            tmp[o->u.s.len] = '\n';
            id = mfs_tree_add_text(r->t, parent, name, tmp, (size_t)o->u.s.len + 1);
            free(tmp);
        } else {
            id = mfs_tree_add_text(r->t, parent, name, o->u.s.data, (size_t)o->u.s.len);
        }
        break;
    }
    case MFS_PK_GLOBAL: {
        int rc = note_global(r, o); /* the caller pushed @name */
        if (rc < 0) return rc;
        id = mfs_tree_add_textf(r->t, parent, name, "%s\n", mfs_pk_qualname(o, buf, sizeof buf));
        break;
    }
    case MFS_PK_BUFFER:
        id = mfs_tree_add_text(r->t, parent, name, "<out-of-band buffer>\n", 21);
        break;
    default:
        return 0;
    }
    if (!id) return oom(r);
    r->nodes++;
    return 1;
}

/* Sequence entries 0..n-1 into @dir. */
static int render_seq(struct raw *r, uint32_t dir, mfs_pk *const *v, size_t n, int depth)
{
    char nm[24];
    for (size_t i = 0; i < n; i++) {
        snprintf(nm, sizeof nm, "%zu", i);
        MFS_FORWARD(render(r, dir, nm, v[i], depth + 1));
    }
    return MFS_OK;
}

static int render_dict(struct raw *r, uint32_t dir, const mfs_pk *d, int depth)
{
    char key[1024];
    for (size_t i = 0; i < d->u.dict.n; i++) {
        mfs_pk_key_name(d->u.dict.k[i], key, sizeof key);
        MFS_FORWARD(render(r, dir, key, d->u.dict.v[i], depth + 1));
    }
    return MFS_OK;
}

static int is_dict_call(const mfs_pk *o)
{
    return (o->x && o->x->dictitems) || mfs_pk_call_is(o, "collections", "OrderedDict") ||
           mfs_pk_call_is(o, "collections", "defaultdict") || mfs_pk_call_is(o, "builtins", "dict");
}

/* The children of container @o into @dir. */
static int render_into(struct raw *r, uint32_t dir, const mfs_pk *o, int depth)
{
    size_t n;
    mfs_pk **v;
    switch (o->kind) {
    case MFS_PK_LIST: case MFS_PK_TUPLE: case MFS_PK_SET: case MFS_PK_FROZENSET:
        v = mfs_pk_items(o, &n);
        MFS_FORWARD(render_seq(r, dir, v, n, depth));
        break;
    case MFS_PK_DICT:
        MFS_FORWARD(render_dict(r, dir, o, depth));
        break;
    case MFS_PK_PERSID:
        MFS_FORWARD(render(r, dir, "__persistent_id__", o->u.persid.pid, depth + 1));
        break;
    case MFS_PK_CALL: {
        const mfs_pk *d = is_dict_call(o) ? mfs_pk_as_dict(o) : NULL;
        if (d) {
            MFS_FORWARD(render_dict(r, dir, d, depth));
            if (mfs_pk_state(o)) MFS_FORWARD(render(r, dir, "__state__", mfs_pk_state(o), depth + 1));
            v = mfs_pk_items(o, &n);
            if (n) MFS_FORWARD(render(r, dir, "__items__", o->x->items, depth + 1));
            break;
        }
        MFS_FORWARD(render(r, dir, "__class__", o->u.call.callable, depth + 1));
        const mfs_pk *a = o->u.call.args;
        if (a && !(a->kind == MFS_PK_TUPLE && a->u.seq.n == 0))
            MFS_FORWARD(render(r, dir, "__args__", a, depth + 1));
        if (o->u.call.kwargs) MFS_FORWARD(render(r, dir, "__kwargs__", o->u.call.kwargs, depth + 1));
        const mfs_pk *st = mfs_pk_state(o);
        if (st && st->kind == MFS_PK_DICT) {
            MFS_FORWARD(render_dict(r, dir, st, depth));
        } else if (st && st->kind == MFS_PK_TUPLE && st->u.seq.n == 2 &&
                   (st->u.seq.v[0]->kind == MFS_PK_DICT || st->u.seq.v[0]->kind == MFS_PK_NONE) &&
                   st->u.seq.v[1]->kind == MFS_PK_DICT) {
            if (st->u.seq.v[0]->kind == MFS_PK_DICT)
                MFS_FORWARD(render_dict(r, dir, st->u.seq.v[0], depth));
            MFS_FORWARD(render_dict(r, dir, st->u.seq.v[1], depth)); /* __slots__ */
        } else if (st) {
            MFS_FORWARD(render(r, dir, "__state__", st, depth + 1));
        }
        if (o->x && o->x->items) MFS_FORWARD(render(r, dir, "__items__", o->x->items, depth + 1));
        if (o->x && o->x->dictitems)
            MFS_FORWARD(render(r, dir, "__dictitems__", o->x->dictitems, depth + 1));
        break;
    }
    default:
        break;
    }
    return MFS_OK;
}

static int truncate_here(struct raw *r, uint32_t parent)
{
    if (!r->truncated) mfs_log("raw/: pickle graph too large or deep, truncated at %s", r->path);
    r->truncated = 1;
    if (!mfs_tree_lookup_path(r->t, parent, "__truncated__") &&
        !mfs_tree_add_text(r->t, parent, "__truncated__",
                           "modelfs stopped here: object graph too deep or too large\n", 57))
        return oom(r);
    return MFS_OK;
}

static int render(struct raw *r, uint32_t parent, const char *name, const mfs_pk *o, int depth)
{
    if (!o) return MFS_OK;
    if (depth > MAX_DEPTH || r->nodes >= MAX_NODES) return truncate_here(r, parent);
    long old = path_push(r, name);
    if (old < 0) return oom(r);
    int rc;
    if (r->hk && r->hk->node) {
        rc = r->hk->node(r->hk->ctx, r->t, parent, name, o, r->e);
        if (rc < 0) goto out;
        if (rc == 1) {
            int budget = MARK_BUDGET;
            r->nodes++;
            rc = mark_globals(r, o, 0, &budget);
            goto out;
        }
    }
    rc = scalar_file(r, parent, name, o);
    if (rc != 0) {
        rc = rc < 0 ? rc : MFS_OK;
        goto out;
    }
    /* a container: expanded once */
    if (ensure_id(&r->first, &r->cap, o->id)) {
        rc = oom(r);
        goto out;
    }
    if (r->first[o->id]) {
        rc = mfs_tree_add_textf(r->t, parent, name, "see %s\n", r->first[o->id]) ? MFS_OK : oom(r);
        r->nodes++;
        goto out;
    }
    if (!(r->first[o->id] = strdup(r->path))) {
        rc = oom(r);
        goto out;
    }
    uint32_t dir = mfs_tree_mkdir(r->t, parent, name);
    if (!dir) {
        rc = oom(r);
        goto out;
    }
    r->nodes++;
    if (o->kind == MFS_PK_CALL) {
        rc = note_global(r, o->u.call.callable);
        if (rc < 0) goto out;
    }
    rc = render_into(r, dir, o, depth);
out:
    path_pop(r, old);
    return rc;
}

int mfs_pk_raw_build(mfs_tree *t, uint32_t parent, const char *name, const mfs_pk *root,
                     mfs_src *src, const char *label, const struct mfs_pk_raw_hooks *hk,
                     struct mfs_pk_where *w, mfs_err *e)
{
    struct raw r = {.t = t, .src = src, .hk = hk, .w = w, .e = e};
    int rc;
    if (path_push(&r, label ? label : "raw") < 0) return oom(&r);
    if (name) {
        rc = render(&r, parent, name, root, 0);
    } else if (root && (root->kind == MFS_PK_DICT || root->kind == MFS_PK_LIST ||
                        root->kind == MFS_PK_TUPLE || root->kind == MFS_PK_CALL)) {
        if (ensure_id(&r.first, &r.cap, root->id) || !(r.first[root->id] = strdup(r.path))) {
            rc = oom(&r);
            goto out;
        }
        rc = root->kind == MFS_PK_CALL ? note_global(&r, root->u.call.callable) : MFS_OK;
        if (rc >= 0) rc = render_into(&r, parent, root, 0);
    } else {
        rc = render(&r, parent, "value", root, 0);
    }
out:
    for (uint32_t i = 0; i < r.cap; i++) free(r.first[i]);
    free(r.first);
    free(r.path);
    if (rc >= 0 && r.truncated) rc = MFS_WARN;
    return rc;
}

void mfs_pk_where_free(struct mfs_pk_where *w)
{
    if (!w) return;
    for (uint32_t i = 0; i < w->cap; i++) free(w->path[i]);
    free(w->path);
    w->path = NULL;
    w->cap = 0;
}
