/* model.c: opening a model (probe, bidding, build, finalize) and the
 * public read-only API of modelfs.h over the finished tree.
 *
 * Open order: stat the path; for a file, open it as a byte source and
 * read its head and tail into the probe; for a directory, list it. Ask
 * every reader for a bid (reader.h "How bidding works"), or take the one
 * named by opts->format. The winner opens, builds, and the core finalizes
 * the tree. Any failure becomes one message "PATH: FORMAT: what (at byte
 * N)" and MFS_FATAL; nothing is mounted. */
#include "core/log.h"
#include "core/tree_private.h"
#include "core/zip.h"
#include "readers/reader.h"
#include "views/view.h"
#include "core/model.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct mfs_probe_priv {
    int zip_tried;
    struct mfs_zip *zip;
};

struct mfs_model {
    mfs_tree *tree;
    const struct mfs_reader *reader;
    void *state;
};

struct mfs_zip *mfs_probe_zip(const struct mfs_probe *p)
{
    if (!p->src || !p->priv) return NULL;
    if (!p->priv->zip_tried) {
        p->priv->zip_tried = 1;
        /* only archives that start with a local header or are spanned-free:
         * the EOCD signature must be in the tail (cheap check first) */
        int eocd = 0;
        for (size_t i = 0; i + 4 <= p->tail_len; i++)
            if (!memcmp(p->tail + i, "PK\5\6", 4)) {
                eocd = 1;
                break;
            }
        if (eocd) {
            mfs_err e;
            p->priv->zip = mfs_zip_open(p->src, &e);
        }
    }
    return p->priv->zip;
}

int mfs_probe_dir_has(const struct mfs_probe *p, const char *name)
{
    for (size_t i = 0; i < p->dir_count; i++)
        if (strcmp(p->dir_names[i], name) == 0) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void probe_free(struct mfs_probe *p)
{
    if (p->priv) mfs_zip_free(p->priv->zip);
    free(p->priv);
    for (size_t i = 0; i < p->dir_count; i++) free(p->dir_names[i]);
    free(p->dir_names);
    free((void *)p->head);
    free((void *)p->tail);
    mfs_src_unref(p->src);
    memset(p, 0, sizeof *p);
}

/* Reads head and tail of p->src into @p. MFS_OK or MFS_FATAL. */
static int probe_read_ends(struct mfs_probe *p, mfs_err *e)
{
    p->size = p->src->size;
    size_t hl = p->size < MFS_PROBE_HEAD ? (size_t)p->size : MFS_PROBE_HEAD;
    size_t tl = p->size < MFS_PROBE_TAIL ? (size_t)p->size : MFS_PROBE_TAIL;
    unsigned char *h = malloc(hl + 1), *t = malloc(tl + 1);
    p->head = h;
    p->tail = t;
    if (!h || !t) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (mfs_src_read_exact(p->src, h, hl, 0, e) != MFS_OK ||
        mfs_src_read_exact(p->src, t, tl, p->size - tl, e) != MFS_OK) {
        e->status = MFS_FATAL;
        return MFS_FATAL;
    }
    p->head_len = hl;
    p->tail_len = tl;
    return MFS_OK;
}

/* Fills @p for @path. MFS_OK, or MFS_FATAL for unreadable inputs. */
static int probe_init(struct mfs_probe *p, const char *path, mfs_err *e)
{
    memset(p, 0, sizeof *p);
    p->path = path;
    p->priv = calloc(1, sizeof *p->priv);
    if (!p->priv) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    struct stat st;
    if (stat(path, &st) != 0) return MFS_OK; /* maybe a prefix (TF checkpoint) */
    p->exists = 1;
    if (S_ISDIR(st.st_mode)) {
        p->is_dir = 1;
        DIR *d = opendir(path);
        if (!d) return mfs_err_set(e, MFS_FATAL, errno, -1, "%s: %s", path, strerror(errno));
        size_t cap = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            if (p->dir_count == cap) {
                cap = cap ? cap * 2 : 32;
                char **v = realloc(p->dir_names, cap * sizeof *v);
                if (!v) break;
                p->dir_names = v;
            }
            if (!(p->dir_names[p->dir_count] = strdup(de->d_name))) break;
            p->dir_count++;
        }
        closedir(d);
        qsort(p->dir_names, p->dir_count, sizeof *p->dir_names, cmp_str);
        return MFS_OK;
    }
    p->src = mfs_src_new_file(path, e);
    if (!p->src) return MFS_FATAL;
    return probe_read_ends(p, e);
}

static int reader_applies(const struct mfs_reader *r, const struct mfs_probe *p)
{
    if (!p->exists) return (r->flags & MFS_READER_NOFILE) != 0;
    if (p->is_dir) return (r->flags & MFS_READER_DIR) != 0;
    return 1;
}

static const struct mfs_reader *choose(const struct mfs_probe *p, const char *format, mfs_err *e)
{
    if (format) {
        const struct mfs_reader *r = mfs_registry_find(format);
        if (!r)
            mfs_err_set(e, MFS_FATAL, EINVAL, -1,
                        "%s: unknown format '%s' (modelfs --formats lists them)", p->path, format);
        return r;
    }
    const struct mfs_reader *best = NULL;
    int best_bid = -1;
    for (size_t i = 0; i < mfs_registry_count(); i++) {
        const struct mfs_reader *r = mfs_registry_get(i);
        if (!reader_applies(r, p)) continue;
        int b = r->bid(p, best_bid);
        if (b > best_bid) {
            best_bid = b;
            best = r;
        }
    }
    if (best) return best;
    if (!p->exists)
        mfs_err_set(e, MFS_FATAL, ENOENT, -1, "%s: No such file or directory", p->path);
    else if (p->is_dir)
        mfs_err_set(e, MFS_FATAL, EINVAL, -1,
                    "%s: no reader recognises this directory as a model", p->path);
    else {
        char hex[3 * 8 + 1] = "";
        for (size_t i = 0; i < p->head_len && i < 8; i++)
            snprintf(hex + 3 * i, 4, "%02x ", p->head[i]);
        if (hex[0]) hex[strlen(hex) - 1] = 0;
        mfs_err_set(e, MFS_FATAL, EINVAL, 0,
                    "%s: no reader recognises this file as a model (%llu bytes, first bytes: %s)",
                    p->path, (unsigned long long)p->size, p->size ? hex : "none");
    }
    return NULL;
}

/* "path: ...\nsize: ...\nmtime: ...\n" of the mounted path. */
static char *source_text(const char *path)
{
    char *abs = realpath(path, NULL);
    struct stat st;
    char *s = NULL, tbuf[64] = "unknown";
    int ok = stat(path, &st) == 0;
    if (ok) {
        struct tm tm;
        gmtime_r(&st.st_mtime, &tm);
        strftime(tbuf, sizeof tbuf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    if (asprintf(&s, "path: %s\nkind: %s\nsize: %llu\nmtime: %s\n", abs ? abs : path,
                 !ok ? "prefix" : S_ISDIR(st.st_mode) ? "directory" : "file",
                 ok && !S_ISDIR(st.st_mode) ? (unsigned long long)st.st_size : 0ull, tbuf) < 0)
        s = NULL;
    free(abs);
    return s;
}

/* Opens a model from a filled probe (consumed). */
static int open_probe(struct mfs_probe *pp, const mfs_open_opts *opts, mfs_model **out,
                      mfs_err *e, int rc);

int mfs_model_open(const char *path, const mfs_open_opts *opts, mfs_model **out, mfs_err *e)
{
    mfs_err dummy;
    if (!e) e = &dummy;
    mfs_err_clear(e);
    *out = NULL;
    struct mfs_probe p;
    int rc = probe_init(&p, path, e);
    return open_probe(&p, opts, out, e, rc);
}

int mfs_model_open_src(mfs_src *src, const char *name, const mfs_open_opts *opts,
                       mfs_model **out, mfs_err *e)
{
    mfs_err dummy;
    if (!e) e = &dummy;
    mfs_err_clear(e);
    *out = NULL;
    struct mfs_probe p;
    memset(&p, 0, sizeof p);
    p.path = name;
    p.exists = 1;
    p.src = mfs_src_ref(src);
    p.priv = calloc(1, sizeof *p.priv);
    int rc = p.priv ? probe_read_ends(&p, e) : mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    return open_probe(&p, opts, out, e, rc);
}

static int open_probe(struct mfs_probe *pp, const mfs_open_opts *opts, mfs_model **out,
                      mfs_err *e, int rc)
{
    struct mfs_probe p = *pp;
    const char *path = p.path;
    mfs_model *m = calloc(1, sizeof *m);
    if (!m) {
        probe_free(&p);
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    if (rc == MFS_OK) {
        m->reader = choose(&p, opts ? opts->format : NULL, e);
        rc = m->reader ? MFS_OK : MFS_FATAL;
    }
    if (rc == MFS_OK && !(m->tree = mfs_tree_new()))
        rc = mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (rc == MFS_OK) {
        rc = m->reader->open(&p, &m->state, e);
        if (rc >= 0) rc = m->reader->build(m->state, m->tree, e);
        if (rc < 0) {
            char msg[sizeof e->msg];
            memcpy(msg, e->msg, sizeof msg);
            if (e->offset >= 0)
                snprintf(e->msg, sizeof e->msg, "%s: %s: %s (at byte %lld)", path,
                         m->reader->name, msg, (long long)e->offset);
            else
                snprintf(e->msg, sizeof e->msg, "%s: %s: %s", path, m->reader->name, msg);
            rc = e->status = MFS_FATAL;
        }
    }
    if (rc >= 0) {
        char *src = source_text(path);
        rc = src ? mfs_tree_finalize(m->tree, m->reader->name, src, e)
                 : mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        free(src);
    }
    probe_free(&p);
    if (rc < 0) {
        mfs_model_close(m);
        return MFS_FATAL;
    }
    *out = m;
    return rc;
}

void mfs_model_close(mfs_model *m)
{
    if (!m) return;
    mfs_tree_free(m->tree); /* tensors first: they may point into state */
    if (m->reader && m->reader->close) m->reader->close(m->state);
    free(m);
}

static int g_isolated;
void mfs_set_open_isolated(int on) { g_isolated = on != 0; }
int mfs_open_isolated(void) { return g_isolated; }

const char *mfs_model_format(const mfs_model *m) { return m->reader->name; }

uint32_t mfs_node_count(const mfs_model *m) { return m->tree->count; }

int mfs_node_is_dir(const mfs_model *m, uint32_t id)
{
    const struct mfs_node *n = mfs_tree_node(m->tree, id);
    return n ? n->kind == MFS_N_DIR : -1;
}

const char *mfs_node_link(const mfs_model *m, uint32_t id)
{
    const struct mfs_node *n = mfs_tree_node(m->tree, id);
    return n && n->kind == MFS_N_LINK ? n->bytes : NULL;
}

const char *mfs_node_name(const mfs_model *m, uint32_t id)
{
    const struct mfs_node *n = mfs_tree_node(m->tree, id);
    return n ? n->name : NULL;
}

uint32_t mfs_node_parent(const mfs_model *m, uint32_t id)
{
    const struct mfs_node *n = mfs_tree_node(m->tree, id);
    return n ? n->parent : 0;
}

uint64_t mfs_node_size(mfs_model *m, uint32_t id)
{
    const struct mfs_node *n = mfs_tree_node(m->tree, id);
    if (n && n->kind == MFS_N_LINK) return n->size;
    if (!n || n->kind != MFS_N_FILE) return 0;
    return n->fkind == MFS_F_VIEW ? mfs_view_size(m->tree, n) : n->size;
}

uint32_t mfs_node_lookup(const mfs_model *m, uint32_t dir, const char *name)
{
    const struct mfs_node *n = mfs_tree_node(m->tree, dir);
    if (!n || n->kind != MFS_N_DIR) return 0;
    if (!strcmp(name, ".")) return dir;
    if (!strcmp(name, "..")) return n->parent;
    return mfs_tree_child(m->tree, dir, name);
}

uint32_t mfs_node_resolve(const mfs_model *m, const char *path)
{
    uint32_t id = MFS_ROOT;
    char comp[4096];
    const char *p = path;
    while (id && *p) {
        while (*p == '/') p++;
        if (!*p) break;
        size_t len = strcspn(p, "/");
        if (len >= sizeof comp) return 0;
        memcpy(comp, p, len);
        comp[len] = 0;
        id = mfs_node_lookup(m, id, comp);
        /* a link's target is a real node of the tree, never a link */
        if (id && m->tree->n[id].kind == MFS_N_LINK) id = m->tree->n[id].target;
        p += len;
    }
    return id;
}

uint32_t mfs_dir_count(const mfs_model *m, uint32_t dir)
{
    const struct mfs_node *n = mfs_tree_node(m->tree, dir);
    return n && n->kind == MFS_N_DIR ? n->nkids : 0;
}

uint32_t mfs_dir_child(const mfs_model *m, uint32_t dir, uint32_t i)
{
    const struct mfs_node *n = mfs_tree_node(m->tree, dir);
    return n && n->kind == MFS_N_DIR && i < n->nkids ? n->kids[i] : 0;
}

int64_t mfs_node_read(mfs_model *m, uint32_t id, uint64_t off, void *buf, size_t len, mfs_err *e)
{
    const struct mfs_node *n = mfs_tree_node(m->tree, id);
    if (!n) return mfs_err_set(e, MFS_FAILED, ENOENT, -1, "no such node"), -1;
    if (n->kind == MFS_N_DIR) return mfs_err_set(e, MFS_FAILED, EISDIR, -1, "is a directory"), -1;
    if (n->kind == MFS_N_LINK) return mfs_err_set(e, MFS_FAILED, EINVAL, -1, "is a symbolic link"), -1;
    switch ((enum mfs_file_kind)n->fkind) {
    case MFS_F_STATIC: return mfs_copy_range(n->bytes, (size_t)n->size, off, buf, len);
    case MFS_F_VIEW: return mfs_view_read(m->tree, n, off, buf, len, e);
    case MFS_F_SRC:
    case MFS_F_CUSTOM: {
        if (off >= n->size) return 0;
        if (len > n->size - off) len = (size_t)(n->size - off);
        int rc = n->fkind == MFS_F_SRC
                     ? mfs_src_read_exact(n->src, buf, len, n->off + off, e)
                     : n->ops->read(n->ctx, off, buf, len, e);
        if (rc != MFS_OK) {
            if (e && !e->errnum) e->errnum = EIO;
            return -1;
        }
        return (int64_t)len;
    }
    }
    return -1;
}

/* The tensor whose xattrs node @id carries: tensor dirs and data files. */
static const mfs_tensor *xattr_tensor(const mfs_model *m, uint32_t id)
{
    const struct mfs_node *n = mfs_tree_node(m->tree, id);
    if (!n || !n->tensor || n->kind == MFS_N_LINK) return NULL;
    if (n->kind == MFS_N_DIR) return n->tensor;
    return n->fkind == MFS_F_VIEW && n->view == MFS_V_DATA ? n->tensor : NULL;
}

static const char *const xnames[] = {"user.dtype", "user.shape", "user.nbytes"};

size_t mfs_node_xattr_list(const mfs_model *m, uint32_t id, char *buf, size_t size)
{
    if (!xattr_tensor(m, id)) return 0;
    size_t need = 0;
    for (size_t i = 0; i < 3; i++) need += strlen(xnames[i]) + 1;
    if (buf && size >= need) {
        size_t k = 0;
        for (size_t i = 0; i < 3; i++) {
            memcpy(buf + k, xnames[i], strlen(xnames[i]) + 1);
            k += strlen(xnames[i]) + 1;
        }
    }
    return need;
}

int64_t mfs_node_xattr_get(const mfs_model *m, uint32_t id, const char *name, char *buf, size_t size)
{
    const mfs_tensor *t = xattr_tensor(m, id);
    if (!t) return -1;
    char v[1024];
    if (!strcmp(name, xnames[0])) snprintf(v, sizeof v, "%s", mfs_dtype_get(t->dtype)->name);
    else if (!strcmp(name, xnames[1])) mfs_tensor_shape_str(t, v, sizeof v);
    else if (!strcmp(name, xnames[2])) snprintf(v, sizeof v, "%llu", (unsigned long long)t->nbytes);
    else return -1;
    size_t n = strlen(v);
    if (buf && size >= n) memcpy(buf, v, n);
    return (int64_t)n;
}
