/* rd_pytorch_legacy.c: torch.save's pre-1.6 stream format (FORMATS.md §6.4,
 * torch/serialization.py _legacy_save/_legacy_load), still written with
 * _use_new_zipfile_serialization=False.
 *
 * The file is five consecutive pickles, then the raw storages:
 *   1. the magic number 0x1950a86a20f9469cfc6c   2. protocol version 1001
 *   3. sys_info {protocol_version, little_endian, type_sizes}
 *   4. the object, storages as persistent ids ('storage', type, root_key,
 *      location, numel, view_metadata) and, for whole models of old
 *      torch, classes as ('module', cls, source_file, source)
 *   5. the list of storage keys
 * and for each key of that list, in order: int64 LE element count, then
 * count * element-size bytes. Storage offsets are implicit, so open()
 * walks them: it reads the 8-byte counts only (one pread per storage) and
 * skips the data. The element size comes from the storage class the
 * pickle names for that key (collected by a persistent_load hook). */
#include "readers/torch.h"
#include "core/log.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char MAGIC[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
#define MAGIC_DEC "119547037146038801333356"

struct legacy {
    mfs_src *src;      /* borrowed from the probe, referenced */
    mfs_pk_heap *h;
    mfs_pk *obj[5];
    uint64_t start[5];
    int swap;
    struct mfs_torch_fstore *st; /* sorted by key after open */
    size_t nst, capst;
    uint64_t data_end;
    struct mfs_torch torch;
    struct mfs_pk_where where;
};

static int lg_bid(const struct mfs_probe *p, int best)
{
    if (best >= 100 || p->is_dir || p->head_len < 16) return -1;
    /* protocol 2 (what torch wrote): PROTO 2, LONG1 10 <magic>, STOP */
    if (p->head[0] == 0x80 && p->head[2] == 0x8a && p->head[3] == 10 &&
        memcmp(p->head + 4, MAGIC, 10) == 0 && p->head[14] == '.')
        return 100; /* 13 bytes checked */
    /* other protocols: LONG1 + magic, or the decimal text of protocol 0/1 */
    size_t lim = p->head_len < 32 ? p->head_len : 32;
    for (size_t i = 0; i + 12 <= lim; i++)
        if (p->head[i] == 0x8a && p->head[i + 1] == 10 && memcmp(p->head + i + 2, MAGIC, 10) == 0)
            return 90;
    if (p->head_len > 32 && memmem(p->head, p->head_len < 40 ? p->head_len : 40, MAGIC_DEC, sizeof MAGIC_DEC - 1)) return 90;
    return -1;
}

static int cmp_store(const void *a, const void *b)
{
    return strcmp(((const struct mfs_torch_fstore *)a)->key, ((const struct mfs_torch_fstore *)b)->key);
}

static struct mfs_torch_fstore *find_store(struct legacy *s, const char *key)
{
    struct mfs_torch_fstore k = {.key = key};
    return s->nst ? bsearch(&k, s->st, s->nst, sizeof *s->st, cmp_store) : NULL;
}

/* persistent_load hook of pickle 4: records each storage's type. */
static mfs_pk *on_pid(void *ctx, mfs_pk_vm *vm, mfs_pk *pid, mfs_err *e)
{
    struct legacy *s = ctx;
    size_t n;
    mfs_pk **v = mfs_pk_items(pid, &n);
    if (pid->kind == MFS_PK_TUPLE && n >= 5 && mfs_pk_str_eq(v[0], "storage")) {
        struct mfs_torch_pid p;
        if (mfs_torch_parse_pid(s->h, pid, &p, e) < 0) return NULL;
        struct mfs_torch_fstore fs = {p.key, p.dtype, UINT64_MAX, 0};
        if (mfs_torch_fstore_add(&s->st, &s->nst, &s->capst, fs, e) < 0) return NULL;
    }
    mfs_pk *o = mfs_pk_new(mfs_pk_vm_heap(vm), MFS_PK_PERSID, mfs_pk_vm_offset(vm), e);
    if (o) o->u.persid.pid = pid;
    return o;
}

static int bad(mfs_err *e, int64_t off, const char *what)
{
    return mfs_err_set(e, MFS_FATAL, EINVAL, off, "torch legacy file: %s", what);
}

/* Walks the storage area: key list order, int64 count + data each. */
static int walk_storages(struct legacy *s, uint64_t pos, mfs_err *e)
{
    if (s->nst) qsort(s->st, s->nst, sizeof *s->st, cmp_store);
    /* one record per key (a key seen in several pids keeps its first type) */
    size_t w = 0;
    for (size_t i = 0; i < s->nst; i++)
        if (!w || strcmp(s->st[w - 1].key, s->st[i].key) != 0) s->st[w++] = s->st[i];
    s->nst = w;
    size_t nk;
    mfs_pk **keys = mfs_pk_items(s->obj[4], &nk);
    if (!s->obj[4] || s->obj[4]->kind != MFS_PK_LIST)
        return bad(e, (int64_t)s->start[4], "the fifth pickle is not the list of storage keys");
    for (size_t i = 0; i < nk; i++) {
        const char *k = mfs_pk_str(keys[i]);
        struct mfs_torch_fstore *ls = k ? find_store(s, k) : NULL;
        if (!ls) return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)pos,
                                    "torch legacy file: storage key %zu is not used by the pickle", i);
        if (ls->off != UINT64_MAX)
            return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)pos,
                               "torch legacy file: storage %s listed twice", k);
        unsigned char b[8];
        MFS_CHECK(pos <= s->src->size && s->src->size - pos >= 8, e, MFS_FATAL, EINVAL, (int64_t)pos,
                  "torch legacy file: truncated at storage %s (size field at byte %llu)", k,
                  (unsigned long long)pos);
        if (mfs_src_read_exact(s->src, b, 8, pos, e) < 0) {
            e->status = MFS_FATAL;
            return MFS_FATAL;
        }
        uint64_t cnt = 0;
        for (int j = 7; j >= 0; j--) cnt = cnt << 8 | b[j];
        uint64_t isz = mfs_dtype_get(ls->dtype)->itemsize;
        pos += 8;
        MFS_CHECK(cnt <= (s->src->size - pos) / isz, e, MFS_FATAL, EINVAL, (int64_t)pos - 8,
                  "torch legacy file: storage %s of %llu elements runs past the end of the file", k,
                  (unsigned long long)cnt);
        ls->off = pos;
        ls->numel = cnt;
        pos += cnt * isz;
    }
    s->data_end = pos;
    return MFS_OK;
}

static int lg_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    struct legacy *s = calloc(1, sizeof *s);
    MFS_CHECK(s, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    *state = s;
    s->src = mfs_src_ref(p->src);
    s->h = mfs_pk_heap_new(NULL);
    MFS_CHECK(s->h, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    struct mfs_pk_hooks hk = {.ctx = s, .persistent_load = on_pid};
    uint64_t pos = 0;
    static const char *const what[5] = {"magic number", "protocol version", "sys_info", "object",
                                        "storage keys"};
    for (int i = 0; i < 5; i++) {
        s->start[i] = pos;
        int rc = mfs_pk_load(s->h, s->src, pos, 0, i == 3 ? &hk : NULL, &s->obj[i], &pos, e);
        if (rc < 0) {
            mfs_err_prefix(e, "torch legacy file: %s pickle", what[i]);
            return rc;
        }
    }
    const mfs_pk *m = s->obj[0];
    MFS_CHECK(m->kind == MFS_PK_INT && (m->flags & MFS_PK_F_BIG) && m->u.i.nbytes == 10 &&
                  memcmp(m->u.i.bytes, MAGIC, 10) == 0,
              e, MFS_FATAL, EINVAL, 0, "torch legacy file: wrong magic number");
    int64_t proto;
    MFS_CHECK(mfs_pk_int(s->obj[1], &proto) && proto == 1001, e, MFS_FATAL, EINVAL,
              (int64_t)s->start[1], "torch legacy file: protocol version is not 1001");
    const mfs_pk *le = mfs_pk_dict_get(s->obj[2], "little_endian");
    s->swap = le && le->kind == MFS_PK_BOOL && !le->u.b;
    return walk_storages(s, pos, e);
}

static int resolve(struct mfs_torch *c, const mfs_pk *pid, struct mfs_torch_store *st, mfs_err *e)
{
    struct legacy *s = c->ctx;
    struct mfs_torch_pid p;
    MFS_FORWARD(mfs_torch_parse_pid(c->h, pid, &p, e));
    struct mfs_torch_fstore *ls = find_store(s, p.key);
    if (!ls || ls->off == UINT64_MAX)
        return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)pid->offset,
                           "torch legacy file: storage %s has no data", p.key);
    uint64_t isz = mfs_dtype_get(ls->dtype)->itemsize;
    mfs_torch_fstore_place(ls, s->src, st);
    st->key = p.has_view ? p.view_key : p.key;
    st->location = p.location;
    if (p.has_view) { /* a storage view: elements [offset, offset+size) of the root */
        if (p.view_offset > ls->numel || p.view_size > ls->numel - p.view_offset)
            return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)pid->offset,
                               "torch legacy file: storage view outside storage %s", p.key);
        st->off += p.view_offset * isz;
        st->numel = p.view_size;
        st->nbytes = p.view_size * isz;
    }
    return MFS_OK;
}

static int lg_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct legacy *s = state;
    struct mfs_pk_raw_hooks hk;
    mfs_torch_init(&s->torch, t, s->h, resolve, s);
    s->torch.swap = s->swap;
    s->torch.where = "storage ";
    MFS_FORWARD(mfs_torch_build_model(&s->torch, s->obj[3], e));

    uint32_t md = mfs_tree_top(t, MFS_TOP_METADATA), raw = mfs_tree_top(t, MFS_TOP_RAW);
    MFS_CHECK(md && raw, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    json_t *si = mfs_pk_to_json(s->obj[2], 8);
    uint32_t ok = si && mfs_tree_add_json(t, md, "sys_info.json", si) &&
                  mfs_tree_add_text(t, md, "protocol_version", "1001\n", 5) &&
                  mfs_tree_add_text(t, md, "serialization", "legacy (pre-1.6 torch.save stream)\n", 35);
    json_decref(si);
    MFS_CHECK(ok, e, MFS_FATAL, ENOMEM, -1, "out of memory");

    mfs_torch_raw_hooks(&s->torch, &hk);
    static const char *const names[5] = {"magic_number", "protocol_version", "sys_info", "pickle",
                                         "storage_keys"};
    int warn = 0;
    for (int i = 0; i < 5; i++) {
        int rc = mfs_pk_raw_build(t, raw, names[i], s->obj[i], s->src, "raw", &hk, &s->where, e);
        MFS_FORWARD(rc);
        warn |= rc == MFS_WARN;
    }
    uint32_t sd = s->nst ? mfs_tree_mkdir(t, raw, "storages") : raw;
    MFS_CHECK(sd, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    MFS_FORWARD(mfs_torch_fstore_files(t, sd, s->src, s->st, s->nst, e));
    MFS_FORWARD(mfs_pk_security_build(t, s->h, names, 5, &s->where, e));
    return warn ? MFS_WARN : MFS_OK;
}

static void lg_close(void *state)
{
    struct legacy *s = state;
    if (!s) return;
    mfs_torch_destroy(&s->torch);
    mfs_pk_where_free(&s->where);
    mfs_pk_heap_free(s->h);
    mfs_src_unref(s->src);
    free(s->st);
    free(s);
}

const struct mfs_reader mfs_reader_pytorch_legacy = {
    .name = "pytorch-legacy",
    .description = "PyTorch legacy torch.save stream (pre-1.6, _use_new_zipfile_serialization=False)",
    .flags = 0,
    .bid = lg_bid,
    .open = lg_open,
    .build = lg_build,
    .close = lg_close,
};
