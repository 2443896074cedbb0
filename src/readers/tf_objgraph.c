/* tf_objgraph.c: naming checkpoint entries (see tf_objgraph.h).
 *
 * Node ids are the indexes of TrackableObjectGraph.nodes (0 = root). The
 * arrays below are all indexed by node id. Only the first path to a node
 * (breadth-first, children in order) is used, as in TF's
 * ObjectGraphView: a Keras layer tracked both as "layer-1" and as
 * "layer_with_weights-0" gets the path its checkpoint keys use; optimizer
 * objects are entered only after everything else (tf_objgraph_int.h). */
#include "readers/tf_objgraph_int.h"
#include "readers/tf_text.h"
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TF_MAX_NODES 10000000

size_t tf_objgraph_count(const tf_objgraph *g) { return g->n; }

void tf_place_free(struct tf_place *p)
{
    if (!p) return;
    free(p->path);
    free(p->optimizer);
    p->path = p->optimizer = NULL;
}

void tf_objgraph_free(tf_objgraph *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->n; i++) {
        if (g->hint) free(g->hint[i]);
        if (g->disp) free(g->disp[i]);
        if (g->slot_own) free(g->slot_own[i]);
        if (g->full_own) free(g->full_own[i]);
    }
    free(g->slot_own);
    free(g->full_own);
    free(g->full);
    free(g->vkey);
    free(g->owner);
    free(g->parent);
    free(g->local);
    free(g->reached);
    free(g->hint);
    free(g->hint_prio);
    free(g->disp);
    free(g->is_opt);
    free(g->slot_of);
    free(g->slot_name);
    free(g->slot_opt);
    free(g->keys);
    if (g->pb) tfpb__trackable_object_graph__free_unpacked(g->pb, NULL);
    free(g);
}

static int keycmp(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    int c = x->klen && y->klen ? memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen) : 0;
    return c ? c : (x->klen < y->klen ? -1 : x->klen > y->klen);
}

static int name_is_opt(const char *s)
{
    size_t l = strlen(s);
    return !strcmp(s, "optimizer") || (l > 10 && !strcmp(s + l - 10, "_optimizer"));
}

int tf_objgraph_new(const unsigned char *pb, size_t len, tf_objgraph **out, mfs_err *e)
{
    *out = NULL;
    Tfpb__TrackableObjectGraph *p = tfpb__trackable_object_graph__unpack(NULL, len, pb);
    MFS_CHECK(p, e, MFS_FAILED, EINVAL, -1, "the object graph (TrackableObjectGraph) does not decode");
    if (p->n_nodes == 0 || p->n_nodes > TF_MAX_NODES) {
        size_t n = p->n_nodes;
        tfpb__trackable_object_graph__free_unpacked(p, NULL);
        return mfs_err_set(e, MFS_FAILED, EINVAL, -1, "the object graph has %zu nodes", n);
    }
    tf_objgraph *g = calloc(1, sizeof *g);
    if (!g) {
        tfpb__trackable_object_graph__free_unpacked(p, NULL);
        return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    }
    g->pb = p;
    size_t n = g->n = p->n_nodes;
    g->parent = malloc(n * sizeof *g->parent);
    g->local = calloc(n, sizeof *g->local);
    g->reached = calloc(n, sizeof *g->reached);
    g->hint = calloc(n, sizeof *g->hint);
    g->hint_prio = calloc(n, sizeof *g->hint_prio);
    g->disp = calloc(n, sizeof *g->disp);
    g->is_opt = calloc(n, sizeof *g->is_opt);
    g->slot_of = malloc(n * sizeof *g->slot_of);
    g->slot_name = calloc(n, sizeof *g->slot_name);
    g->slot_opt = calloc(n, sizeof *g->slot_opt);
    g->slot_own = calloc(n, sizeof *g->slot_own);
    g->full = calloc(n, sizeof *g->full);
    g->full_own = calloc(n, sizeof *g->full_own);
    g->vkey = calloc(n, sizeof *g->vkey);
    g->owner = malloc(n * sizeof *g->owner);
    int *queue = malloc(2 * n * sizeof *queue); /* optimizers are queued twice */
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) nk += p->nodes[i]->n_attributes;
    g->keys = calloc(nk ? nk : 1, sizeof *g->keys);
    if (!g->parent || !g->local || !g->reached || !g->hint || !g->hint_prio || !g->disp ||
        !g->is_opt || !g->slot_of || !g->slot_name || !g->slot_opt || !queue || !g->keys ||
        !g->slot_own || !g->full || !g->full_own || !g->vkey || !g->owner) {
        free(queue);
        tf_objgraph_free(g);
        return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    }
    for (size_t i = 0; i < n; i++) g->parent[i] = g->slot_of[i] = g->owner[i] = -1;
    /* optimizers: objects with slot variables, or named like one */
    for (size_t i = 0; i < n; i++) {
        const TObj *o = p->nodes[i];
        if (o->n_slot_variables) g->is_opt[i] = 1;
        for (size_t c = 0; c < o->n_children; c++) {
            const Tfpb__TrackableObjectGraph__TrackableObject__ObjectReference *r = o->children[c];
            if (r->node_id > 0 && (size_t)r->node_id < n && r->local_name && name_is_opt(r->local_name))
                g->is_opt[r->node_id] = 1;
        }
    }
    /* breadth-first paths: phase 1 does not enter optimizers, phase 2
     * continues from them (in the order they were reached) */
    size_t qh = 0, qt = 0;
    queue[qt++] = 0;
    g->reached[0] = 1;
    g->local[0] = "";
    size_t nopt = 0;
    int *opts = malloc(n * sizeof *opts);
    if (!opts) {
        free(queue);
        tf_objgraph_free(g);
        return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    }
    for (int phase = 1; phase <= 2; phase++) {
        if (phase == 2)
            for (size_t k = 0; k < nopt; k++) queue[qt++] = opts[k];
        while (qh < qt) {
            int cur = queue[qh++];
            if (phase == 1 && cur && g->is_opt[cur]) {
                opts[nopt++] = cur;
                continue;
            }
            int own = g->is_opt[cur] && cur ? cur : g->owner[cur];
            const TObj *o = p->nodes[cur];
            for (size_t c = 0; c < o->n_children; c++) {
                const Tfpb__TrackableObjectGraph__TrackableObject__ObjectReference *r = o->children[c];
                if (r->node_id < 0 || (size_t)r->node_id >= n || g->reached[r->node_id]) continue;
                g->reached[r->node_id] = 1;
                g->parent[r->node_id] = cur;
                g->owner[r->node_id] = own;
                g->local[r->node_id] = r->local_name ? r->local_name : "";
                queue[qt++] = r->node_id;
            }
        }
    }
    free(opts);
    free(queue);
    /* optimizers and their slots; keys; full_name hints */
    for (size_t i = 0; i < n; i++) {
        const TObj *o = p->nodes[i];
        for (size_t s = 0; s < o->n_slot_variables; s++) {
            const Tfpb__TrackableObjectGraph__TrackableObject__SlotVariableReference *r =
                o->slot_variables[s];
            int sv = r->slot_variable_node_id, ov = r->original_variable_node_id;
            if (sv < 0 || (size_t)sv >= n || ov < 0 || (size_t)ov >= n || sv == ov) continue;
            g->slot_of[sv] = ov;
            g->slot_name[sv] = r->slot_name ? r->slot_name : "slot";
            g->slot_opt[sv] = (int)i;
        }
        for (size_t a = 0; a < o->n_attributes; a++) {
            const Tfpb__TrackableObjectGraph__TrackableObject__SerializedTensor *st = o->attributes[a];
            if (!st->checkpoint_key) continue;
            struct keyref *k = &g->keys[g->nkeys++];
            k->key = st->checkpoint_key;
            k->klen = strlen(st->checkpoint_key);
            k->node = (int)i;
            k->attr = st->name ? st->name : "";
            if (!strcmp(k->attr, "VARIABLE_VALUE")) {
                g->vkey[i] = st->checkpoint_key;
                if (st->full_name && *st->full_name) g->full[i] = st->full_name;
            }
            /* "dense_3/kernel" names the variable's parent "dense_3" */
            if (st->full_name && g->parent[i] > 0) {
                const char *f = st->full_name, *last = strrchr(f, '/');
                if (last && last > f) {
                    const char *prev = last - 1;
                    while (prev > f && prev[-1] != '/') prev--;
                    char buf[256];
                    size_t l = (size_t)(last - prev);
                    if (l < sizeof buf) {
                        memcpy(buf, prev, l);
                        buf[l] = 0;
                        char *colon = strchr(buf, ':');
                        if (colon) *colon = 0;
                        tf_objgraph_hint(g, g->parent[i], buf, 1);
                    }
                }
            }
        }
    }
    qsort(g->keys, g->nkeys, sizeof *g->keys, keycmp);
    *out = g;
    return MFS_OK;
}

int tf_objgraph_resolve(const tf_objgraph *g, const char *path, char sep)
{
    int cur = 0;
    const char *p = path;
    while (*p) {
        const char *q = strchr(p, sep);
        size_t l = q ? (size_t)(q - p) : strlen(p);
        const TObj *o = g->pb->nodes[cur];
        int next = -1;
        for (size_t c = 0; c < o->n_children && next < 0; c++) {
            const char *ln = o->children[c]->local_name ? o->children[c]->local_name : "";
            int id = o->children[c]->node_id;
            if (strlen(ln) == l && !memcmp(ln, p, l) && id >= 0 && (size_t)id < g->n) next = id;
        }
        if (next < 0) return -1;
        cur = next;
        p += l;
        if (*p) p++;
    }
    return cur;
}

int tf_objgraph_node_of_key(const tf_objgraph *g, const char *key, size_t klen)
{
    struct keyref k = {key, klen, 0, NULL};
    const struct keyref *r = bsearch(&k, g->keys, g->nkeys, sizeof k, keycmp);
    return r ? r->node : -1;
}

void tf_objgraph_hint(tf_objgraph *g, int node, const char *name, int prio)
{
    if (node <= 0 || (size_t)node >= g->n || !name || !*name || strchr(name, '/') || g->fixed)
        return;
    if (!strcmp(name, ".") || !strcmp(name, "..")) return;
    if (g->hint[node] && g->hint_prio[node] >= prio) return;
    char *c = strdup(name);
    if (!c) return;
    free(g->hint[node]);
    g->hint[node] = c;
    g->hint_prio[node] = prio;
}

void tf_objgraph_full_name(tf_objgraph *g, int node, const char *name)
{
    if (node <= 0 || (size_t)node >= g->n || !name || !*name || g->full[node] || g->fixed) return;
    char *c = strdup(name);
    if (!c) return;
    size_t l = strlen(c);
    if (l > 2 && !strcmp(c + l - 2, ":0")) c[l - 2] = 0;
    g->full[node] = g->full_own[node] = c;
}

/* Keras tracking names: layer-N, layer_with_weights-N, plain indexes. */
static int tracking_name(const char *s)
{
    const char *d = NULL;
    if (!strncmp(s, "layer-", 6)) d = s + 6;
    else if (!strncmp(s, "layer_with_weights-", 19)) d = s + 19;
    else d = s;
    if (!*d) return 0;
    for (; *d; d++)
        if (!isdigit((unsigned char)*d)) return 0;
    return 1;
}

/* Fixes every node's display component (once). Siblings are found
 * through a counting sort of the nodes by parent. */
static int fix(tf_objgraph *g, mfs_err *e)
{
    if (g->fixed) return MFS_OK;
    g->fixed = 1;
    size_t n = g->n;
    size_t *start = calloc(n + 2, sizeof *start);
    int *kids = malloc(n * sizeof *kids);
    if (!start || !kids) {
        free(start);
        free(kids);
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        if (g->parent[i] >= 0) start[g->parent[i] + 2]++;
    for (size_t i = 2; i < n + 2; i++) start[i] += start[i - 1];
    for (size_t i = 0; i < n; i++)
        if (g->parent[i] >= 0) kids[start[g->parent[i] + 1]++] = (int)i;
    /* now kids[start[p] .. start[p+1]) are the children of p */
    int rc = MFS_OK;
    for (size_t i = 0; i < n && rc == MFS_OK; i++) {
        const char *want = g->local[i] ? g->local[i] : "";
        if (i && g->hint[i] && g->parent[i] >= 0 &&
            (tracking_name(want) || g->hint_prio[i] >= TF_HINT_FORCE)) {
            int clash = 0;
            size_t p = (size_t)g->parent[i];
            for (size_t k = start[p]; k < start[p + 1] && !clash; k++) {
                int j = kids[k];
                const char *other = g->disp[j] ? g->disp[j] : g->local[j];
                clash = (size_t)j != i && other && !strcmp(other, g->hint[i]);
            }
            if (!clash) want = g->hint[i];
        }
        if (!(g->disp[i] = strdup(want))) rc = mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    free(start);
    free(kids);
    return rc;
}

/* Display path of @node relative to ancestor @top (-1 = from the root):
 * malloc'd, NULL on OOM. */
static char *disp_path(const tf_objgraph *g, int node, int top)
{
    size_t len = 0;
    int depth = 0;
    for (int x = node; x > 0 && x != top; x = g->parent[x]) {
        len += strlen(g->disp[x]) + 1;
        if (++depth > (int)g->n) break;
    }
    char *s = malloc(len + 1);
    if (!s) return NULL;
    s[len] = 0;
    size_t pos = len;
    depth = 0;
    for (int x = node; x > 0 && x != top; x = g->parent[x]) {
        size_t l = strlen(g->disp[x]);
        pos -= l;
        memcpy(s + pos, g->disp[x], l);
        if (pos && g->parent[x] > 0 && g->parent[x] != top) s[--pos] = '/';
        if (++depth > (int)g->n) break;
    }
    if (pos) memmove(s, s + pos, len - pos + 1);
    return s;
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s) return NULL;
    memcpy(s, a, la);
    size_t p = la;
    if (la && lb) s[p++] = '/';
    memcpy(s + p, b, lb);
    s[p + lb] = 0;
    return s;
}

int tf_objgraph_place(tf_objgraph *g, const char *key, size_t klen, struct tf_place *out, mfs_err *e)
{
    memset(out, 0, sizeof *out);
    MFS_FORWARD(fix(g, e));
    struct keyref k = {key, klen, 0, NULL};
    const struct keyref *r = bsearch(&k, g->keys, g->nkeys, sizeof k, keycmp);
    if (!r) {
        out->role = !strcmp(key, "_CHECKPOINTABLE_OBJECT_GRAPH") ? TF_ROLE_INTERNAL : TF_ROLE_WEIGHT;
        out->path = strdup(key);
        if (!out->path) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        return MFS_OK;
    }
    int node = r->node;
    const char *attr = strcmp(r->attr, "VARIABLE_VALUE") ? r->attr : "";
    char *base = NULL;
    /* slot variables are reached only through their optimizer's
     * slot_variables, not as children */
    if (g->slot_of[node] >= 0 && g->reached[g->slot_of[node]]) {
        out->role = TF_ROLE_SLOT;
        char *param = disp_path(g, g->slot_of[node], -1);
        base = param ? join(param, g->slot_name[node]) : NULL;
        free(param);
        out->optimizer = disp_path(g, g->slot_opt[node], -1);
        if (!out->optimizer) goto oom;
    } else if (!g->reached[node]) {
        out->role = TF_ROLE_WEIGHT;
        base = strdup(key);
    } else if (!strcmp(r->attr, "OBJECT_CONFIG_JSON")) {
        out->role = TF_ROLE_CONFIG;
        base = disp_path(g, node, -1);
        attr = "";
    } else {
        int owner = -1;
        for (int x = g->parent[node]; x > 0; x = g->parent[x])
            if (g->is_opt[x]) {
                owner = x;
                break;
            }
        if (owner > 0) {
            out->role = TF_ROLE_OPT;
            base = disp_path(g, node, owner);
            out->optimizer = disp_path(g, owner, -1);
            if (!out->optimizer) goto oom;
        } else if (g->parent[node] == 0 && !strcmp(g->local[node], "save_counter")) {
            out->role = TF_ROLE_COUNTER;
            base = strdup("save_counter");
        } else {
            out->role = TF_ROLE_WEIGHT;
            base = disp_path(g, node, -1);
        }
    }
    if (!base) goto oom;
    out->path = join(base, attr);
    free(base);
    if (!out->path) goto oom;
    return MFS_OK;
oom:
    tf_place_free(out);
    return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
}

json_t *tf_objgraph_json(const tf_objgraph *g)
{
    json_t *nodes = json_array();
    for (size_t i = 0; i < g->n; i++) {
        const TObj *o = g->pb->nodes[i];
        json_t *n = json_object(), *ch = json_array(), *at = json_array(), *sl = json_array();
        json_object_set_new(n, "id", json_integer((json_int_t)i));
        if (g->reached[i] && i) {
            json_object_set_new(n, "parent", json_integer(g->parent[i]));
            json_object_set_new(n, "local_name", tf_json_bytes(g->local[i], strlen(g->local[i])));
        }
        for (size_t c = 0; c < o->n_children; c++) {
            json_t *x = json_object();
            const char *ln = o->children[c]->local_name ? o->children[c]->local_name : "";
            json_object_set_new(x, "name", tf_json_bytes(ln, strlen(ln)));
            json_object_set_new(x, "node", json_integer(o->children[c]->node_id));
            json_array_append_new(ch, x);
        }
        for (size_t a = 0; a < o->n_attributes; a++) {
            const Tfpb__TrackableObjectGraph__TrackableObject__SerializedTensor *st = o->attributes[a];
            json_t *x = json_object();
            if (st->name) json_object_set_new(x, "name", tf_json_bytes(st->name, strlen(st->name)));
            if (st->full_name)
                json_object_set_new(x, "full_name", tf_json_bytes(st->full_name, strlen(st->full_name)));
            if (st->checkpoint_key)
                json_object_set_new(x, "checkpoint_key",
                                    tf_json_bytes(st->checkpoint_key, strlen(st->checkpoint_key)));
            json_array_append_new(at, x);
        }
        for (size_t s = 0; s < o->n_slot_variables; s++) {
            json_t *x = json_object();
            json_object_set_new(x, "original_variable_node_id",
                                json_integer(o->slot_variables[s]->original_variable_node_id));
            if (o->slot_variables[s]->slot_name)
                json_object_set_new(x, "slot_name", tf_json_bytes(o->slot_variables[s]->slot_name,
                                                                  strlen(o->slot_variables[s]->slot_name)));
            json_object_set_new(x, "slot_variable_node_id",
                                json_integer(o->slot_variables[s]->slot_variable_node_id));
            json_array_append_new(sl, x);
        }
        if (json_array_size(ch)) json_object_set(n, "children", ch);
        if (json_array_size(at)) json_object_set(n, "attributes", at);
        if (json_array_size(sl)) json_object_set(n, "slot_variables", sl);
        json_decref(ch);
        json_decref(at);
        json_decref(sl);
        json_array_append_new(nodes, n);
    }
    json_t *root = json_object();
    json_object_set_new(root, "nodes", nodes);
    return root;
}

/* ---- name-based (TF1) ---- */

/* Optimizer slot suffixes of tf.compat.v1.train optimizers. */
static int slot_suffix(const char *s)
{
    static const char *const names[] = {"Adam", "Momentum", "RMSProp", "Adagrad", "AdagradDA",
                                        "Adadelta", "Ftrl", "ProximalAdagrad", "AdamW", "Nadam",
                                        "Adamax", "LazyAdam", "Lamb", "LARS", NULL};
    for (int i = 0; names[i]; i++) {
        size_t l = strlen(names[i]);
        if (strncmp(s, names[i], l)) continue;
        const char *r = s + l;
        if (!*r) return 1;
        if (*r != '_' || !r[1]) continue;
        for (r++; *r; r++)
            if (!isdigit((unsigned char)*r)) break;
        if (!*r) return 1;
    }
    return 0;
}

static int opt_scalar(const char *s)
{
    static const char *const names[] = {"beta1_power", "beta2_power", NULL};
    for (int i = 0; names[i]; i++) {
        size_t l = strlen(names[i]);
        if (strncmp(s, names[i], l)) continue;
        const char *r = s + l;
        if (!*r) return 1;
        if (*r != '_' || !r[1]) continue;
        for (r++; *r; r++)
            if (!isdigit((unsigned char)*r)) break;
        if (!*r) return 1;
    }
    return 0;
}

int tf_place_by_name(const char *key, int (*is_var)(void *ctx, const char *k, size_t n), void *ctx,
                     struct tf_place *out, mfs_err *e)
{
    memset(out, 0, sizeof *out);
    const char *slash = strrchr(key, '/');
    if (!strcmp(key, "global_step")) {
        out->role = TF_ROLE_COUNTER;
    } else if (!strcmp(key, "_CHECKPOINTABLE_OBJECT_GRAPH")) {
        out->role = TF_ROLE_INTERNAL;
    } else if (slash && slash > key && slot_suffix(slash + 1) && is_var(ctx, key, (size_t)(slash - key))) {
        out->role = TF_ROLE_SLOT;
    } else if (opt_scalar(key)) {
        out->role = TF_ROLE_OPT;
    } else {
        out->role = TF_ROLE_WEIGHT;
    }
    out->path = strdup(key);
    if (!out->path) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    return MFS_OK;
}
