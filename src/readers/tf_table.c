/* tf_table.c: LevelDB-format table reader (see tf_table.h for the format).
 *
 * Sources of the layout: google/leveldb doc/table_format.md,
 * table/format.cc (footer, block trailer), table/block.cc (entries and
 * restart array); TensorFlow's copy lives in tsl/lib/io. The reader keeps
 * the decoded index (last key and handle of every data block) in memory;
 * data blocks are read, checked and dropped one at a time. */
#include "readers/tf_table.h"
#include "readers/tf_crc32c.h"
#include "readers/tf_pb.h"
#include <errno.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

struct tf_index_entry {
    unsigned char *key; /* last key of the block (or a separator after it) */
    size_t klen;
    uint64_t off, size;
};

struct tf_table {
    mfs_src *src;
    uint64_t limit;               /* blocks end before the footer */
    struct tf_index_entry *index; /* one per data block, in key order */
    size_t nindex;
    int snappy;
};

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int tf_table_tail_ok(const unsigned char *tail, size_t n)
{
    static const unsigned char magic[8] = {0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb};
    return n >= TF_TABLE_FOOTER && memcmp(tail + n - 8, magic, 8) == 0;
}

/* Decodes a BlockHandle (two varints) from [p, end). */
static int decode_handle(const unsigned char **p, const unsigned char *end, uint64_t *off,
                         uint64_t *size)
{
    return tf_varint(p, end, off) < 0 || tf_varint(p, end, size) < 0 ? -1 : 0;
}

/* Reads, checks and uncompresses one block; *@type gets its compression
 * type byte. */
static int read_block(tf_table *t, uint64_t off, uint64_t size, unsigned char **out, size_t *len,
                      int *ptype, mfs_err *e)
{
    *out = NULL;
    *ptype = 0;
    *len = 0;
    MFS_CHECK(size <= TF_TABLE_MAX_BLOCK, e, MFS_FATAL, EINVAL, (int64_t)off,
              "table block of %llu bytes (limit %u)", (unsigned long long)size,
              TF_TABLE_MAX_BLOCK);
    MFS_CHECK(off <= t->limit && size + 5 <= t->limit - off, e, MFS_FATAL, EINVAL, (int64_t)off,
              "table block [%llu, +%llu) lies beyond the end of the table (%llu bytes)",
              (unsigned long long)off, (unsigned long long)size + 5,
              (unsigned long long)t->limit);
    unsigned char *raw = malloc((size_t)size + 5);
    if (!raw) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (mfs_src_read_exact(t->src, raw, (size_t)size + 5, off, e) != MFS_OK) {
        free(raw);
        e->status = MFS_FATAL;
        return MFS_FATAL;
    }
    uint32_t stored = le32(raw + size + 1);
    uint32_t actual = mfs_crc32c_mask(mfs_crc32c(raw, (size_t)size + 1));
    if (stored != actual) {
        free(raw);
        return mfs_err_set(e, MFS_FATAL, EIO, (int64_t)(off + size + 1),
                           "table block at byte %llu: crc32c mismatch (stored 0x%08x, "
                           "computed 0x%08x)",
                           (unsigned long long)off, mfs_crc32c_unmask(stored),
                           mfs_crc32c_unmask(actual));
    }
    unsigned char type = raw[size];
    *ptype = type;
    if (type == 0) {
        *out = raw;
        *len = (size_t)size;
        return MFS_OK;
    }
    if (type != 1) {
        free(raw);
        return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)(off + size),
                           "table block at byte %llu: unknown compression type %u "
                           "(0 = none and 1 = snappy are supported)",
                           (unsigned long long)off, type);
    }
    size_t ulen = 0;
    if (snappy_uncompressed_length((const char *)raw, (size_t)size, &ulen) != SNAPPY_OK ||
        ulen > TF_TABLE_MAX_BLOCK) {
        free(raw);
        return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)off,
                           "table block at byte %llu: bad snappy header", (unsigned long long)off);
    }
    unsigned char *u = malloc(ulen ? ulen : 1);
    if (!u) {
        free(raw);
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    size_t got = ulen;
    snappy_status st = snappy_uncompress((const char *)raw, (size_t)size, (char *)u, &got);
    free(raw);
    if (st != SNAPPY_OK || got != ulen) {
        free(u);
        return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)off,
                           "table block at byte %llu: corrupt snappy data", (unsigned long long)off);
    }
    __atomic_store_n(&t->snappy, 1, __ATOMIC_RELAXED);
    *out = u;
    *len = ulen;
    return MFS_OK;
}

int tf_table_read_block(tf_table *t, uint64_t off, uint64_t size, unsigned char **out,
                        size_t *len, mfs_err *e)
{
    int type;
    return read_block(t, off, size, out, len, &type, e);
}

/* A decoded block: the entry region and the restart array. */
struct block {
    const unsigned char *data;
    size_t entries_end;   /* entries occupy [0, entries_end) */
    uint32_t nrestarts;
    const unsigned char *restarts;
    uint64_t off;         /* file offset, for messages */
};

static int block_init(struct block *b, const unsigned char *data, size_t len, uint64_t off,
                      mfs_err *e)
{
    b->data = data;
    b->off = off;
    MFS_CHECK(len >= 4, e, MFS_FATAL, EINVAL, (int64_t)off,
              "table block at byte %llu is %zu bytes, too short for its restart count",
              (unsigned long long)off, len);
    b->nrestarts = le32(data + len - 4);
    MFS_CHECK(b->nrestarts <= (len - 4) / 4, e, MFS_FATAL, EINVAL, (int64_t)off,
              "table block at byte %llu: %u restart points do not fit in %zu bytes",
              (unsigned long long)off, b->nrestarts, len);
    b->entries_end = len - 4 - 4 * (size_t)b->nrestarts;
    b->restarts = data + b->entries_end;
    MFS_CHECK(b->entries_end == 0 || b->nrestarts > 0, e, MFS_FATAL, EINVAL, (int64_t)off,
              "table block at byte %llu has entries but no restart point",
              (unsigned long long)off);
    uint32_t prev = 0;
    for (uint32_t i = 0; i < b->nrestarts; i++) {
        uint32_t r = le32(b->restarts + 4 * (size_t)i);
        MFS_CHECK((r < b->entries_end || (r == 0 && b->entries_end == 0)) && (i == 0 || r > prev),
                  e, MFS_FATAL, EINVAL, (int64_t)off,
                  "table block at byte %llu: restart point %u (offset %u) is out of order or "
                  "out of bounds", (unsigned long long)off, i, r);
        prev = r;
    }
    return MFS_OK;
}

/* Decodes the entry header at @pos: sets shared/non_shared/value length and
 * the offset of the key delta. */
static int entry_at(const struct block *b, size_t pos, uint32_t *shared, uint32_t *nonshared,
                    uint32_t *vlen, size_t *delta, mfs_err *e)
{
    const unsigned char *p = b->data + pos, *end = b->data + b->entries_end;
    uint64_t s, n, v;
    if (tf_varint(&p, end, &s) < 0 || tf_varint(&p, end, &n) < 0 || tf_varint(&p, end, &v) < 0 ||
        s > UINT32_MAX || n > UINT32_MAX || v > UINT32_MAX || n + v > (uint64_t)(end - p))
        return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)b->off,
                           "table block at byte %llu: entry at offset %zu is truncated or "
                           "malformed", (unsigned long long)b->off, pos);
    *shared = (uint32_t)s;
    *nonshared = (uint32_t)n;
    *vlen = (uint32_t)v;
    *delta = (size_t)(p - b->data);
    return MFS_OK;
}

/* A growing key buffer. */
struct keybuf {
    unsigned char *p;
    size_t len, cap;
    int valid; /* holds a key (for the order check) */
};

static int key_apply(struct keybuf *k, uint32_t shared, const unsigned char *delta, uint32_t n,
                     const struct block *b, size_t pos, mfs_err *e)
{
    MFS_CHECK(shared <= k->len, e, MFS_FATAL, EINVAL, (int64_t)b->off,
              "table block at byte %llu: entry at offset %zu shares %u bytes with a %zu-byte key",
              (unsigned long long)b->off, pos, shared, k->len);
    size_t need = (size_t)shared + n;
    if (need > k->cap) {
        size_t cap = need < 64 ? 64 : need * 2;
        unsigned char *q = realloc(k->p, cap);
        if (!q) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        k->p = q;
        k->cap = cap;
    }
    if (n) memcpy(k->p + shared, delta, n);
    k->len = need;
    return MFS_OK;
}

static int keycmp(const unsigned char *a, size_t al, const unsigned char *b, size_t bl)
{
    int c = al && bl ? memcmp(a, b, al < bl ? al : bl) : 0;
    return c ? c : (al < bl ? -1 : al > bl);
}

/* Visits the entries of one block in order. @last/@lastlen: the previous
 * key (across blocks) for the order check; updated. */
static int block_walk(const struct block *b, struct keybuf *k, struct keybuf *last,
                      tf_table_visit fn, void *ctx, struct tf_table_pos *pos, mfs_err *e)
{
    size_t p = 0;
    uint32_t ri = 0;
    k->len = 0;
    while (p < b->entries_end) {
        uint32_t sh, ns, vl;
        size_t d;
        MFS_FORWARD(entry_at(b, p, &sh, &ns, &vl, &d, e));
        if (ri < b->nrestarts && le32(b->restarts + 4 * (size_t)ri) == p) {
            MFS_CHECK(sh == 0, e, MFS_FATAL, EINVAL, (int64_t)b->off,
                      "table block at byte %llu: entry at restart point %u shares %u key bytes",
                      (unsigned long long)b->off, ri, sh);
            ri++;
        }
        MFS_FORWARD(key_apply(k, sh, b->data + d, ns, b, p, e));
        MFS_CHECK(!last->valid || keycmp(last->p, last->len, k->p, k->len) < 0, e, MFS_FATAL, EINVAL, (int64_t)b->off,
                  "table block at byte %llu: keys out of order at offset %zu",
                  (unsigned long long)b->off, p);
        if (fn) {
            pos->value_off = d + ns;
            /* never a NULL key, even an empty one */
            MFS_FORWARD(fn(ctx, k->p ? k->p : (const unsigned char *)"", k->len, b->data + d + ns, vl, pos, e));
        }
        /* remember the key for the order check */
        if (last->cap < k->len) {
            unsigned char *q = realloc(last->p, k->len);
            if (!q) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            last->p = q;
            last->cap = k->len;
        }
        if (k->len) memcpy(last->p, k->p, k->len);
        last->len = k->len;
        last->valid = 1;
        p = d + ns + vl;
    }
    MFS_CHECK(ri == b->nrestarts, e, MFS_FATAL, EINVAL, (int64_t)b->off,
              "table block at byte %llu: restart point %u is not at an entry",
              (unsigned long long)b->off, ri);
    return MFS_OK;
}

/* Index visitor: records the handle of every data block. */
struct index_ctx {
    tf_table *t;
    size_t cap;
};

static int index_visit(void *vctx, const unsigned char *key, size_t klen, const unsigned char *val,
                       size_t vlen, const struct tf_table_pos *pos, mfs_err *e)
{
    struct index_ctx *c = vctx;
    tf_table *t = c->t;
    const unsigned char *p = val;
    uint64_t off, size;
    MFS_CHECK(decode_handle(&p, val + vlen, &off, &size) == 0, e, MFS_FATAL, EINVAL,
              (int64_t)pos->block_off, "table index entry %zu: malformed block handle", t->nindex);
    MFS_CHECK(off <= t->limit && size <= t->limit - off, e, MFS_FATAL, EINVAL,
              (int64_t)pos->block_off,
              "table index entry %zu points to [%llu, +%llu), beyond the table's %llu bytes",
              t->nindex, (unsigned long long)off, (unsigned long long)size,
              (unsigned long long)t->limit);
    if (t->nindex == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct tf_index_entry *v = realloc(t->index, cap * sizeof *v);
        if (!v) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        t->index = v;
        c->cap = cap;
    }
    struct tf_index_entry *ie = &t->index[t->nindex];
    ie->key = malloc(klen ? klen : 1);
    if (!ie->key) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (klen) memcpy(ie->key, key, klen);
    ie->klen = klen;
    ie->off = off;
    ie->size = size;
    t->nindex++;
    return MFS_OK;
}

int tf_table_open(mfs_src *src, tf_table **out, mfs_err *e)
{
    *out = NULL;
    MFS_CHECK(src->size >= TF_TABLE_FOOTER, e, MFS_FATAL, EINVAL, 0,
              "%llu bytes, too short for a table footer (%d bytes)",
              (unsigned long long)src->size, TF_TABLE_FOOTER);
    unsigned char foot[TF_TABLE_FOOTER];
    int64_t foot_off = (int64_t)(src->size - TF_TABLE_FOOTER);
    if (mfs_src_read_exact(src, foot, sizeof foot, (uint64_t)foot_off, e) != MFS_OK) {
        e->status = MFS_FATAL;
        return MFS_FATAL;
    }
    MFS_CHECK(tf_table_tail_ok(foot, sizeof foot), e, MFS_FATAL, EINVAL,
              (int64_t)src->size - 8, "no table magic 0xdb4775248b80fb57 at the end of the file");
    const unsigned char *p = foot, *end = foot + 40;
    uint64_t moff, msize, ioff, isize;
    MFS_CHECK(decode_handle(&p, end, &moff, &msize) == 0 && decode_handle(&p, end, &ioff, &isize) == 0,
              e, MFS_FATAL, EINVAL, foot_off, "malformed block handles in the table footer");
    tf_table *t = calloc(1, sizeof *t);
    if (!t) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    t->src = mfs_src_ref(src);
    t->limit = src->size - TF_TABLE_FOOTER;
    unsigned char *blk = NULL;
    size_t blen = 0;
    int rc = tf_table_read_block(t, ioff, isize, &blk, &blen, e);
    if (rc == MFS_OK) {
        struct block b;
        struct keybuf k = {0}, last = {0};
        struct index_ctx c = {t, 0};
        struct tf_table_pos pos = {ioff, isize, 0, 0};
        rc = block_init(&b, blk, blen, ioff, e);
        if (rc == MFS_OK) rc = block_walk(&b, &k, &last, index_visit, &c, &pos, e);
        free(k.p);
        free(last.p);
    }
    free(blk);
    if (rc != MFS_OK) {
        mfs_err_prefix(e, "index block");
        tf_table_free(t);
        return MFS_FATAL;
    }
    *out = t;
    return MFS_OK;
}

void tf_table_free(tf_table *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nindex; i++) free(t->index[i].key);
    free(t->index);
    mfs_src_unref(t->src);
    free(t);
}

size_t tf_table_nblocks(const tf_table *t) { return t->nindex; }
int tf_table_has_snappy(const tf_table *t) { return __atomic_load_n(&t->snappy, __ATOMIC_RELAXED); }

int tf_table_foreach(tf_table *t, tf_table_visit fn, void *ctx, mfs_err *e)
{
    struct keybuf k = {0}, last = {0};
    int rc = MFS_OK;
    for (size_t i = 0; i < t->nindex && rc == MFS_OK; i++) {
        unsigned char *blk = NULL;
        size_t blen = 0;
        const struct tf_index_entry *ie = &t->index[i];
        int type = 0;
        rc = read_block(t, ie->off, ie->size, &blk, &blen, &type, e);
        if (rc == MFS_OK) {
            struct block b;
            struct tf_table_pos pos = {ie->off, ie->size, type != 0, 0};
            rc = block_init(&b, blk, blen, ie->off, e);
            if (rc == MFS_OK) rc = block_walk(&b, &k, &last, fn, ctx, &pos, e);
            /* the index key must not be below the block's last key */
            if (rc == MFS_OK && last.valid && keycmp(ie->key, ie->klen, last.p, last.len) < 0)
                rc = mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)ie->off,
                                 "table block at byte %llu holds keys past its index key",
                                 (unsigned long long)ie->off);
        }
        free(blk);
    }
    free(k.p);
    free(last.p);
    return rc;
}

/* Key of the entry at restart point @i of @b (shared must be 0). */
static int restart_key(const struct block *b, uint32_t i, const unsigned char **key, size_t *klen,
                       mfs_err *e)
{
    size_t pos = le32(b->restarts + 4 * (size_t)i), d;
    uint32_t sh, ns, vl;
    MFS_FORWARD(entry_at(b, pos, &sh, &ns, &vl, &d, e));
    MFS_CHECK(sh == 0, e, MFS_FATAL, EINVAL, (int64_t)b->off,
              "table block at byte %llu: entry at restart point %u shares key bytes",
              (unsigned long long)b->off, i);
    *key = b->data + d;
    *klen = ns;
    return MFS_OK;
}

int tf_table_get(tf_table *t, const void *key, size_t klen, unsigned char **val, size_t *vlen,
                 mfs_err *e)
{
    *val = NULL;
    *vlen = 0;
    /* first block whose index key >= key */
    size_t lo = 0, hi = t->nindex;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (keycmp(t->index[mid].key, t->index[mid].klen, key, klen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == t->nindex) return 0;
    const struct tf_index_entry *ie = &t->index[lo];
    unsigned char *blk = NULL;
    size_t blen = 0;
    MFS_FORWARD(tf_table_read_block(t, ie->off, ie->size, &blk, &blen, e));
    struct block b;
    int rc = block_init(&b, blk, blen, ie->off, e);
    /* last restart point whose key is < key */
    uint32_t rlo = 0, rhi = rc == MFS_OK ? b.nrestarts : 0;
    while (rc == MFS_OK && rhi - rlo > 1) {
        uint32_t mid = rlo + (rhi - rlo) / 2;
        const unsigned char *rk = NULL;
        size_t rkl = 0;
        rc = restart_key(&b, mid, &rk, &rkl, e);
        if (rc != MFS_OK) break;
        if (keycmp(rk, rkl, key, klen) < 0)
            rlo = mid;
        else
            rhi = mid;
    }
    int found = 0;
    if (rc == MFS_OK && b.nrestarts) {
        struct keybuf k = {0};
        size_t p = le32(b.restarts + 4 * (size_t)rlo);
        while (p < b.entries_end) {
            uint32_t sh, ns, vl;
            size_t d;
            if ((rc = entry_at(&b, p, &sh, &ns, &vl, &d, e)) != MFS_OK) break;
            if ((rc = key_apply(&k, sh, b.data + d, ns, &b, p, e)) != MFS_OK) break;
            int c = keycmp(k.p, k.len, key, klen);
            if (c == 0) {
                unsigned char *v = malloc(vl ? vl : 1);
                if (!v) {
                    rc = mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
                    break;
                }
                memcpy(v, b.data + d + ns, vl);
                *val = v;
                *vlen = vl;
                found = 1;
                break;
            }
            if (c > 0) break;
            p = d + ns + vl;
        }
        free(k.p);
    }
    free(blk);
    return rc != MFS_OK ? rc : found;
}
