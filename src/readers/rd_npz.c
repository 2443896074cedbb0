/* rd_npz.c: the NumPy .npz reader (a zip of .npy members).
 *
 * np.savez writes stored members, np.savez_compressed deflated ones
 * (FORMATS.md §8.3). Every member <name>.npy becomes the model tensor
 * tensors/<name> ('/' in names nest), in archive order. A stored member's
 * array is a PLAIN/BYTESWAP/STRIDED locator straight on the archive file
 * (member data offset + npy header length): no copy, no decode. A
 * deflated member's array is the same locator over the member's byte
 * source (zip.c: inflated on demand with restart points), so a small read
 * near the end of a big compressed array does not re-inflate the whole
 * member every time. info.json says which member and "compression":
 * "deflate"; metadata/members.json lists the members; raw/ holds every
 * member's (uncompressed) bytes as a file. Members that are not .npy
 * (only possible with -o format=npz) appear under raw/ only. */
#include "core/zip.h"
#include "readers/npy_header.h"
#include "readers/reader.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct npz_member {
    char *name;            /* member name as stored */
    char *key;             /* name without ".npy", NULL for other members */
    uint16_t method;
    uint64_t size, comp_size;
    mfs_src *src;          /* archive (stored) or member source (deflated); referenced */
    uint64_t base;         /* where the member's bytes start in src */
    struct mfs_npy_header h;
};

struct npz_state {
    size_t n;
    struct npz_member *m;
};

/* The bid: a zip archive (its signature, 32 bits) whose members all end
 * in ".npy" (32 bits more); an empty archive (np.savez with no arrays)
 * only gets the 32. The zip family tells itself apart by member names:
 * PyTorch has data.pkl, Keras v3 config.json, so they never tie. */
#define NPZ_BID 64

static int ends_with_npy(const char *s)
{
    size_t n = strlen(s);
    return n > 4 && strcmp(s + n - 4, ".npy") == 0;
}

static int npz_bid(const struct mfs_probe *p, int best_bid)
{
    if (best_bid >= NPZ_BID || p->head_len < 4 || memcmp(p->head, "PK", 2) != 0) return -1;
    const struct mfs_zip *z = mfs_probe_zip(p);
    if (!z) return -1;
    size_t files = 0;
    for (size_t i = 0; i < z->count; i++) {
        if (z->m[i].is_dir) continue;
        if (!ends_with_npy(z->m[i].name)) return -1;
        files++;
    }
    return files ? NPZ_BID : 32;
}

static void npz_close(void *state)
{
    struct npz_state *s = state;
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->m[i].name);
        free(s->m[i].key);
        mfs_src_unref(s->m[i].src);
    }
    free(s->m);
    free(s);
}

/* open_member() : fills @m for member @i of @z and parses its npy header.
 * @return MFS_OK or MFS_FATAL with @e set (prefixed with the member). */
static int open_member(struct mfs_zip *z, size_t i, struct npz_member *m, mfs_err *e)
{
    const struct mfs_zip_member *zm = &z->m[i];
    m->name = strdup(zm->name);
    MFS_CHECK(m->name, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    m->method = zm->method;
    m->size = zm->size;
    m->comp_size = zm->comp_size;
    if (zm->method == 0) {
        m->src = mfs_src_ref(z->src);
        m->base = zm->data_offset;
    } else {
        m->src = mfs_zip_member_src(z, i, e);
        if (!m->src) {
            mfs_err_prefix(e, "member %s", zm->name);
            return e->status = MFS_FATAL;
        }
        m->base = 0;
    }
    if (!ends_with_npy(zm->name)) return MFS_OK;
    m->key = strndup(zm->name, strlen(zm->name) - 4);
    MFS_CHECK(m->key, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (mfs_npy_read_header(m->src, m->base, m->size, &m->h, e) < 0) {
        if (zm->method != 0 && e->offset >= 0) {
            /* offsets inside inflated bytes mean nothing in the file */
            mfs_err_prefix(e, "member %s (deflated), byte %lld of its data", zm->name,
                           (long long)e->offset);
            e->offset = (int64_t)zm->data_offset;
        } else {
            mfs_err_prefix(e, "member %s", zm->name);
        }
        return e->status = MFS_FATAL;
    }
    return MFS_OK;
}

static int npz_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    struct mfs_zip *z = mfs_probe_zip(p);
    if (!z) {
        /* say why: open it again for the message */
        MFS_CHECK(p->src, e, MFS_FATAL, EINVAL, -1, "npz: not a regular file");
        struct mfs_zip *again = mfs_zip_open(p->src, e);
        mfs_zip_free(again);
        if (!again) return e->status = MFS_FATAL;
        return mfs_err_set(e, MFS_FATAL, EINVAL, -1, "npz: not a readable zip archive");
    }
    struct npz_state *s = calloc(1, sizeof *s);
    MFS_CHECK(s, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    *state = s;
    s->m = calloc(z->count ? z->count : 1, sizeof *s->m);
    MFS_CHECK(s->m, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (size_t i = 0; i < z->count; i++) {
        if (z->m[i].is_dir) continue;
        MFS_CHECK(z->m[i].method == 0 || z->m[i].method == 8, e, MFS_FATAL, ENOTSUP,
                  (int64_t)z->m[i].data_offset,
                  "member %s: zip compression method %u is not supported (stored and deflate are)",
                  z->m[i].name, z->m[i].method);
        struct npz_member *m = &s->m[s->n++];
        MFS_FORWARD(open_member(z, i, m, e));
    }
    return MFS_OK;
}

static const char *compression_name(uint16_t method)
{
    return method == 0 ? "stored" : "deflate";
}

static int npz_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct npz_state *s = state;
    uint32_t md = mfs_tree_top(t, MFS_TOP_METADATA), raw = mfs_tree_top(t, MFS_TOP_RAW);
    json_t *list = json_array();
    int ok = md && raw && list, stored = 0, deflated = 0;
    for (size_t i = 0; ok && i < s->n; i++) {
        struct npz_member *m = &s->m[i];
        stored += m->method == 0;
        deflated += m->method != 0;
        ok = mfs_tree_add_src_range(t, raw, m->name, m->src, m->base, m->size) != 0;
        json_t *mj = json_pack("{s:s, s:s, s:I, s:I}", "name", m->name, "compression",
                               compression_name(m->method), "size", (json_int_t)m->size,
                               "compressed_size", (json_int_t)m->comp_size);
        ok = ok && mj && json_array_append_new(list, mj) == 0;
        if (!ok || !m->key) continue;

        mfs_tensor *tn = mfs_tree_tensor_new(t);
        if (!tn) {
            ok = 0;
            break;
        }
        if (mfs_npy_tensor_init(t, tn, &m->h, m->src, m->base, e) < 0) {
            json_decref(list);
            mfs_err_prefix(e, "member %s", m->name);
            return e->status = MFS_FATAL;
        }
        if (m->method != 0) tn->compression = "deflate";
        tn->info = mfs_npy_info_json(&m->h);
        ok = tn->info && json_object_set_new(tn->info, "member", json_string(m->name)) == 0;
        ok = ok && mfs_tree_add_model_tensor(t, m->key, tn) != 0;
    }
    ok = ok && mfs_tree_add_json(t, md, "members.json", list) != 0;
    ok = ok && mfs_tree_add_textf(t, md, "compression", "%s\n",
                                  stored && deflated ? "mixed" : deflated ? "deflate" : "stored");
    json_decref(list);
    MFS_CHECK(ok, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    return MFS_OK;
}

const struct mfs_reader mfs_reader_npz = {
    .name = "npz",
    .description = "NumPy .npz archive (numpy.savez, numpy.savez_compressed)",
    .flags = 0,
    .bid = npz_bid,
    .open = npz_open,
    .build = npz_build,
    .close = npz_close,
};
