/* tf_bundle.c: opening a tensor bundle: header, entries, partitioned
 * tensors, shards, string tensors (see tf_bundle.h). Reading fixed-size
 * tensors with their checksums is tf_tensor.c.
 *
 * Sources: tensorflow/core/util/tensor_bundle/tensor_bundle.cc
 * (DataFilename, ReadStringTensor: string lengths are checksummed as
 * uint32 when they fit, else uint64, followed by the raw length-checksum
 * bytes and the string bytes), saved_tensor_slice_util.cc
 * (EncodeTensorNameSlice), lib/strings/ordered_code.cc. */
#include "readers/tf_bundle.h"
#include "readers/tf_crc32c.h"
#include "readers/tf_dtype.h"
#include "readers/tf_pb.h"
#include "readers/tf_table.h"
#include "tf_bundle.pb-c.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- OrderedCode (the slice keys) ---- */

struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_put(struct sbuf *s, const void *d, size_t n)
{
    if (s->oom) return;
    if (s->len + n > s->cap) {
        size_t cap = (s->len + n) * 2 + 16;
        char *q = realloc(s->p, cap);
        if (!q) {
            s->oom = 1;
            return;
        }
        s->p = q;
        s->cap = cap;
    }
    memcpy(s->p + s->len, d, n);
    s->len += n;
}

/* WriteNumIncreasing: a length byte, then the big-endian bytes. */
static void oc_num(struct sbuf *s, uint64_t v)
{
    unsigned char b[9];
    int n = 0;
    while (v) {
        b[8 - n++] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    b[8 - n] = (unsigned char)n;
    sb_put(s, b + 8 - n, (size_t)n + 1);
}

/* WriteString: 0x00 -> 00 ff, 0xff -> ff 00, then the separator 00 01. */
static void oc_string(struct sbuf *s, const char *str, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)str[i];
        if (c == 0x00) sb_put(s, "\x00\xff", 2);
        else if (c == 0xff) sb_put(s, "\xff\x00", 2);
        else sb_put(s, &c, 1);
    }
    sb_put(s, "\x00\x01", 2);
}

/* WriteSignedNumIncreasing: sign bit, unary length bits, value bits. */
static void oc_signed(struct sbuf *s, int64_t v)
{
    static const unsigned char hdr[11][2] = {{0, 0},       {0x80, 0},    {0xc0, 0}, {0xe0, 0},
                                             {0xf0, 0},    {0xf8, 0},    {0xfc, 0}, {0xfe, 0},
                                             {0xff, 0},    {0xff, 0x80}, {0xff, 0xc0}};
    uint64_t x = v < 0 ? ~(uint64_t)v : (uint64_t)v;
    if (x < 64) {
        unsigned char c = (unsigned char)(0x80 ^ (unsigned char)(v & 0xff));
        sb_put(s, &c, 1);
        return;
    }
    int bits = 64 - __builtin_clzll(x); /* floor(log2 x) + 1, 7..63 here */
    int len = bits / 7 + 1;             /* kBitsToLength: n bytes hold 7n-1 value bits */
    unsigned char buf[10];
    unsigned char sign = v < 0 ? 0xff : 0x00;
    buf[0] = buf[1] = sign;
    for (int i = 0; i < 8; i++) buf[2 + i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
    unsigned char *begin = buf + 10 - len;
    begin[0] ^= hdr[len][0];
    begin[1] ^= hdr[len][1];
    sb_put(s, begin, (size_t)len);
}

char *tf_ordered_slice_key(const char *name, int ndim, const int64_t *start, const int64_t *len,
                           size_t *outlen)
{
    struct sbuf s = {0};
    oc_num(&s, 0);
    oc_string(&s, name, strlen(name));
    oc_num(&s, (uint64_t)ndim);
    for (int d = 0; d < ndim; d++) {
        oc_signed(&s, len[d] < 0 ? 0 : start[d]);
        oc_signed(&s, len[d] < 0 ? -1 : len[d]);
    }
    sb_put(&s, "", 1); /* NUL terminator, not counted */
    if (s.oom) {
        free(s.p);
        return NULL;
    }
    *outlen = s.len - 1;
    return s.p;
}

/* ---- opening ---- */

struct open_ctx {
    tf_bundle *b;
    size_t cap;
    int have_header;
    mfs_err *e;
};

static int shape_of(const Tfpb__TensorShapeProto *sp, struct tf_entry *en, mfs_err *e)
{
    en->ndim = 0;
    en->nelems = 1;
    if (!sp) return MFS_OK;
    MFS_CHECK(!(sp->has_unknown_rank && sp->unknown_rank) && sp->n_dim <= 32, e, MFS_FATAL, EINVAL,
              -1, "entry '%s': unknown rank or more than 32 dimensions", en->key);
    if (sp->n_dim && !(en->shape = malloc(sp->n_dim * sizeof *en->shape)))
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (size_t i = 0; i < sp->n_dim; i++) {
        int64_t d = sp->dim[i]->size;
        MFS_CHECK(d >= 0, e, MFS_FATAL, EINVAL, -1, "entry '%s': dimension %zu is %lld", en->key, i,
                  (long long)d);
        en->shape[i] = (uint64_t)d;
        if (d && en->nelems > UINT64_MAX / (uint64_t)d)
            return mfs_err_set(e, MFS_FATAL, EINVAL, -1, "entry '%s': shape overflows", en->key);
        en->nelems *= (uint64_t)d;
    }
    en->ndim = (int)sp->n_dim;
    return MFS_OK;
}

static int visit(void *vctx, const unsigned char *key, size_t klen, const unsigned char *val,
                 size_t vlen, const struct tf_table_pos *pos, mfs_err *e)
{
    struct open_ctx *c = vctx;
    tf_bundle *b = c->b;
    if (!c->have_header) {
        MFS_CHECK(klen == 0, e, MFS_FATAL, EINVAL, (int64_t)pos->block_off,
                  "the first key is not the empty header key: not a tensor bundle index");
        Tfpb__BundleHeaderProto *h = tfpb__bundle_header_proto__unpack(NULL, vlen, val);
        MFS_CHECK(h, e, MFS_FATAL, EINVAL, (int64_t)pos->block_off,
                  "the bundle header (BundleHeaderProto) does not decode");
        b->num_shards = h->num_shards;
        b->big_endian = h->endianness;
        b->producer = h->version ? h->version->producer : 0;
        int ok_shards = h->num_shards >= 0 && h->num_shards <= TF_MAX_SHARDS;
        int ok_end = h->endianness == 0 || h->endianness == 1;
        tfpb__bundle_header_proto__free_unpacked(h, NULL);
        MFS_CHECK(ok_shards, e, MFS_FATAL, EINVAL, (int64_t)pos->block_off,
                  "the bundle header says %d data shards", b->num_shards);
        MFS_CHECK(ok_end, e, MFS_FATAL, EINVAL, (int64_t)pos->block_off,
                  "the bundle header has unknown endianness %d", b->big_endian);
        c->have_header = 1;
        return MFS_OK;
    }
    if (b->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct tf_entry *v = realloc(b->ents, cap * sizeof *v);
        if (!v) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        b->ents = v;
        c->cap = cap;
    }
    struct tf_entry *en = &b->ents[b->n];
    memset(en, 0, sizeof *en);
    en->key = malloc(klen + 1);
    if (!en->key) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (klen) memcpy(en->key, key, klen);
    en->key[klen] = 0;
    en->klen = klen;
    b->n++;
    en->is_slice = klen > 0 && key[0] == 0;
    Tfpb__BundleEntryProto *p = tfpb__bundle_entry_proto__unpack(NULL, vlen, val);
    MFS_CHECK(p, e, MFS_FATAL, EINVAL, (int64_t)pos->block_off,
              "entry '%s': its BundleEntryProto does not decode", en->key);
    int rc = shape_of(p->shape, en, e);
    en->dtype = p->dtype;
    en->shard = p->shard_id;
    en->offset = (uint64_t)p->offset;
    en->size = (uint64_t)p->size;
    en->crc = mfs_crc32c_unmask(p->crc32c);
    if (rc == MFS_OK && (p->offset < 0 || p->size < 0 || p->shard_id < 0 ||
                         (p->shard_id >= b->num_shards && !p->n_slices)))
        rc = mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)pos->block_off,
                         "entry '%s': shard %d, offset %lld, size %lld are invalid (%d shards)",
                         en->key, p->shard_id, (long long)p->offset, (long long)p->size,
                         b->num_shards);
    if (rc == MFS_OK && p->n_slices) {
        MFS_CHECK(p->n_slices <= 100000, e, MFS_FATAL, EINVAL, -1,
                  "entry '%s': %zu slices", en->key, p->n_slices);
        en->slices = calloc(p->n_slices, sizeof *en->slices);
        if (!en->slices) rc = mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        else en->nslices = p->n_slices;
        for (size_t s = 0; rc == MFS_OK && s < p->n_slices; s++) {
            const Tfpb__TensorSliceProto *sp = p->slices[s];
            if (sp->n_extent != (size_t)en->ndim) {
                rc = mfs_err_set(e, MFS_FATAL, EINVAL, -1,
                                 "entry '%s': slice %zu has %zu extents for %d dimensions",
                                 en->key, s, sp->n_extent, en->ndim);
                break;
            }
            for (int d = 0; d < en->ndim; d++) {
                const Tfpb__TensorSliceProto__Extent *x = sp->extent[d];
                int64_t st = x->start, ln = x->has_length ? x->length : -1;
                uint64_t dim = en->shape[d];
                if (st < 0 || (ln >= 0 && ((uint64_t)st > dim || (uint64_t)ln > dim - (uint64_t)st)) ||
                    (ln < 0 && st != 0) || ln < -1) {
                    rc = mfs_err_set(e, MFS_FATAL, EINVAL, -1,
                                     "entry '%s': slice %zu, dimension %d: extent [%lld, +%lld) "
                                     "outside [0, %llu)", en->key, s, d, (long long)st,
                                     (long long)ln, (unsigned long long)dim);
                    break;
                }
                en->slices[s].start[d] = st;
                en->slices[s].len[d] = ln;
            }
        }
    }
    tfpb__bundle_entry_proto__free_unpacked(p, NULL);
    return rc;
}

long tf_bundle_find(const tf_bundle *b, const char *key, size_t klen)
{
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct tf_entry *en = &b->ents[mid];
        int c = en->klen && klen ? memcmp(en->key, key, en->klen < klen ? en->klen : klen) : 0;
        if (!c) c = en->klen < klen ? -1 : en->klen > klen;
        if (c == 0) return (long)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

char *tf_bundle_shard_path(const tf_bundle *b, int shard)
{
    char *s = NULL;
    if (asprintf(&s, "%s.data-%05d-of-%05d", b->prefix, shard, b->num_shards) < 0) return NULL;
    return s;
}

/* Fixed-size dtypes: size must be nelems * itemsize. */
static int check_size(const struct tf_entry *en, mfs_err *e)
{
    mfs_dtype dt = tf_dtype_to_mfs(en->dtype);
    if (en->dtype == TF_DT_STRING) {
        MFS_CHECK(en->size >= en->nelems || en->nelems == 0, e, MFS_FATAL, EINVAL, -1,
                  "string entry '%s': %llu bytes cannot hold %llu elements", en->key,
                  (unsigned long long)en->size, (unsigned long long)en->nelems);
        return MFS_OK;
    }
    if (dt == MFS_DT_INVALID) return MFS_OK; /* shown as raw bytes */
    uint64_t want = mfs_dtype_nbytes(dt, en->nelems);
    MFS_CHECK(want == en->size, e, MFS_FATAL, EINVAL, -1,
              "entry '%s': %llu stored bytes, but %llu %s elements need %llu", en->key,
              (unsigned long long)en->size, (unsigned long long)en->nelems,
              mfs_dtype_get(dt)->name, (unsigned long long)want);
    return MFS_OK;
}

/* Links every partitioned entry to its slice entries and checks that they
 * tile the tensor. */
static int link_slices(tf_bundle *b, mfs_err *e)
{
    for (size_t i = 0; i < b->n; i++) {
        struct tf_entry *en = &b->ents[i];
        if (!en->nslices) continue;
        MFS_CHECK(!en->is_slice, e, MFS_FATAL, EINVAL, -1, "a slice entry is itself partitioned");
        uint64_t covered = 0;
        for (size_t s = 0; s < en->nslices; s++) {
            struct tf_slice_ref *r = &en->slices[s];
            size_t kl;
            char *k = tf_ordered_slice_key(en->key, en->ndim, r->start, r->len, &kl);
            if (!k) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            long j = tf_bundle_find(b, k, kl);
            free(k);
            MFS_CHECK(j >= 0, e, MFS_FATAL, EINVAL, -1,
                      "partitioned entry '%s': slice %zu is missing from the index", en->key, s);
            const struct tf_entry *se = &b->ents[j];
            r->entry = (size_t)j;
            uint64_t n = 1;
            int ok = se->dtype == en->dtype && se->ndim == en->ndim && !se->nslices;
            for (int d = 0; ok && d < en->ndim; d++) {
                uint64_t l = r->len[d] < 0 ? en->shape[d] : (uint64_t)r->len[d];
                ok = se->shape[d] == l;
                n *= l;
            }
            MFS_CHECK(ok, e, MFS_FATAL, EINVAL, -1,
                      "partitioned entry '%s': slice %zu has another dtype or shape", en->key, s);
            /* no two slices overlap */
            for (size_t q = 0; q < s; q++) {
                const struct tf_slice_ref *o = &en->slices[q];
                int inter = 1;
                for (int d = 0; inter && d < en->ndim; d++) {
                    uint64_t a0 = r->len[d] < 0 ? 0 : (uint64_t)r->start[d];
                    uint64_t a1 = r->len[d] < 0 ? en->shape[d] : a0 + (uint64_t)r->len[d];
                    uint64_t b0 = o->len[d] < 0 ? 0 : (uint64_t)o->start[d];
                    uint64_t b1 = o->len[d] < 0 ? en->shape[d] : b0 + (uint64_t)o->len[d];
                    inter = a0 < b1 && b0 < a1;
                }
                MFS_CHECK(!inter || n == 0, e, MFS_FATAL, EINVAL, -1,
                          "partitioned entry '%s': slices %zu and %zu overlap", en->key, q, s);
            }
            covered += n;
        }
        MFS_CHECK(covered == en->nelems, e, MFS_FATAL, EINVAL, -1,
                  "partitioned entry '%s': its slices cover %llu of %llu elements", en->key,
                  (unsigned long long)covered, (unsigned long long)en->nelems);
    }
    return MFS_OK;
}

/* Opens every shard an entry points to and checks the entry's range. */
static int open_shards(tf_bundle *b, mfs_err *e)
{
    if (b->num_shards == 0) return MFS_OK;
    b->shards = calloc((size_t)b->num_shards, sizeof *b->shards);
    if (!b->shards) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (size_t i = 0; i < b->n; i++) {
        struct tf_entry *en = &b->ents[i];
        if (en->nslices) continue; /* its slices hold the bytes */
        MFS_FORWARD(check_size(en, e));
        if (en->size == 0) continue;
        if (!b->shards[en->shard]) {
            char *path = tf_bundle_shard_path(b, en->shard);
            if (!path) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            mfs_err e2 = {0};
            b->shards[en->shard] = mfs_src_new_file(path, &e2);
            if (!b->shards[en->shard]) {
                mfs_err_set(e, MFS_FATAL, ENOENT, -1,
                            "data shard %s (needed by entry '%s') cannot be opened: %s", path,
                            en->key, e2.msg);
                free(path);
                return MFS_FATAL;
            }
            free(path);
        }
        mfs_src *s = b->shards[en->shard];
        MFS_CHECK(en->offset <= s->size && en->size <= s->size - en->offset, e, MFS_FATAL, EINVAL,
                  -1, "entry '%s': bytes [%llu, +%llu) lie beyond the end of %s (%llu bytes): "
                  "truncated data shard?", en->key, (unsigned long long)en->offset,
                  (unsigned long long)en->size, s->path, (unsigned long long)s->size);
    }
    return MFS_OK;
}

int tf_bundle_open(const char *prefix, tf_bundle **out, mfs_err *e)
{
    *out = NULL;
    tf_bundle *b = calloc(1, sizeof *b);
    if (!b) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    pthread_mutex_init(&b->keep_mu, NULL);
    b->prefix = strdup(prefix);
    if (!b->prefix || asprintf(&b->index_path, "%s.index", prefix) < 0) {
        b->index_path = NULL;
        tf_bundle_free(b);
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    mfs_src *src = mfs_src_new_file(b->index_path, e);
    if (!src) {
        tf_bundle_free(b);
        return MFS_FATAL;
    }
    tf_table *t = NULL;
    struct open_ctx c = {b, 0, 0, e};
    int rc = tf_table_open(src, &t, e);
    if (rc == MFS_OK) rc = tf_table_foreach(t, visit, &c, e);
    if (rc == MFS_OK && !c.have_header)
        rc = mfs_err_set(e, MFS_FATAL, EINVAL, -1, "empty table: no bundle header");
    if (t) b->snappy = tf_table_has_snappy(t);
    tf_table_free(t);
    mfs_src_unref(src);
    if (rc == MFS_OK) rc = link_slices(b, e);
    if (rc == MFS_OK) rc = open_shards(b, e);
    if (rc != MFS_OK) {
        const char *base = strrchr(b->index_path, '/');
        mfs_err_prefix(e, "%s", base ? base + 1 : b->index_path);
        e->status = MFS_FATAL;
        tf_bundle_free(b);
        return MFS_FATAL;
    }
    *out = b;
    return MFS_OK;
}

void tf_bundle_free(tf_bundle *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->ents[i].key);
        free(b->ents[i].shape);
        free(b->ents[i].slices);
    }
    free(b->ents);
    if (b->shards)
        for (int i = 0; i < b->num_shards; i++) mfs_src_unref(b->shards[i]);
    free(b->shards);
    for (size_t i = 0; i < b->nkeep; i++) free(b->keep[i]);
    free(b->keep);
    pthread_mutex_destroy(&b->keep_mu);
    free(b->prefix);
    free(b->index_path);
    free(b);
}

int tf_bundle_keep(tf_bundle *b, void *p)
{
    pthread_mutex_lock(&b->keep_mu);
    int rc = 0;
    if (b->nkeep == b->capkeep) {
        size_t cap = b->capkeep ? b->capkeep * 2 : 16;
        void **v = realloc(b->keep, cap * sizeof *v);
        if (v) {
            b->keep = v;
            b->capkeep = cap;
        } else {
            rc = -1;
        }
    }
    if (rc == 0) b->keep[b->nkeep++] = p;
    pthread_mutex_unlock(&b->keep_mu);
    return rc;
}

/* ---- string tensors ---- */

void tf_strings_free(struct tf_strings *s)
{
    if (!s) return;
    free(s->buf);
    free(s->off);
    free(s->len);
    memset(s, 0, sizeof *s);
}

int tf_bundle_strings(tf_bundle *b, size_t i, struct tf_strings *out, mfs_err *e)
{
    memset(out, 0, sizeof *out);
    const struct tf_entry *en = &b->ents[i];
    MFS_CHECK(en->dtype == TF_DT_STRING && !en->nslices, e, MFS_FAILED, EINVAL, -1,
              "entry '%s' is not a stored string tensor", en->key);
    MFS_CHECK(en->size <= TF_MAX_STRING_TENSOR, e, MFS_FAILED, EFBIG, -1,
              "string entry '%s' has %llu bytes (decoded at mount up to %u)", en->key,
              (unsigned long long)en->size, TF_MAX_STRING_TENSOR);
    out->crc_ok = 1;
    if (en->nelems == 0) return MFS_OK;
    mfs_src *src = b->shards[en->shard];
    MFS_CHECK(src, e, MFS_FAILED, EIO, -1, "string entry '%s' has no data", en->key);
    unsigned char *raw = mfs_src_slurp(src, en->offset, en->size, TF_MAX_STRING_TENSOR, e);
    if (!raw) return MFS_FAILED;
    out->n = (size_t)en->nelems;
    out->off = calloc(out->n, sizeof *out->off);
    out->len = calloc(out->n, sizeof *out->len);
    if (!out->off || !out->len) {
        free(raw);
        tf_strings_free(out);
        return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    }
    const unsigned char *p = raw, *end = raw + en->size;
    uint32_t crc = 0;
    uint64_t total = 0;
    int rc = MFS_OK;
    for (size_t k = 0; k < out->n && rc == MFS_OK; k++) {
        uint64_t l;
        if (tf_varint(&p, end, &l) < 0 || l > en->size) {
            rc = mfs_err_set(e, MFS_FAILED, EIO, (int64_t)en->offset,
                             "string entry '%s': length %zu is malformed", en->key, k);
            break;
        }
        out->len[k] = l;
        total += l;
        if (l <= UINT32_MAX) {
            unsigned char le[4] = {(unsigned char)l, (unsigned char)(l >> 8),
                                   (unsigned char)(l >> 16), (unsigned char)(l >> 24)};
            crc = mfs_crc32c_extend(crc, le, 4);
        } else {
            unsigned char le[8];
            for (int q = 0; q < 8; q++) le[q] = (unsigned char)(l >> (8 * q));
            crc = mfs_crc32c_extend(crc, le, 8);
        }
    }
    if (rc == MFS_OK && (end - p < 4 || total != (uint64_t)(end - p) - 4))
        rc = mfs_err_set(e, MFS_FAILED, EIO, (int64_t)en->offset,
                         "string entry '%s': %llu string bytes do not fill its %llu bytes",
                         en->key, (unsigned long long)total, (unsigned long long)en->size);
    if (rc == MFS_OK) {
        uint32_t lc = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                      (uint32_t)p[3] << 24;
        if (mfs_crc32c_unmask(lc) != crc) out->crc_ok = 0;
        crc = mfs_crc32c_extend(crc, p, 4);
        p += 4;
        crc = mfs_crc32c_extend(crc, p, (size_t)total);
        if (crc != en->crc) out->crc_ok = 0;
        uint64_t o = (uint64_t)(p - raw);
        for (size_t k = 0; k < out->n; k++) {
            out->off[k] = o;
            o += out->len[k];
        }
        out->buf = raw;
        return MFS_OK;
    }
    free(raw);
    tf_strings_free(out);
    return rc;
}
