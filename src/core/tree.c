/* tree.c: the format-neutral tree (see tree.h, tree_private.h).
 *
 * Storage: nodes live in one growing array indexed by id (so ids, not
 * pointers, are kept while building); names, texts and tensors live in a
 * chunked arena freed in one go. Lookup of (parent, name) goes through an
 * open-addressing hash table keyed by both, so `ls -R` of a directory with
 * thousands of tensors costs O(1) per lookup. Children arrays keep
 * insertion order, which is the order readdir shows. */
#include "core/tree_private.h"
#include "core/name.h"
#include "views/view.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mfs_arena_chunk {
    struct mfs_arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

void *mfs_tree_alloc(mfs_tree *t, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    struct mfs_arena_chunk *c = t->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = t->arena;
        c->used = 0;
        c->cap = cap;
        t->arena = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *mfs_tree_strndup(mfs_tree *t, const char *s, size_t n)
{
    char *p = mfs_tree_alloc(t, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *mfs_tree_strdup(mfs_tree *t, const char *s) { return mfs_tree_strndup(t, s, strlen(s)); }

static uint64_t hash_key(uint32_t parent, const char *name)
{
    uint64_t h = 1469598103934665603ull ^ parent;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 1099511628211ull;
    h ^= h >> 29;
    return h;
}

static int hash_insert(mfs_tree *t, uint32_t id);

static int hash_grow(mfs_tree *t)
{
    uint32_t ncap = t->hcap ? t->hcap * 2 : 1024;
    uint32_t *nh = calloc(ncap, sizeof *nh);
    if (!nh) return -1;
    free(t->hash);
    t->hash = nh;
    t->hcap = ncap;
    for (uint32_t id = 2; id <= t->count; id++)
        if (t->n[id].parent) hash_insert(t, id);
    return 0;
}

static int hash_insert(mfs_tree *t, uint32_t id)
{
    uint32_t mask = t->hcap - 1;
    uint64_t h = hash_key(t->n[id].parent, t->n[id].name);
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        if (!t->hash[i]) {
            t->hash[i] = id;
            return 0;
        }
    }
}

/* Takes @id out of the hash (linear probing: the rest of its cluster is
 * re-inserted so no lookup stops early at the hole). */
static void hash_remove(mfs_tree *t, uint32_t id)
{
    uint32_t mask = t->hcap - 1;
    uint32_t i = (uint32_t)hash_key(t->n[id].parent, t->n[id].name) & mask;
    while (t->hash[i] && t->hash[i] != id) i = (i + 1) & mask;
    if (!t->hash[i]) return;
    t->hash[i] = 0;
    for (i = (i + 1) & mask; t->hash[i]; i = (i + 1) & mask) {
        uint32_t x = t->hash[i];
        t->hash[i] = 0;
        hash_insert(t, x);
    }
}

uint32_t mfs_tree_child(const mfs_tree *t, uint32_t dir, const char *name)
{
    if (!t->hcap) return 0;
    uint32_t mask = t->hcap - 1;
    uint64_t h = hash_key(dir, name);
    for (uint32_t i = (uint32_t)h & mask; t->hash[i]; i = (i + 1) & mask) {
        const struct mfs_node *n = &t->n[t->hash[i]];
        if (n->parent == dir && strcmp(n->name, name) == 0) return t->hash[i];
    }
    return 0;
}

mfs_tree *mfs_tree_new(void)
{
    mfs_tree *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cap = 256;
    t->n = calloc(t->cap, sizeof *t->n);
    if (!t->n || hash_grow(t) != 0) {
        mfs_tree_free(t);
        return NULL;
    }
    pthread_mutex_init(&t->sums_mu, NULL);
    t->count = 1;
    t->n[1].name = "";
    t->n[1].parent = 1;
    t->n[1].kind = MFS_N_DIR;
    return t;
}

void mfs_tree_free(mfs_tree *t)
{
    if (!t) return;
    for (uint32_t i = 1; i <= t->count && t->n; i++) free(t->n[i].kids);
    for (size_t i = 0; i < t->ntensors; i++) {
        mfs_tensor *x = t->tensors[i];
        mfs_src_unref(x->src);
        json_decref(x->info);
        free(x->cache.stats);
        pthread_mutex_destroy(&x->cache.mu);
    }
    for (size_t i = 0; i < t->nsrcs; i++) mfs_src_unref(t->srcs[i]);
    free(t->srcs);
    free(t->sums_text);
    pthread_mutex_destroy(&t->sums_mu);
    free(t->tensors);
    free(t->model);
    free(t->n);
    free(t->hash);
    while (t->arena) {
        struct mfs_arena_chunk *c = t->arena;
        t->arena = c->next;
        free(c);
    }
    free(t);
}

/* Appends a node named @name (escaped, copied) under @parent.
 * Returns its id or 0 on OOM. Does not check for duplicates. */
static uint32_t new_node(mfs_tree *t, uint32_t parent, const char *name, int kind)
{
    if (t->count + 1 >= t->cap) {
        uint32_t ncap = t->cap * 2;
        struct mfs_node *nn = realloc(t->n, ncap * sizeof *nn);
        if (!nn) return 0;
        /* not zeroed here: each node is cleared when it is made, and
         * touching the whole new half cost page faults for nothing */
        t->n = nn;
        t->cap = ncap;
    }
    if ((t->count + 1) * 2 > t->hcap && hash_grow(t) != 0) return 0;
    struct mfs_node *p = &t->n[parent];
    if (p->nkids == p->capkids) {
        uint32_t nc = p->capkids ? p->capkids * 2 : 4;
        uint32_t *k = realloc(p->kids, nc * sizeof *k);
        if (!k) return 0;
        p->kids = k;
        p->capkids = nc;
    }
    const char *nm = mfs_tree_strdup(t, name);
    if (!nm) return 0;
    uint32_t id = ++t->count;
    struct mfs_node *n = &t->n[id];
    memset(n, 0, sizeof *n);
    n->name = nm;
    n->parent = parent;
    n->kind = (uint8_t)kind;
    t->n[parent].kids[t->n[parent].nkids++] = id;
    hash_insert(t, id);
    return id;
}

/* @id, or the directory it links to: what a reader adds below a tensor
 * placement that is a symlink (HDF5 @attrs ...) goes into the tensor's
 * home, seen through every placement. */
static uint32_t deref(const mfs_tree *t, uint32_t id)
{
    return t->n[id].kind == MFS_N_LINK ? t->n[id].target : id;
}

/* A free name for a new entry under @parent: @name itself, else "name~N". */
static uint32_t new_unique(mfs_tree *t, uint32_t parent, const char *name, int kind)
{
    parent = deref(t, parent);
    if (!mfs_tree_child(t, parent, name)) return new_node(t, parent, name, kind);
    char buf[4096];
    for (unsigned k = 1;; k++) {
        snprintf(buf, sizeof buf, "%s~%u", name, k);
        if (!mfs_tree_child(t, parent, buf)) return new_node(t, parent, buf, kind);
    }
}

/* Directory @name (escaped) under @parent: the existing one, or new. */
static uint32_t get_dir(mfs_tree *t, uint32_t parent, const char *name)
{
    parent = deref(t, parent);
    uint32_t id = mfs_tree_child(t, parent, name);
    if (id && t->n[id].kind == MFS_N_LINK) return t->n[id].target;
    if (id && t->n[id].kind == MFS_N_DIR) return id;
    return new_unique(t, parent, name, MFS_N_DIR);
}

/* Walks raw @path under @parent creating directories for all components
 * but the last, whose escaped form goes to *leaf (malloc'd). With
 * @single, @path is one component ('/' escaped). Returns the parent dir
 * of the leaf, or 0 on OOM. */
static uint32_t walk_path(mfs_tree *t, uint32_t parent, const char *path, int single, char **leaf)
{
    *leaf = NULL;
    if (single) {
        *leaf = mfs_name_escape(path, strlen(path), 1);
        return *leaf ? parent : 0;
    }
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (!slash) {
            *leaf = mfs_name_escape(p, strlen(p), 0);
            return *leaf ? parent : 0;
        }
        char *comp = mfs_name_escape(p, (size_t)(slash - p), 0);
        if (!comp) return 0;
        parent = get_dir(t, parent, comp);
        free(comp);
        if (!parent) return 0;
        p = slash + 1;
    }
}

uint32_t mfs_tree_mkdir(mfs_tree *t, uint32_t parent, const char *path)
{
    char *leaf;
    uint32_t dir = walk_path(t, parent, path, 0, &leaf);
    if (!dir) return 0;
    uint32_t id = get_dir(t, dir, leaf);
    free(leaf);
    return id;
}

static const char *const top_names[MFS_TOP__COUNT] = {
    "metadata", "layers", "tensors", "optimizer", "signatures", "security", "raw", "checkpoints"};

uint32_t mfs_tree_top(mfs_tree *t, enum mfs_topdir which)
{
    if (which >= MFS_TOP__COUNT) return 0;
    if (!t->top[which]) t->top[which] = get_dir(t, MFS_ROOT, top_names[which]);
    return t->top[which];
}

mfs_tensor *mfs_tree_tensor_new(mfs_tree *t)
{
    if (t->ntensors == t->captensors) {
        size_t nc = t->captensors ? t->captensors * 2 : 64;
        mfs_tensor **v = realloc(t->tensors, nc * sizeof *v);
        if (!v) return NULL;
        t->tensors = v;
        t->captensors = nc;
    }
    mfs_tensor *x = mfs_tree_alloc(t, sizeof *x);
    if (!x) return NULL;
    pthread_mutex_init(&x->cache.mu, NULL);
    t->tensors[t->ntensors++] = x;
    return x;
}

/* The files of a tensor directory, in readdir order. */
static const struct { const char *name; enum mfs_view v; } tensor_files[] = {
    {"dtype", MFS_V_DTYPE}, {"shape", MFS_V_SHAPE}, {"data", MFS_V_DATA},
    {"data.npy", MFS_V_NPY}, {"values", MFS_V_VALUES}, {"stats", MFS_V_STATS},
    {"info.json", MFS_V_INFO},
};

/* Turns tensor dir @id into a symlink to @target, the tensor's new home.
 * What a reader added to @id besides the views (HDF5 @attrs ...) moves to
 * @target (unless @target has that name already); the view files stay in
 * the node array, unreachable: no lookup goes below a symlink. Returns 0,
 * or -1 on OOM. */
static int dir_to_link(mfs_tree *t, uint32_t id, uint32_t target)
{
    struct mfs_node *old = &t->n[id];
    for (uint32_t i = 0; i < old->nkids; i++) {
        uint32_t k = old->kids[i];
        if (t->n[k].fkind == MFS_F_VIEW && t->n[k].tensor == old->tensor) continue;
        if (mfs_tree_child(t, target, t->n[k].name)) continue;
        struct mfs_node *p = &t->n[target];
        if (p->nkids == p->capkids) {
            uint32_t nc = p->capkids ? p->capkids * 2 : 4;
            uint32_t *v = realloc(p->kids, nc * sizeof *v);
            if (!v) return -1;
            p->kids = v;
            p->capkids = nc;
        }
        hash_remove(t, k);
        t->n[k].parent = target;
        p->kids[p->nkids++] = k;
        hash_insert(t, k);
    }
    old->kind = MFS_N_LINK;
    old->nkids = 0;
    old->target = target;
    return 0;
}

/* Places @tn at @path under @parent: a symlink to its home directory when
 * it has one and this is not a model placement; else a directory with the
 * views, which becomes the home unless the home already is a model dir
 * (a tensor under two keys gets two directories; a home elsewhere turns
 * into a symlink to tensors/<key>). Returns the new node's id, 0 on OOM. */
static uint32_t place_tensor(mfs_tree *t, uint32_t parent, const char *path, int single,
                             mfs_tensor *tn, int model)
{
    char *leaf;
    uint32_t dir = walk_path(t, parent, path, single, &leaf);
    if (!dir) return 0;
    dir = deref(t, dir);
    if (tn->home && !model) {
        uint32_t link = new_unique(t, dir, leaf, MFS_N_LINK);
        free(leaf);
        if (!link) return 0;
        t->n[link].target = tn->home;
        t->n[link].tensor = tn;
        return link;
    }
    uint32_t id = mfs_tree_child(t, dir, leaf);
    if (!id || t->n[id].kind != MFS_N_DIR || t->n[id].tensor)
        id = new_unique(t, dir, leaf, MFS_N_DIR);
    free(leaf);
    if (!id) return 0;
    if (!tn->home_is_model) {
        if (tn->home && dir_to_link(t, tn->home, id) != 0) return 0;
        tn->home = id;
        tn->home_is_model = model;
    }
    t->n[id].tensor = tn;
    for (size_t i = 0; i < sizeof tensor_files / sizeof tensor_files[0]; i++) {
        uint32_t f = new_unique(t, id, tensor_files[i].name, MFS_N_FILE);
        if (!f) return 0;
        t->n[f].fkind = MFS_F_VIEW;
        t->n[f].view = (uint8_t)tensor_files[i].v;
        t->n[f].tensor = tn;
    }
    return id;
}

uint32_t mfs_tree_add_tensor(mfs_tree *t, uint32_t parent, const char *path, mfs_tensor *tn)
{
    return place_tensor(t, parent, path, 0, tn, 0);
}

uint32_t mfs_tree_add_tensor_name(mfs_tree *t, uint32_t parent, const char *name, mfs_tensor *tn)
{
    return place_tensor(t, parent, name, 1, tn, 0);
}

uint32_t mfs_tree_add_model_tensor(mfs_tree *t, const char *key, mfs_tensor *tn)
{
    uint32_t top = mfs_tree_top(t, MFS_TOP_TENSORS);
    if (!top) return 0;
    uint32_t id = place_tensor(t, top, key, 0, tn, 1);
    if (!id) return 0;
    if (t->nmodel == t->capmodel) {
        size_t nc = t->capmodel ? t->capmodel * 2 : 64;
        struct mfs_tree_model_entry *v = realloc(t->model, nc * sizeof *v);
        if (!v) return 0;
        t->model = v;
        t->capmodel = nc;
    }
    const char *k = mfs_tree_strdup(t, key);
    if (!k) return 0;
    t->model[t->nmodel++] = (struct mfs_tree_model_entry){k, tn, id};
    return id;
}

/* A new file at raw @path (collisions get "~N"). Returns id or 0. */
static uint32_t new_file(mfs_tree *t, uint32_t parent, const char *path)
{
    char *leaf;
    uint32_t dir = walk_path(t, parent, path, 0, &leaf);
    if (!dir) return 0;
    uint32_t id = new_unique(t, dir, leaf, MFS_N_FILE);
    free(leaf);
    return id;
}

uint32_t mfs_tree_add_text(mfs_tree *t, uint32_t parent, const char *path, const char *text,
                           size_t len)
{
    char *copy = mfs_tree_strndup(t, text, len);
    if (!copy) return 0;
    uint32_t id = new_file(t, parent, path);
    if (!id) return 0;
    t->n[id].fkind = MFS_F_STATIC;
    t->n[id].bytes = copy;
    t->n[id].size = len;
    return id;
}

uint32_t mfs_tree_add_textf(mfs_tree *t, uint32_t parent, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) return 0;
    uint32_t id = mfs_tree_add_text(t, parent, path, s, (size_t)n);
    free(s);
    return id;
}

/* Rewrites, in place, every real number of the JSON text @s in its
 * shortest form that reads back to the same double (0.90000000000000002 ->
 * 0.9), as Python prints them; jansson only knows a fixed precision. The
 * text never grows: a shortest form is never longer than %.17g. */
static void shorten_reals(char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        if (*r == '"') { /* copy a string, escapes included */
            *w++ = *r++;
            while (*r && *r != '"') {
                if (*r == '\\' && r[1]) *w++ = *r++;
                *w++ = *r++;
            }
            if (*r) *w++ = *r++;
            continue;
        }
        if (*r == '-' || (*r >= '0' && *r <= '9')) {
            size_t n = strspn(r, "0123456789+-.eE");
            char tok[64];
            if (n < sizeof tok && strcspn(r, ".eE") < n) {
                memcpy(tok, r, n);
                tok[n] = 0;
                double d = strtod(tok, NULL);
                char best[64];
                for (int p = 1; p <= 17; p++) {
                    snprintf(best, sizeof best, "%.*g", p, d);
                    if (strtod(best, NULL) == d) break;
                }
                if (!strpbrk(best, ".eEn")) strcat(best, ".0"); /* stay a real */
                if (strlen(best) <= n) {
                    memcpy(w, best, strlen(best));
                    w += strlen(best);
                    r += n;
                    continue;
                }
            }
            memmove(w, r, n);
            w += n;
            r += n;
            continue;
        }
        *w++ = *r++;
    }
    *w = 0;
}

uint32_t mfs_tree_add_json(mfs_tree *t, uint32_t parent, const char *path, const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (!s) return 0;
    shorten_reals(s);
    uint32_t id = mfs_tree_add_textf(t, parent, path, "%s\n", s);
    free(s);
    return id;
}

uint32_t mfs_tree_add_value(mfs_tree *t, uint32_t parent, const char *path, const json_t *v)
{
    if (json_is_string(v))
        return mfs_tree_add_textf(t, parent, path, "%s\n", json_string_value(v));
    if (json_is_object(v) || json_is_array(v)) {
        char *p = NULL;
        if (asprintf(&p, "%s.json", path) < 0) return 0;
        uint32_t id = mfs_tree_add_json(t, parent, p, v);
        free(p);
        return id;
    }
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    if (!s) return 0;
    shorten_reals(s);
    uint32_t id = mfs_tree_add_textf(t, parent, path, "%s\n", s);
    free(s);
    return id;
}

uint32_t mfs_tree_add_file(mfs_tree *t, uint32_t parent, const char *path, uint64_t size,
                           const struct mfs_file_ops *ops, void *ctx)
{
    uint32_t id = new_file(t, parent, path);
    if (!id) return 0;
    t->n[id].fkind = MFS_F_CUSTOM;
    t->n[id].ops = ops;
    t->n[id].ctx = ctx;
    t->n[id].size = size;
    return id;
}

uint32_t mfs_tree_add_src_range(mfs_tree *t, uint32_t parent, const char *path, mfs_src *src,
                                uint64_t off, uint64_t len)
{
    if (t->nsrcs == t->capsrcs) {
        size_t nc = t->capsrcs ? t->capsrcs * 2 : 16;
        mfs_src **v = realloc(t->srcs, nc * sizeof *v);
        if (!v) return 0;
        t->srcs = v;
        t->capsrcs = nc;
    }
    uint32_t id = new_file(t, parent, path);
    if (!id) return 0;
    t->srcs[t->nsrcs++] = mfs_src_ref(src);
    t->n[id].fkind = MFS_F_SRC;
    t->n[id].src = src;
    t->n[id].off = off;
    t->n[id].size = len;
    return id;
}

uint32_t mfs_tree_lookup_path(const mfs_tree *t, uint32_t parent, const char *path)
{
    const char *p = path;
    uint32_t id = parent;
    while (id && *p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        char *comp = mfs_name_escape(p, len, 0);
        if (!comp) return 0;
        id = mfs_tree_child(t, id, comp);
        free(comp);
        if (!slash) break;
        if (id && t->n[id].kind == MFS_N_LINK) id = t->n[id].target;
        p = slash + 1;
    }
    return id;
}

mfs_tensor *mfs_tree_tensor_at(const mfs_tree *t, uint32_t id)
{
    const struct mfs_node *n = mfs_tree_node(t, id);
    return n && n->kind != MFS_N_FILE ? n->tensor : NULL;
}

size_t mfs_tree_model_count(const mfs_tree *t) { return t->nmodel; }

mfs_tensor *mfs_tree_model_tensor(const mfs_tree *t, size_t i, const char **key)
{
    if (i >= t->nmodel) return NULL;
    if (key) *key = t->model[i].key;
    return t->model[i].t;
}

char *mfs_tree_path(const mfs_tree *t, uint32_t from, uint32_t id)
{
    size_t len = 0;
    for (uint32_t x = id; x != from && x != MFS_ROOT; x = t->n[x].parent)
        len += strlen(t->n[x].name) + 1;
    char *p = malloc(len + 1);
    if (!p) return NULL;
    p[len] = 0;
    size_t end = len;
    for (uint32_t x = id; x != from && x != MFS_ROOT; x = t->n[x].parent) {
        size_t l = strlen(t->n[x].name);
        end -= l;
        memcpy(p + end, t->n[x].name, l);
        if (end) p[--end] = '/';
    }
    /* a leading '/' is left when from was not an ancestor: drop it */
    if (len && p[0] == '/') memmove(p, p + 1, len);
    return p;
}

static uint32_t node_depth(const mfs_tree *t, uint32_t id)
{
    uint32_t d = 0;
    for (; id != MFS_ROOT && id; id = t->n[id].parent) d++;
    return d;
}

/* The text of symlink @id: the path of its target relative to the link's
 * directory ("../../tensors/fc1.weight"), in the arena. 0 or -1 (OOM). */
static int link_text(mfs_tree *t, uint32_t id)
{
    uint32_t a = t->n[id].parent, b = t->n[id].target;
    uint32_t da = node_depth(t, a), db = node_depth(t, b), ups = 0;
    /* common ancestor: lift the deeper side, then both together */
    uint32_t x = a, y = b;
    for (; da > db; da--, ups++) x = t->n[x].parent;
    for (; db > da; db--) y = t->n[y].parent;
    while (x != y) x = t->n[x].parent, y = t->n[y].parent, ups++;
    char *down = mfs_tree_path(t, x, b);
    if (!down) return -1;
    size_t len = 3 * (size_t)ups + strlen(down);
    char *s = mfs_tree_alloc(t, len + 1);
    if (s) {
        for (uint32_t i = 0; i < ups; i++) memcpy(s + 3 * i, "../", 3);
        memcpy(s + 3 * (size_t)ups, down, strlen(down) + 1);
        if (len && s[len - 1] == '/') s[--len] = 0; /* target is x itself */
        t->n[id].bytes = s;
        t->n[id].size = len;
    }
    free(down);
    return s ? 0 : -1;
}

/* summary: "<dtype> <shape> <nbytes> <name>" per model tensor. */
static char *make_summary(const mfs_tree *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    for (size_t i = 0; i < t->nmodel; i++) {
        const mfs_tensor *x = t->model[i].t;
        char shape[1024];
        mfs_tensor_shape_str(x, shape, sizeof shape);
        char *path = mfs_tree_path(t, t->top[MFS_TOP_TENSORS], t->model[i].dir);
        fprintf(f, "%s %s %llu %s\n", mfs_dtype_get(x->dtype)->name, shape,
                (unsigned long long)x->nbytes, path ? path : t->model[i].key);
        free(path);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Root order of LAYOUT.md; anything else a reader put at the root follows. */
static int root_rank(const char *name)
{
    static const char *const order[] = {"format", "source", "summary", "SHA256SUMS",
                                        "metadata", "layers", "tensors", "optimizer",
                                        "signatures", "security", "checkpoints", "raw"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (strcmp(order[i], name) == 0) return (int)i;
    return 100;
}

static const mfs_tree *sort_tree;
static int cmp_root(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int rx = root_rank(sort_tree->n[x].name), ry = root_rank(sort_tree->n[y].name);
    if (rx != ry) return rx - ry;
    return x < y ? -1 : x > y;
}

int mfs_tree_finalize(mfs_tree *t, const char *format_id, const char *source_text, mfs_err *e)
{
    char *summary = make_summary(t);
    if (!summary) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    uint32_t ok = mfs_tree_add_textf(t, MFS_ROOT, "format", "%s\n", format_id) &&
                  mfs_tree_add_text(t, MFS_ROOT, "source", source_text, strlen(source_text)) &&
                  mfs_tree_add_text(t, MFS_ROOT, "summary", summary, strlen(summary));
    free(summary);
    uint32_t sums = ok ? new_unique(t, MFS_ROOT, "SHA256SUMS", MFS_N_FILE) : 0;
    if (!sums) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    t->n[sums].fkind = MFS_F_VIEW;
    t->n[sums].view = MFS_V_SUMS;
    enum mfs_topdir always[] = {MFS_TOP_METADATA, MFS_TOP_LAYERS, MFS_TOP_TENSORS, MFS_TOP_RAW};
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
        if (!mfs_tree_top(t, always[i])) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (uint32_t id = MFS_ROOT + 1; id <= t->count; id++)
        if (t->n[id].kind == MFS_N_LINK && link_text(t, id) != 0)
            return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    sort_tree = t; /* single-threaded: finalize runs before any reader thread */
    qsort(t->n[MFS_ROOT].kids, t->n[MFS_ROOT].nkids, sizeof(uint32_t), cmp_root);
    sort_tree = NULL;
    t->finalized = 1;
    return MFS_OK;
}
