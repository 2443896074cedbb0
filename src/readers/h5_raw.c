/* h5_raw.c: raw/ — the HDF5 file as stored.
 *
 * Groups become directories, datasets tensor directories (h5_tensor.c),
 * string datasets text files, and the attributes of a group or dataset
 * files under an "@attrs" directory inside it (for a string dataset,
 * which is a file, in a sibling "<name>@attrs"). Links are listed in
 * creation order when the file indexes it, else in name order (what
 * h5py shows). Soft and external links are never followed: they become a
 * one-line text file saying where they point. A group reached a second
 * time through another hard link (HDF5 allows cycles) becomes such a
 * file too, naming the first path. Every dataset is recorded in
 * m->ent (path -> tensor) for the Keras views.
 *
 * Bounds: depth <= MAX_DEPTH, at most MAX_OBJECTS objects, attribute and
 * string contents through the bounded readers of h5_attr.c/h5_tensor.c.
 * Caller holds h5_lock. */
#include "readers/h5_lib.h"
#include "core/log.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256
#define MAX_OBJECTS 4000000
#define TEXT_LIMIT ((size_t)64 << 20)

struct seen {
    haddr_t addr;
    char *path;
};

struct walk {
    struct h5_model *m;
    mfs_tree *t;
    struct seen *seen;
    size_t nseen, capseen;
    size_t nobj;
    mfs_err *e;
};

/* Records dataset @path (malloc'd copy) with @tn in m->ent. */
static int add_entry(struct h5_model *m, const char *path, mfs_tensor *tn, mfs_err *e)
{
    if (m->nent == m->capent) {
        size_t cap = m->capent ? m->capent * 2 : 64;
        struct h5_entry *v = realloc(m->ent, cap * sizeof *v);
        if (!v) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        m->ent = v;
        m->capent = cap;
    }
    char *p = strdup(path);
    if (!p) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    m->ent[m->nent++] = (struct h5_entry){p, tn};
    return MFS_OK;
}

/* Attributes of @obj as files under @dir/@sub ("@attrs"); nothing when
 * there are none. */
static int add_attrs(struct walk *w, hid_t obj, uint32_t dir, const char *sub, const char *path)
{
    H5O_info_t oi;
    if (H5Oget_info2(obj, &oi, H5O_INFO_NUM_ATTRS) < 0) {
        H5Eclear2(H5E_DEFAULT);
        h5_warn(w->m, "cannot list the attributes of /%s", path);
        return MFS_OK;
    }
    if (oi.num_attrs == 0) return MFS_OK;
    uint32_t adir = mfs_tree_mkdir(w->t, dir, sub);
    if (!adir) return mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (hsize_t i = 0; i < oi.num_attrs && i < 1000000; i++) {
        hid_t aid = H5Aopen_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT);
        char name[1024];
        ssize_t nl = aid >= 0 ? H5Aget_name(aid, sizeof name, name) : -1;
        if (aid < 0 || nl < 0) {
            H5Eclear2(H5E_DEFAULT);
            if (aid >= 0) H5Aclose(aid);
            h5_warn(w->m, "/%s: attribute #%llu is unreadable", path,
                    (unsigned long long)i);
                continue;
        }
        if (nl == 0) snprintf(name, sizeof name, "%%");
        size_t len = 0;
        mfs_err ae = {0};
        char *text = h5_attr_text(aid, &len, &ae);
        H5Aclose(aid);
        if (!text) {
            H5Eclear2(H5E_DEFAULT);
            h5_warn(w->m, "/%s: attribute %s: %s", path, name, ae.msg);
                continue;
        }
        uint32_t id = mfs_tree_add_text(w->t, adir, name, text, len);
        free(text);
        if (!id) return mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    return MFS_OK;
}

/* Open dataset @d (named @name, at HDF5 @path) into directory @dir. The
 * caller closes @d. */
static int add_dataset(struct walk *w, hid_t d, const char *name, const char *path, uint32_t dir)
{
    struct h5_model *m = w->m;
    mfs_tensor *tn = NULL;
    enum h5_dkind kind = H5K_SKIP;
    const char *why = NULL;
    int rc = h5_tensor_from_dataset(m, w->t, d, path, &tn, &kind, &why, w->e);
    if (rc == MFS_FATAL) goto out;
    if (rc != MFS_OK) { /* only this dataset */
        h5_warn(m, "/%s: %s", path, w->e->msg);
        mfs_err_clear(w->e);
        rc = add_entry(m, path, NULL, w->e);
        goto out;
    }
    if (kind == H5K_TENSOR) {
        uint32_t id = mfs_tree_add_tensor_name(w->t, dir, name, tn);
        if (!id) {
            rc = mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
            goto out;
        }
        rc = add_attrs(w, d, id, "@attrs", path);
    } else if (kind == H5K_STRINGS) {
        size_t len = 0;
        mfs_err se = {0};
        char *text = h5_dataset_text(d, TEXT_LIMIT, &len, &se);
        if (!text) {
            h5_warn(m, "/%s: %s", path, se.msg);
                text = strdup("<string dataset not shown: see the log>\n");
            len = text ? strlen(text) : 0;
        }
        uint32_t id = text ? mfs_tree_add_text(w->t, dir, name, text, len) : 0;
        free(text);
        if (!id) {
            rc = mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
            goto out;
        }
        char sub[1100];
        snprintf(sub, sizeof sub, "%s@attrs", name);
        rc = add_attrs(w, d, dir, sub, path);
    } else {
        char note[300];
        snprintf(note, sizeof note, "<dataset not shown: %s>\n", why ? why : "unsupported type");
        if (!mfs_tree_add_text(w->t, dir, name, note, strlen(note))) {
            rc = mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
            goto out;
        }
        char sub[1100];
        snprintf(sub, sizeof sub, "%s@attrs", name);
        rc = add_attrs(w, d, dir, sub, path);
    }
    if (rc == MFS_OK) rc = add_entry(m, path, kind == H5K_TENSOR ? tn : NULL, w->e);
out:
    return rc;
}

/* Link names of group @g in display order (malloc'd vector). */
struct links {
    char **name;
    H5L_info_t *info;
    size_t n, cap;
};

static herr_t link_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g;
    struct links *l = data;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **nn = realloc(l->name, cap * sizeof *nn);
        if (!nn) return -1;
        l->name = nn;
        H5L_info_t *ni = realloc(l->info, cap * sizeof *ni);
        if (!ni) return -1;
        l->info = ni;
        l->cap = cap;
    }
    if (!(l->name[l->n] = strdup(name))) return -1;
    l->info[l->n++] = *info;
    return l->n > MAX_OBJECTS ? 1 : 0;
}

static void links_free(struct links *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->name[i]);
    free(l->name);
    free(l->info);
}

static int list_links(hid_t g, struct links *l)
{
    memset(l, 0, sizeof *l);
    H5_index_t idx = H5_INDEX_NAME;
    hid_t gcpl = H5Gget_create_plist(g);
    unsigned flags = 0;
    if (gcpl >= 0 && H5Pget_link_creation_order(gcpl, &flags) >= 0 && (flags & H5P_CRT_ORDER_INDEXED))
        idx = H5_INDEX_CRT_ORDER;
    if (gcpl >= 0) H5Pclose(gcpl);
    H5Eclear2(H5E_DEFAULT);
    hsize_t pos = 0;
    if (H5Literate(g, idx, H5_ITER_INC, &pos, link_cb, l) < 0) {
        /* fall back to name order once */
        links_free(l);
        memset(l, 0, sizeof *l);
        pos = 0;
        if (idx == H5_INDEX_NAME || H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &pos, link_cb, l) < 0)
            return -1;
    }
    return 0;
}

static int walk_group(struct walk *w, hid_t g, const char *path, uint32_t dir, int depth)
{
    struct h5_model *m = w->m;
    MFS_FORWARD(add_attrs(w, g, dir, "@attrs", path));
    if (depth > MAX_DEPTH)
        return mfs_err_set(w->e, MFS_FATAL, EINVAL, -1, "/%s: groups nested deeper than %d",
                           path, MAX_DEPTH);
    struct links l;
    if (list_links(g, &l) < 0) {
        mfs_err le = {0};
        h5_err(&le, MFS_FAILED, EIO, "cannot list group /%s", path);
        links_free(&l);
        return mfs_err_set(w->e, MFS_FATAL, EINVAL, -1, "%s", le.msg);
    }
    int rc = MFS_OK;
    for (size_t i = 0; i < l.n && rc == MFS_OK; i++) {
        const char *name = l.name[i];
        if (++w->nobj > MAX_OBJECTS) {
            rc = mfs_err_set(w->e, MFS_FATAL, EINVAL, -1, "more than %d HDF5 objects", MAX_OBJECTS);
            break;
        }
        size_t plen = strlen(path) + strlen(name) + 2;
        char *child = malloc(plen);
        if (!child) {
            rc = mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
            break;
        }
        snprintf(child, plen, "%s%s%s", path, path[0] ? "/" : "", name);
        if (l.info[i].type != H5L_TYPE_HARD) {
            char val[512] = "";
            size_t vs = l.info[i].u.val_size;
            char note[1200];
            if (l.info[i].type == H5L_TYPE_SOFT && vs > 0 && vs <= sizeof val &&
                H5Lget_val(g, name, val, sizeof val, H5P_DEFAULT) >= 0) {
                val[sizeof val - 1] = 0;
                snprintf(note, sizeof note, "<soft link -> %s>\n", val);
            } else if (l.info[i].type == H5L_TYPE_EXTERNAL) {
                const char *file = NULL, *obj = NULL;
                unsigned fl;
                if (vs > 0 && vs <= sizeof val && H5Lget_val(g, name, val, sizeof val, H5P_DEFAULT) >= 0 &&
                    H5Lunpack_elink_val(val, vs, &fl, &file, &obj) >= 0 && file && obj &&
                    memchr(val, 0, vs))
                    snprintf(note, sizeof note, "<external link -> %.300s:%.300s (not followed)>\n",
                             file, obj);
                else
                    snprintf(note, sizeof note, "<external link (not followed)>\n");
            } else {
                snprintf(note, sizeof note, "<user-defined link (not followed)>\n");
            }
            H5Eclear2(H5E_DEFAULT);
            if (!mfs_tree_add_text(w->t, dir, name, note, strlen(note)))
                rc = mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
            free(child);
            continue;
        }
        /* one open per object; its type says group or dataset */
        hid_t obj = H5Oopen(g, name, H5P_DEFAULT);
        H5I_type_t ot = obj >= 0 ? H5Iget_type(obj) : H5I_BADID;
        if (obj < 0 || (ot != H5I_GROUP && ot != H5I_DATASET && ot != H5I_DATATYPE)) {
            mfs_err oe = {0};
            h5_err(&oe, MFS_FAILED, EIO, "cannot open the object");
            h5_warn(m, "/%s: %s", child, oe.msg);
            if (obj >= 0) H5Oclose(obj);
            free(child);
            continue;
        }
        if (ot == H5I_GROUP) {
            H5O_info_t oi;
            const char *first = NULL;
            int ok = H5Oget_info2(obj, &oi, H5O_INFO_BASIC) >= 0;
            H5Eclear2(H5E_DEFAULT);
            for (size_t k = 0; ok && oi.rc > 1 && k < w->nseen && !first; k++) /* rc 1: one link */
                if (w->seen[k].addr == oi.addr) first = w->seen[k].path;
            if (first) {
                char note[1200];
                snprintf(note, sizeof note, "<hard link to the group shown at /%.1000s>\n", first);
                if (!mfs_tree_add_text(w->t, dir, name, note, strlen(note)))
                    rc = mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
                H5Oclose(obj);
                free(child);
                continue;
            }
            if (w->nseen == w->capseen) {
                size_t cap = w->capseen ? w->capseen * 2 : 64;
                struct seen *v = realloc(w->seen, cap * sizeof *v);
                if (!v) {
                    H5Oclose(obj);
                    free(child);
                    rc = mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
                    break;
                }
                w->seen = v;
                w->capseen = cap;
            }
            w->seen[w->nseen++] = (struct seen){ok ? oi.addr : HADDR_UNDEF, child};
            uint32_t sdir = mfs_tree_mkdir(w->t, dir, name);
            if (!sdir) rc = mfs_err_set(w->e, MFS_FATAL, ENOMEM, -1, "out of memory");
            else rc = walk_group(w, obj, child, sdir, depth + 1);
            H5Oclose(obj);
            continue; /* child is owned by w->seen */
        }
        if (ot == H5I_DATASET) rc = add_dataset(w, obj, name, child, dir);
        /* named datatypes: nothing to show */
        H5Oclose(obj);
        free(child);
    }
    links_free(&l);
    return rc;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct h5_entry *x = *(struct h5_entry *const *)a, *y = *(struct h5_entry *const *)b;
    return strcmp(x->path, y->path);
}

int h5_raw_walk(struct h5_model *m, mfs_tree *t, uint32_t raw_dir, mfs_err *e)
{
    struct walk w = {.m = m, .t = t, .e = e};
    hid_t root = H5Gopen2(m->file, "/", H5P_DEFAULT);
    if (root < 0) return h5_err(e, MFS_FATAL, EINVAL, "cannot open the root group");
    int rc = walk_group(&w, root, "", raw_dir, 0);
    H5Gclose(root);
    for (size_t k = 0; k < w.nseen; k++) free(w.seen[k].path);
    free(w.seen);
    if (rc < 0) return rc;
    free(m->idx);
    m->idx = malloc((m->nent ? m->nent : 1) * sizeof *m->idx);
    if (!m->idx) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (size_t i = 0; i < m->nent; i++) m->idx[i] = &m->ent[i];
    qsort(m->idx, m->nent, sizeof *m->idx, cmp_entry);
    return MFS_OK;
}

mfs_tensor *h5_model_find(const struct h5_model *m, const char *path)
{
    while (*path == '/') path++;
    size_t lo = 0, hi = m->nent;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->idx[mid]->path, path);
        if (c == 0) return m->idx[mid]->tensor;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
