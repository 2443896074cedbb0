/* rd_pytorch_tar.c: the ancient torch.save tar format (torch <= 0.1.x;
 * still read by torch.load's legacy_load, torch/serialization.py).
 *
 * A POSIX tar (PAX) with four members, all stored as-is in the file:
 *   sys_info   pickle: {protocol_version, little_endian, type_sizes}
 *   storages   pickle count, then per storage a pickle (key, location,
 *              storage_type) followed by int64 LE element count and the
 *              raw bytes; then a pickle list of views
 *              (target_key, root_key, offset, numel)
 *   tensors    pickle count, then per tensor a pickle (key, storage_key,
 *              tensor_type) followed by int32 ndim, 4 pad bytes, ndim
 *              int64 sizes, ndim int64 strides, int64 storage_offset
 *   pickle     the object; its persistent ids are plain keys of tensors
 *              or storages (a tuple for a module class: its first item)
 * Tar members are contiguous in the file, so every storage's bytes are a
 * range of the file: tensors get STRIDED/PLAIN locators on it. open()
 * reads the tar headers, the small pickles and the fixed-size tensor
 * records, never the storage bytes (their 8-byte counts only). */
#include "readers/torch.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 100000
#define MAX_LOADS 4000000

enum { M_SYS, M_PICKLE, M_TENSORS, M_STORAGES, M_N };
static const char *const MEMBERS[M_N] = {"sys_info", "pickle", "tensors", "storages"};

struct ttensor {
    const char *key, *storage;
    int ndim;
    uint64_t shape[MFS_MAX_DIMS];
    int64_t strides[MFS_MAX_DIMS];
    uint64_t offset;
};

struct tarf {
    mfs_src *src;
    uint64_t moff[M_N], msize[M_N];
    int have[M_N];
    mfs_pk_heap *h;
    mfs_pk *sys, *root;
    struct mfs_torch_fstore *st;
    size_t nst, capst;
    struct ttensor *tt;
    size_t ntt;
    const char **load_names; /* per heap load */
    size_t nloads, caploads;
    int swap;
    struct mfs_torch torch;
    struct mfs_pk_where where;
};

/* ---- bidding ---- */

static int is_member_name(const unsigned char *h)
{
    for (int i = 0; i < M_N; i++) {
        size_t l = strlen(MEMBERS[i]);
        if (memcmp(h, MEMBERS[i], l) == 0 && h[l] == 0) return 1;
    }
    return 0;
}

static int tar_bid(const struct mfs_probe *p, int best)
{
    if (best >= 80 || p->is_dir || p->head_len < 512) return -1;
    if (memcmp(p->head + 257, "ustar", 5) != 0) return -1;
    /* "ustar" (40 bits) + a torch member name first, or after a PAX header */
    if (is_member_name(p->head)) return 80;
    if ((p->head[156] == 'x' || p->head[156] == 'g') && p->head_len >= 2048)
        for (size_t o = 512; o + 512 <= p->head_len && o <= 1536; o += 512)
            if (memcmp(p->head + o + 257, "ustar", 5) == 0 && is_member_name(p->head + o)) return 80;
    return -1;
}

/* ---- tar headers ---- */

static uint64_t octal(const unsigned char *p, size_t n, int *ok)
{
    if (p[0] & 0x80) { /* base-256 (GNU) */
        uint64_t v = 0;
        for (size_t i = 1; i < n; i++) {
            if (v >> 56) *ok = 0;
            v = v << 8 | p[i];
        }
        return v;
    }
    uint64_t v = 0;
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == 0)) i++;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
        if (v >> 60) *ok = 0;
        v = v * 8 + (uint64_t)(p[i] - '0');
    }
    return v;
}

/* PAX records "LEN key=value\n": the size and path overrides. */
static void pax(const char *b, size_t n, uint64_t *size, char *path, size_t pathn)
{
    size_t i = 0;
    while (i < n) {
        char *end;
        unsigned long len = strtoul(b + i, &end, 10);
        if (!len || i + len > n || end >= b + i + len) break;
        const char *rec = end + 1, *stop = b + i + len - 1;
        if ((size_t)(stop - rec) > 5 && memcmp(rec, "size=", 5) == 0) *size = strtoull(rec + 5, NULL, 10);
        if ((size_t)(stop - rec) > 5 && memcmp(rec, "path=", 5) == 0)
            snprintf(path, pathn, "%.*s", (int)(stop - rec - 5), rec + 5);
        i += len;
    }
}

static int walk_tar(struct tarf *s, mfs_err *e)
{
    uint64_t off = 0, pax_size = UINT64_MAX;
    char pax_path[256] = "";
    unsigned char h[512];
    for (int k = 0; k < MAX_HEADERS && off + 512 <= s->src->size; k++) {
        if (mfs_src_read_exact(s->src, h, 512, off, e) < 0) return e->status = MFS_FATAL;
        int zero = 1;
        for (int i = 0; i < 512 && zero; i++) zero = !h[i];
        if (zero) break;
        int ok = 1;
        uint64_t size = octal(h + 124, 12, &ok);
        MFS_CHECK(ok && memcmp(h + 257, "ustar", 5) == 0, e, MFS_FATAL, EINVAL, (int64_t)off,
                  "torch tar: bad tar header at byte %llu", (unsigned long long)off);
        if (pax_size != UINT64_MAX) size = pax_size;
        uint64_t data = off + 512;
        MFS_CHECK(size <= s->src->size - data, e, MFS_FATAL, EINVAL, (int64_t)off,
                  "torch tar: member of %llu bytes runs past the end of the file", (unsigned long long)size);
        char name[256];
        snprintf(name, sizeof name, "%.100s", (const char *)h);
        if (pax_path[0]) snprintf(name, sizeof name, "%s", pax_path);
        pax_size = UINT64_MAX;
        pax_path[0] = 0;
        if (h[156] == 'x' && size < 65536) {
            char *b = mfs_src_slurp(s->src, data, size, 65536, e);
            if (!b) return e->status = MFS_FATAL;
            pax(b, (size_t)size, &pax_size, pax_path, sizeof pax_path);
            free(b);
        } else if (h[156] == '0' || h[156] == 0) {
            for (int i = 0; i < M_N; i++)
                if (strcmp(name, MEMBERS[i]) == 0) {
                    s->have[i] = 1;
                    s->moff[i] = data;
                    s->msize[i] = size;
                }
        }
        off = data + ((size + 511) & ~(uint64_t)511);
    }
    for (int i = 0; i < M_N; i++)
        MFS_CHECK(s->have[i], e, MFS_FATAL, EINVAL, -1, "torch tar: member %s is missing", MEMBERS[i]);
    return MFS_OK;
}

/* ---- members ---- */

/* One pickle of member @m at *pos (advanced past STOP). */
static int load(struct tarf *s, int m, uint64_t *pos, mfs_pk **out, mfs_err *e)
{
    MFS_CHECK(s->nloads < MAX_LOADS, e, MFS_FATAL, EINVAL, (int64_t)*pos, "torch tar: too many pickles");
    if (s->nloads == s->caploads) {
        size_t nc = s->caploads ? s->caploads * 2 : 16;
        const char **nn = realloc(s->load_names, nc * sizeof *nn);
        MFS_CHECK(nn, e, MFS_FATAL, ENOMEM, -1, "out of memory");
        s->load_names = nn;
        s->caploads = nc;
    }
    s->load_names[s->nloads++] = MEMBERS[m];
    int rc = mfs_pk_load(s->h, s->src, *pos, s->moff[m] + s->msize[m], NULL, out, pos, e);
    if (rc < 0) mfs_err_prefix(e, "torch tar: %s", MEMBERS[m]);
    return rc;
}

static int count_of(struct tarf *s, int m, uint64_t *pos, uint64_t *n, mfs_err *e)
{
    mfs_pk *o;
    int64_t v;
    MFS_FORWARD(load(s, m, pos, &o, e));
    MFS_CHECK(mfs_pk_int(o, &v) && v >= 0 && (uint64_t)v <= s->msize[m], e, MFS_FATAL, EINVAL,
              (int64_t)*pos, "torch tar: %s does not start with a count", MEMBERS[m]);
    *n = (uint64_t)v;
    return MFS_OK;
}

static const char *key_of(struct tarf *s, const mfs_pk *k, mfs_err *e)
{
    char buf[64];
    int64_t v;
    if (mfs_pk_str(k) && k->kind == MFS_PK_STR) return k->u.s.data;
    if (!mfs_pk_int(k, &v)) return NULL;
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return mfs_pk_strndup(s->h, buf, strlen(buf), e);
}

static struct mfs_torch_fstore *find_store(struct tarf *s, const char *key)
{
    for (size_t i = s->nst; i-- > 0;)
        if (strcmp(s->st[i].key, key) == 0) return &s->st[i];
    return NULL;
}

static int read_storages(struct tarf *s, mfs_err *e)
{
    uint64_t pos = s->moff[M_STORAGES], end = pos + s->msize[M_STORAGES], n;
    MFS_FORWARD(count_of(s, M_STORAGES, &pos, &n, e));
    for (uint64_t i = 0; i < n; i++) {
        mfs_pk *t;
        MFS_FORWARD(load(s, M_STORAGES, &pos, &t, e));
        size_t k;
        mfs_pk **v = mfs_pk_items(t, &k);
        struct mfs_torch_fstore st = {0};
        MFS_CHECK(t->kind == MFS_PK_TUPLE && k == 3 && (st.key = key_of(s, v[0], e)) &&
                      v[2]->kind == MFS_PK_GLOBAL &&
                      (st.dtype = mfs_torch_dtype_of_storage(v[2]->u.g.name)),
                  e, MFS_FATAL, EINVAL, (int64_t)t->offset,
                  "torch tar: storage record is not (key, location, storage type)");
        unsigned char b[8];
        MFS_CHECK(end - pos >= 8, e, MFS_FATAL, EINVAL, (int64_t)pos, "torch tar: storage %s truncated", st.key);
        if (mfs_src_read_exact(s->src, b, 8, pos, e) < 0) return e->status = MFS_FATAL;
        for (int j = 7; j >= 0; j--) st.numel = st.numel << 8 | b[j];
        uint64_t isz = mfs_dtype_get(st.dtype)->itemsize;
        pos += 8;
        MFS_CHECK(st.numel <= (end - pos) / isz, e, MFS_FATAL, EINVAL, (int64_t)pos - 8,
                  "torch tar: storage %s of %llu elements runs past its member", st.key,
                  (unsigned long long)st.numel);
        st.off = pos;
        pos += st.numel * isz;
        MFS_FORWARD(mfs_torch_fstore_add(&s->st, &s->nst, &s->capst, st, e));
    }
    mfs_pk *views;
    MFS_FORWARD(load(s, M_STORAGES, &pos, &views, e));
    size_t nv;
    mfs_pk **v = mfs_pk_items(views, &nv);
    for (size_t i = 0; i < nv; i++) { /* (target, root, offset, numel) */
        size_t k;
        mfs_pk **w = mfs_pk_items(v[i], &k);
        const char *target, *rootk;
        int64_t off, numel;
        struct mfs_torch_fstore *root;
        MFS_CHECK(k == 4 && (target = key_of(s, w[0], e)) && (rootk = key_of(s, w[1], e)) &&
                      (root = find_store(s, rootk)) && mfs_pk_int(w[2], &off) && mfs_pk_int(w[3], &numel) &&
                      off >= 0 && numel >= 0 && (uint64_t)off <= root->numel &&
                      (uint64_t)numel <= root->numel - (uint64_t)off,
                  e, MFS_FATAL, EINVAL, (int64_t)v[i]->offset, "torch tar: bad storage view");
        struct mfs_torch_fstore st = {target, root->dtype,
                            root->off + (uint64_t)off * mfs_dtype_get(root->dtype)->itemsize, (uint64_t)numel};
        MFS_FORWARD(mfs_torch_fstore_add(&s->st, &s->nst, &s->capst, st, e));
    }
    return MFS_OK;
}

static int read_tensors(struct tarf *s, mfs_err *e)
{
    uint64_t pos = s->moff[M_TENSORS], end = pos + s->msize[M_TENSORS], n;
    MFS_FORWARD(count_of(s, M_TENSORS, &pos, &n, e));
    s->tt = calloc(n ? n : 1, sizeof *s->tt);
    MFS_CHECK(s->tt, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        mfs_pk *t;
        MFS_FORWARD(load(s, M_TENSORS, &pos, &t, e));
        size_t k;
        mfs_pk **v = mfs_pk_items(t, &k);
        struct ttensor *tt = &s->tt[s->ntt];
        MFS_CHECK(t->kind == MFS_PK_TUPLE && k == 3 && (tt->key = key_of(s, v[0], e)) &&
                      (tt->storage = key_of(s, v[1], e)),
                  e, MFS_FATAL, EINVAL, (int64_t)t->offset, "torch tar: tensor record is not (key, storage, type)");
        unsigned char b[8 + 16 * MFS_MAX_DIMS + 8];
        MFS_CHECK(end - pos >= 8, e, MFS_FATAL, EINVAL, (int64_t)pos, "torch tar: tensor %s truncated", tt->key);
        if (mfs_src_read_exact(s->src, b, 8, pos, e) < 0) return e->status = MFS_FATAL;
        int32_t nd = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
        MFS_CHECK(nd >= 0 && nd <= MFS_MAX_DIMS, e, MFS_FATAL, EINVAL, (int64_t)pos,
                  "torch tar: tensor %s has %d dimensions", tt->key, nd);
        size_t need = 8 + 16 * (size_t)nd + 8;
        MFS_CHECK(end - pos >= need, e, MFS_FATAL, EINVAL, (int64_t)pos, "torch tar: tensor %s truncated", tt->key);
        if (mfs_src_read_exact(s->src, b, need, pos, e) < 0) return e->status = MFS_FATAL;
        pos += need;
        tt->ndim = nd;
        for (int d = 0; d <= 2 * nd; d++) {
            uint64_t x = 0;
            for (int j = 7; j >= 0; j--) x = x << 8 | b[8 + 8 * d + j];
            MFS_CHECK(x <= INT64_MAX, e, MFS_FATAL, EINVAL, (int64_t)pos,
                      "torch tar: tensor %s: negative size, stride or offset", tt->key);
            if (d < nd) tt->shape[d] = x;
            else if (d < 2 * nd) tt->strides[d - nd] = (int64_t)x;
            else tt->offset = x;
        }
        s->ntt++;
    }
    return MFS_OK;
}

static int tar_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    struct tarf *s = calloc(1, sizeof *s);
    MFS_CHECK(s, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    *state = s;
    s->src = mfs_src_ref(p->src);
    s->h = mfs_pk_heap_new(NULL);
    MFS_CHECK(s->h, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    MFS_FORWARD(walk_tar(s, e));
    uint64_t pos = s->moff[M_SYS];
    MFS_FORWARD(load(s, M_SYS, &pos, &s->sys, e));
    const mfs_pk *le = mfs_pk_dict_get(s->sys, "little_endian");
    s->swap = le && le->kind == MFS_PK_BOOL && !le->u.b;
    MFS_FORWARD(read_storages(s, e));
    MFS_FORWARD(read_tensors(s, e));
    pos = s->moff[M_PICKLE];
    return load(s, M_PICKLE, &pos, &s->root, e);
}

/* A rebuild call's storage argument: a persistent id naming a storage. */
static int resolve(struct mfs_torch *c, const mfs_pk *pid, struct mfs_torch_store *st, mfs_err *e)
{
    struct tarf *s = c->ctx;
    const char *k = key_of(s, pid, e);
    struct mfs_torch_fstore *ts = k ? find_store(s, k) : NULL;
    if (!ts)
        return mfs_err_set(e, MFS_FATAL, EINVAL, pid ? (int64_t)pid->offset : -1,
                           "torch tar: persistent id is not a known storage");
    mfs_torch_fstore_place(ts, s->src, st);
    return MFS_OK;
}

/* A persistent id naming a tensor of the tensors member. */
static int persid_tensor(struct mfs_torch *c, const mfs_pk *pid, mfs_tensor **out, mfs_err *e)
{
    struct tarf *s = c->ctx;
    const char *k = key_of(s, pid, e);
    if (!k) return 0;
    struct ttensor *tt = NULL;
    for (size_t i = 0; i < s->ntt && !tt; i++)
        if (strcmp(s->tt[i].key, k) == 0) tt = &s->tt[i];
    if (!tt) return 0;
    struct mfs_torch_fstore *ts = find_store(s, tt->storage);
    if (!ts)
        return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)pid->offset,
                           "torch tar: tensor %s is on unknown storage %s", tt->key, tt->storage);
    mfs_tensor *t = mfs_tree_tensor_new(c->t);
    if (!t) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    t->dtype = ts->dtype;
    MFS_FORWARD(mfs_tensor_set_shape(t, tt->ndim, tt->shape, e));
    int rc = mfs_tensor_set_strided(t, s->src, ts->off, ts->numel, tt->offset, tt->strides, s->swap, e);
    if (rc < 0) {
        mfs_err_prefix(e, "torch tar: tensor %s", tt->key);
        return rc;
    }
    t->info = json_object();
    if (t->info) {
        json_object_set_new(t->info, "storage", json_string(ts->key));
        json_object_set_new(t->info, "storage_offset", json_integer((json_int_t)tt->offset));
    }
    *out = t;
    return 1;
}

static int tar_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct tarf *s = state;
    struct mfs_pk_raw_hooks hk;
    mfs_torch_init(&s->torch, t, s->h, resolve, s);
    s->torch.swap = s->swap;
    s->torch.persid_tensor = persid_tensor;
    MFS_FORWARD(mfs_torch_build_model(&s->torch, s->root, e));
    uint32_t md = mfs_tree_top(t, MFS_TOP_METADATA), raw = mfs_tree_top(t, MFS_TOP_RAW);
    MFS_CHECK(md && raw, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    json_t *si = mfs_pk_to_json(s->sys, 8);
    uint32_t ok = si && mfs_tree_add_json(t, md, "sys_info.json", si) &&
                  mfs_tree_add_text(t, md, "serialization", "tar (torch <= 0.1 torch.save)\n", 30);
    json_decref(si);
    MFS_CHECK(ok, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    mfs_torch_raw_hooks(&s->torch, &hk);
    int rc = mfs_pk_raw_build(t, raw, "pickle", s->root, s->src, "raw", &hk, &s->where, e);
    MFS_FORWARD(rc);
    int warn = rc == MFS_WARN;
    MFS_FORWARD(rc = mfs_pk_raw_build(t, raw, "sys_info", s->sys, s->src, "raw", NULL, &s->where, e));
    uint32_t sd = mfs_tree_mkdir(t, raw, "storages");
    MFS_CHECK(sd, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    MFS_FORWARD(mfs_torch_fstore_files(t, sd, s->src, s->st, s->nst, e));
    MFS_FORWARD(mfs_pk_security_build(t, s->h, s->load_names, s->nloads, &s->where, e));
    return warn ? MFS_WARN : MFS_OK;
}

static void tar_close(void *state)
{
    struct tarf *s = state;
    if (!s) return;
    mfs_torch_destroy(&s->torch);
    mfs_pk_where_free(&s->where);
    mfs_pk_heap_free(s->h);
    mfs_src_unref(s->src);
    free(s->st);
    free(s->tt);
    free(s->load_names);
    free(s);
}

const struct mfs_reader mfs_reader_pytorch_tar = {
    .name = "pytorch-tar",
    .description = "PyTorch ancient tar torch.save (sys_info, pickle, tensors, storages members)",
    .flags = 0,
    .bid = tar_bid,
    .open = tar_open,
    .build = tar_build,
    .close = tar_close,
};
