/* tf_optslots.c: Keras >= 2.11 / Keras 3 optimizer variables attached to
 * the parameters they belong to (see tf_objgraph_attach_slots in
 * tf_objgraph.h; the graph's state is tf_objgraph_int.h).
 *
 * Legacy Keras optimizers (OptimizerV2) declare their slots in the object
 * graph: TrackableObject.slot_variables says "node 57 is slot `m` of node
 * 12". The optimizers of Keras >= 2.11 (keras/optimizers/optimizer.py)
 * and Keras 3 (keras/src/optimizers/base_optimizer.py) do not: every
 * variable they create is appended to the list `_variables` (iteration
 * first), so a checkpoint shows them as `optimizer/_variables/N`. What
 * the checkpoint still says, in order of trust:
 *
 *  1. Lists beside `_variables`. Keras 3 tracks `_trainable_variables`
 *     (the parameters, in the order build() saw them) and the per-slot
 *     lists (`_momentums`, `_velocities`, `_model_variables_moving_average`
 *     ...), element i of each belonging to parameter i.
 *  2. Full names (SerializedTensor.full_name, or the SavedModel's
 *     SavedVariable.name). Keras >= 2.11 names a slot
 *     "<slot>/<parameter's shared name>" under the optimizer's name scope:
 *     "Adam/m/dense/kernel" for "dense/kernel". Keras 3 names it
 *     "<parameter path with / -> _>_<slot>": "adam/dense_kernel_momentum".
 *
 * A candidate is accepted only when the slot's stored shape equals its
 * parameter's (the caller's callback compares the bundle entries), so a
 * factored slot (Adafactor's row/column statistics) or an ambiguous name
 * keeps its raw place. A parameter is any variable reached without going
 * through an optimizer; names are looked up in a sorted table, ambiguous
 * names (two parameters) are dropped from it. */
#include "readers/tf_objgraph_int.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pname {
    char *name;   /* owned */
    int node;     /* -1: ambiguous */
};

struct ptab {
    struct pname *v;
    size_t n, cap;
};

static int pname_cmp(const void *a, const void *b)
{
    return strcmp(((const struct pname *)a)->name, ((const struct pname *)b)->name);
}

static void ptab_add(struct ptab *t, const char *s, size_t len, int node)
{
    if (!len) return;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct pname *v = realloc(t->v, cap * sizeof *v);
        if (!v) return;
        t->v = v;
        t->cap = cap;
    }
    char *c = strndup(s, len);
    if (!c) return;
    t->v[t->n].name = c;
    t->v[t->n++].node = node;
}

/* Sorts and marks names held by two different parameters ambiguous. */
static void ptab_seal(struct ptab *t)
{
    qsort(t->v, t->n, sizeof *t->v, pname_cmp);
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (w && !strcmp(t->v[w - 1].name, t->v[i].name)) {
            if (t->v[w - 1].node != t->v[i].node) t->v[w - 1].node = -1;
            free(t->v[i].name);
            continue;
        }
        t->v[w++] = t->v[i];
    }
    t->n = w;
}

static int ptab_find(const struct ptab *t, const char *s, size_t len)
{
    char buf[1024];
    if (len >= sizeof buf || !len) return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    struct pname k = {buf, 0};
    const struct pname *r = t->n ? bsearch(&k, t->v, t->n, sizeof k, pname_cmp) : NULL;
    return r ? r->node : -1;
}

static void ptab_free(struct ptab *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->v[i].name);
    free(t->v);
}

/* A variable node that is a parameter: reached, not through an optimizer. */
static int is_param(const tf_objgraph *g, int node)
{
    return node > 0 && (size_t)node < g->n && g->reached[node] && g->vkey[node] &&
           g->owner[node] < 0 && g->slot_of[node] < 0;
}

/* The parameters' names: full name G, and G with '/' -> '_' (Keras 3
 * slot names). */
static void param_names(const tf_objgraph *g, struct ptab *full, struct ptab *flat)
{
    char buf[1024];
    for (size_t i = 1; i < g->n; i++) {
        if (!is_param(g, (int)i) || !g->full[i]) continue;
        size_t l = strlen(g->full[i]);
        if (l > 2 && !strcmp(g->full[i] + l - 2, ":0")) l -= 2;
        if (l >= sizeof buf) continue;
        ptab_add(full, g->full[i], l, (int)i);
        memcpy(buf, g->full[i], l);
        for (size_t k = 0; k < l; k++)
            if (buf[k] == '/') buf[k] = '_';
        ptab_add(flat, buf, l, (int)i);
    }
    ptab_seal(full);
    ptab_seal(flat);
}

struct match {
    int param;
    const char *slot;  /* inside the full name */
    size_t slen;
};

/* The parameter a slot's full name @f names, and the slot's name:
 * "Adam/m/dense/kernel" (the longest parameter name after a '/', the slot
 * the component before it) or ".../dense_kernel_momentum" (the longest
 * flattened parameter name that the last component starts with, then
 * '_' and the slot). @want >= 0 accepts only that parameter. */
static struct match by_name(const struct ptab *full, const struct ptab *flat, const char *f, int want)
{
    struct match m = {-1, NULL, 0};
    size_t l = strlen(f);
    if (l > 2 && !strcmp(f + l - 2, ":0")) l -= 2;
    for (size_t i = 0; i < l; i++) {
        if (f[i] != '/') continue;
        int p = ptab_find(full, f + i + 1, l - i - 1);
        if (p < 0 || (want >= 0 && p != want)) continue;
        size_t a = i;
        while (a > 0 && f[a - 1] != '/') a--;
        if (a == i) continue;
        m.param = p;
        m.slot = f + a;
        m.slen = i - a;
        return m;
    }
    const char *last = f + l;
    while (last > f && last[-1] != '/') last--;
    size_t ll = (size_t)(f + l - last);
    for (size_t j = ll; j-- > 1;) {
        if (last[j] != '_' || j + 1 >= ll) continue;
        int p = ptab_find(flat, last, j);
        if (p < 0 || (want >= 0 && p != want)) continue;
        m.param = p;
        m.slot = last + j + 1;
        m.slen = ll - j - 1;
        return m;
    }
    return m;
}

/* Records @v as slot @name (@n bytes) of parameter @p of optimizer @opt. */
static void attach(tf_objgraph *g, int v, int p, int opt, const char *name, size_t n,
                   int (*same_shape)(void *, const char *, const char *), void *ctx)
{
    if (g->slot_of[v] >= 0 || !n || memchr(name, '/', n)) return;
    if (same_shape && !same_shape(ctx, g->vkey[v], g->vkey[p])) return;
    char *s = strndup(name, n);
    if (!s) return;
    if (!strcmp(s, ".") || !strcmp(s, "..")) {
        free(s);
        return;
    }
    free(g->slot_own[v]);
    g->slot_own[v] = s;
    g->slot_name[v] = s;
    g->slot_of[v] = p;
    g->slot_opt[v] = opt;
}

/* The child of @node named @name, or -1. */
static int child(const tf_objgraph *g, int node, const char *name)
{
    const TObj *o = g->pb->nodes[node];
    for (size_t c = 0; c < o->n_children; c++) {
        int id = o->children[c]->node_id;
        if (o->children[c]->local_name && !strcmp(o->children[c]->local_name, name) && id >= 0 &&
            (size_t)id < g->n)
            return id;
    }
    return -1;
}

/* Element @i of the list object @list ("0", "1" ...), or -1. */
static int element(const tf_objgraph *g, int list, size_t i)
{
    char k[24];
    snprintf(k, sizeof k, "%zu", i);
    return child(g, list, k);
}

/* 1 when every child of @node is named by a decimal index. */
static int is_list(const tf_objgraph *g, int node, size_t *len)
{
    const TObj *o = g->pb->nodes[node];
    for (size_t c = 0; c < o->n_children; c++) {
        const char *s = o->children[c]->local_name;
        if (!s || !*s) return 0;
        for (; *s; s++)
            if (!isdigit((unsigned char)*s)) return 0;
    }
    *len = o->n_children;
    return o->n_children > 0;
}

/* 1. Keras 3: `_trainable_variables` and the lists beside it. */
static void by_lists(tf_objgraph *g, int opt, const struct ptab *full, const struct ptab *flat,
                     int (*same_shape)(void *, const char *, const char *), void *ctx)
{
    int tv = child(g, opt, "_trainable_variables");
    size_t n;
    if (tv < 0 || !is_list(g, tv, &n)) return;
    const TObj *o = g->pb->nodes[opt];
    for (size_t c = 0; c < o->n_children; c++) {
        int l = o->children[c]->node_id;
        const char *ln = o->children[c]->local_name ? o->children[c]->local_name : "";
        size_t k;
        if (l == tv || l < 0 || (size_t)l >= g->n || !strcmp(ln, "_variables") || !is_list(g, l, &k) ||
            k != n)
            continue;
        for (size_t i = 0; i < n; i++) {
            int v = element(g, l, i), p = element(g, tv, i);
            if (v <= 0 || !is_param(g, p) || !g->vkey[v] || g->owner[v] != opt) continue;
            /* the slot's own name when its full name agrees, else the
             * list's ("_momentums" -> "momentums") */
            struct match m = g->full[v] ? by_name(full, flat, g->full[v], p) : (struct match){-1, NULL, 0};
            if (m.param == p) {
                attach(g, v, p, opt, m.slot, m.slen, same_shape, ctx);
            } else {
                const char *s = ln;
                while (*s == '_') s++;
                attach(g, v, p, opt, s, strlen(s), same_shape, ctx);
            }
        }
    }
}

void tf_objgraph_attach_slots(tf_objgraph *g, int (*same_shape)(void *ctx, const char *a, const char *b),
                              void *ctx)
{
    if (g->fixed) return;
    int any = 0;
    for (size_t i = 1; i < g->n && !any; i++)
        any = g->is_opt[i] && g->reached[i] && !g->pb->nodes[i]->n_slot_variables;
    if (!any) return;
    struct ptab full = {0}, flat = {0};
    param_names(g, &full, &flat);
    for (size_t o = 1; o < g->n; o++) {
        if (!g->is_opt[o] || !g->reached[o] || g->pb->nodes[o]->n_slot_variables) continue;
        by_lists(g, (int)o, &full, &flat, same_shape, ctx);
        /* 2. full names, for what the lists did not place */
        for (size_t v = 1; v < g->n; v++) {
            if (g->owner[v] != (int)o || !g->vkey[v] || !g->full[v] || g->slot_of[v] >= 0) continue;
            struct match m = by_name(&full, &flat, g->full[v], -1);
            if (m.param > 0) attach(g, (int)v, m.param, (int)o, m.slot, m.slen, same_shape, ctx);
        }
        /* the optimizer's own `_iterations`, `_learning_rate` */
        const TObj *ob = g->pb->nodes[o];
        for (size_t c = 0; c < ob->n_children; c++) {
            int id = ob->children[c]->node_id;
            const char *ln = ob->children[c]->local_name;
            if (id <= 0 || (size_t)id >= g->n || !ln || ln[0] != '_' || !ln[1] || ln[1] == '_' ||
                g->parent[id] != (int)o || !g->vkey[id] || g->slot_of[id] >= 0 || child(g, (int)o, ln + 1) >= 0)
                continue;
            tf_objgraph_hint(g, id, ln + 1, TF_HINT_FORCE);
        }
    }
    ptab_free(&full);
    ptab_free(&flat);
}
