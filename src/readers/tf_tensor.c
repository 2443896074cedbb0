/* tf_tensor.c: bundle entries as lazily read tensors, with CRC checks
 * (see tf_bundle.h for the contract).
 *
 * Identifier spaces: a *span* is the stored bytes of one bundle entry
 * (offset, size, crc32c in one data shard). A plain tensor has one span;
 * a partitioned tensor has one span per slice and maps canonical element
 * indexes of the full tensor to (span, element of the slice).
 *
 * Checksum state of a span: status -1 (unknown), 1 (matched), 0
 * (mismatch, final). While unknown, every range [a, b) read from the span
 * is added to a small sorted list of disjoint covered intervals, each with
 * the CRC of its bytes; touching intervals are merged with
 * mfs_crc32c_combine; when one interval covers the span its CRC is
 * compared with the stored one. The CRC of a read is computed outside the
 * span's lock; only the interval bookkeeping is under it. Spans of at
 * most TF_VERIFY_WHOLE bytes are checked whole on first read instead, so
 * a corrupt small tensor never returns a byte.
 *
 * Memory at mount: a span is small (the interval list is allocated on the
 * first partial read and handed to the bundle, tf_bundle_keep(), which
 * frees it), and info.json's fields are made when info.json is (info_fn),
 * not stored per tensor: a checkpoint of many variables mounts without
 * touching kilobytes per tensor. */
#include "readers/tf_bundle.h"
#include "readers/tf_crc32c.h"
#include "readers/tf_dtype.h"
#include "readers/tf_text.h"
#include "core/log.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TF_CRC_IV 16

struct tf_span {
    mfs_src *src;
    uint64_t base, size;
    const char *key;      /* bundle-owned, for messages */
    pthread_mutex_t mu;
    int status;           /* -1 unknown, 1 matched, 0 mismatch */
    uint32_t want;        /* stored (unmasked) CRC */
    uint32_t got;         /* computed, once known */
    int n;
    struct tf_iv { uint64_t a, b; uint32_t c; } *iv; /* TF_CRC_IV + 1, on first use */
    tf_bundle *owner;     /* keeps iv (tf_bundle_keep) */
};

struct tf_tctx {
    const tf_bundle *b;
    const struct tf_entry *en;          /* the bundle entry (outlives the tree) */
    unsigned isz;
    int swap;
    int complex;   /* complex64/128: byte-swapped per half */
    int ndim;
    const uint64_t *shape;              /* the bundle entry's (outlives the tree) */
    uint64_t nelems;
    size_t nspans;
    struct tf_span *spans;
    const struct tf_slice_ref *slices; /* partitioned: geometry of spans[k] */
    int *jdim;                          /* partitioned: see run_of() */
};

static int tf_read(const mfs_tensor *t, uint64_t off, void *buf, size_t len, mfs_err *e);

static void set_status(struct tf_span *s, int ok, uint32_t got)
{
    s->status = ok;
    s->got = got;
    if (!ok)
        mfs_log("%s: tensor '%s': crc32c mismatch (stored 0x%08x, computed 0x%08x): the data "
                "is corrupt, reads of it fail with EIO", s->src ? s->src->path : "?", s->key,
                s->want, got);
}

/* Checks the whole span now. 1 matched, 0 mismatch, -1 read error. */
static int verify_span(struct tf_span *s)
{
    pthread_mutex_lock(&s->mu);
    int st = s->status;
    pthread_mutex_unlock(&s->mu);
    if (st >= 0) return st;
    size_t chunk = 1u << 20;
    unsigned char *tmp = malloc(s->size < chunk ? (size_t)s->size + 1 : chunk);
    if (!tmp) return -1;
    uint32_t crc = 0;
    for (uint64_t o = 0; o < s->size;) {
        size_t n = s->size - o < chunk ? (size_t)(s->size - o) : chunk;
        mfs_err e2 = {0};
        if (mfs_src_read_exact(s->src, tmp, n, s->base + o, &e2) != MFS_OK) {
            free(tmp);
            return -1;
        }
        crc = mfs_crc32c_extend(crc, tmp, n);
        o += n;
    }
    free(tmp);
    pthread_mutex_lock(&s->mu);
    if (s->status < 0) set_status(s, crc == s->want, crc);
    st = s->status;
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* Inserts [a, b) with CRC c into the sorted disjoint list and merges it
 * with touching neighbours; a range that would make the list longer than
 * TF_CRC_IV is dropped (not tracked). Caller holds the lock and checked
 * that [a, b) overlaps nothing. */
static void iv_remove(struct tf_span *s, int i)
{
    memmove(&s->iv[i], &s->iv[i + 1], (size_t)(s->n - i - 1) * sizeof s->iv[0]);
    s->n--;
}

static void iv_insert(struct tf_span *s, uint64_t a, uint64_t b, uint32_t c)
{
    int i = 0;
    while (i < s->n && s->iv[i].a < a) i++;
    memmove(&s->iv[i + 1], &s->iv[i], (size_t)(s->n - i) * sizeof s->iv[0]);
    s->iv[i].a = a;
    s->iv[i].b = b;
    s->iv[i].c = c;
    s->n++;
    if (i + 1 < s->n && s->iv[i].b == s->iv[i + 1].a) {
        s->iv[i].c = mfs_crc32c_combine(s->iv[i].c, s->iv[i + 1].c, s->iv[i + 1].b - s->iv[i + 1].a);
        s->iv[i].b = s->iv[i + 1].b;
        iv_remove(s, i + 1);
    }
    if (i > 0 && s->iv[i - 1].b == s->iv[i].a) {
        s->iv[i - 1].c = mfs_crc32c_combine(s->iv[i - 1].c, s->iv[i].c, s->iv[i].b - s->iv[i].a);
        s->iv[i - 1].b = s->iv[i].b;
        iv_remove(s, i);
    } else if (s->n > TF_CRC_IV) {
        iv_remove(s, i);
    }
    if (s->n == 1 && s->iv[0].a == 0 && s->iv[0].b == s->size)
        set_status(s, s->iv[0].c == s->want, s->iv[0].c);
}

/* Feeds stored bytes [a, a+n) (at @data) into the span's checksum state.
 * @return the status afterwards. */
static int track(struct tf_span *s, uint64_t a, const unsigned char *data, size_t n)
{
    if (!n) return s->status;
    uint32_t c = mfs_crc32c(data, n);
    uint64_t b = a + n;
    pthread_mutex_lock(&s->mu);
    if (s->status < 0 && !s->iv) {
        /* not tracked when this fails: info.json checks the whole span */
        s->iv = malloc((TF_CRC_IV + 1) * sizeof *s->iv);
        if (s->iv && tf_bundle_keep(s->owner, s->iv) < 0) {
            free(s->iv);
            s->iv = NULL;
        }
    }
    if (s->status < 0 && s->iv) {
        int overlap = 0;
        for (int i = 0; i < s->n && !overlap; i++) overlap = s->iv[i].a < b && a < s->iv[i].b;
        if (!overlap) {
            iv_insert(s, a, b, c);
        } else {
            /* add the parts of [a, b) no interval covers yet */
            uint64_t gaps[TF_CRC_IV + 2][2];
            int ng = 0;
            uint64_t cur = a;
            for (int i = 0; i < s->n && cur < b; i++) {
                if (s->iv[i].b <= cur) continue;
                if (s->iv[i].a >= b) break;
                if (s->iv[i].a > cur) {
                    gaps[ng][0] = cur;
                    gaps[ng++][1] = s->iv[i].a;
                }
                cur = s->iv[i].b;
            }
            if (cur < b) {
                gaps[ng][0] = cur;
                gaps[ng++][1] = b;
            }
            for (int g = 0; g < ng && s->status < 0; g++)
                iv_insert(s, gaps[g][0], gaps[g][1],
                          mfs_crc32c(data + (gaps[g][0] - a), (size_t)(gaps[g][1] - gaps[g][0])));
        }
    }
    int st = s->status;
    pthread_mutex_unlock(&s->mu);
    return st;
}

static int corrupt(const struct tf_span *s, mfs_err *e)
{
    return mfs_err_set(e, MFS_FAILED, EIO, -1,
                       "tensor '%s': crc32c mismatch (stored 0x%08x, computed 0x%08x)", s->key,
                       s->want, s->got);
}

static void swap_elems(unsigned char *p, size_t n, unsigned isz)
{
    for (size_t i = 0; i < n; i++, p += isz)
        for (unsigned a = 0, b = isz - 1; a < b; a++, b--) {
            unsigned char c = p[a];
            p[a] = p[b];
            p[b] = c;
        }
}

/* Canonical bytes [off, off+len) of span @s (off+len <= size). */
static int read_span(const struct tf_tctx *c, struct tf_span *s, uint64_t off, unsigned char *buf,
                     size_t len, mfs_err *e)
{
    if (__atomic_load_n(&s->status, __ATOMIC_ACQUIRE) == 0) return corrupt(s, e);
    if (s->size <= TF_VERIFY_WHOLE && s->status < 0) {
        int st = verify_span(s);
        if (st == 0) return corrupt(s, e);
        if (st < 0)
            return mfs_err_set(e, MFS_FAILED, EIO, -1, "tensor '%s': cannot read %s", s->key,
                               s->src->path);
    }
    if (!c->swap) {
        MFS_FORWARD(mfs_src_read_exact(s->src, buf, len, s->base + off, e));
        if (track(s, off, buf, len) == 0) return corrupt(s, e);
        return MFS_OK;
    }
    uint64_t a = off - off % c->isz, b = off + len;
    if (b % c->isz) b += c->isz - b % c->isz;
    unsigned char *tmp = malloc((size_t)(b - a));
    if (!tmp) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    int rc = mfs_src_read_exact(s->src, tmp, (size_t)(b - a), s->base + a, e);
    if (rc == MFS_OK && track(s, a, tmp, (size_t)(b - a)) == 0) rc = corrupt(s, e);
    if (rc == MFS_OK) {
        /* complex numbers swap each of their two halves */
        unsigned unit = c->complex ? c->isz / 2 : c->isz;
        swap_elems(tmp, (size_t)((b - a) / unit), unit);
        memcpy(buf, tmp + (off - a), len);
    }
    free(tmp);
    return rc;
}

/* Partitioned tensors. For slice k, jdim[k] is the smallest dimension j
 * such that the slice covers every dimension after j whole: from element
 * idx, the elements up to the slice's end in dimension j (and everything
 * after it) are consecutive both in the full tensor and in the slice. */
static uint64_t sl_start(const struct tf_slice_ref *r, int d)
{
    return r->len[d] < 0 ? 0 : (uint64_t)r->start[d];
}
static uint64_t sl_len(const struct tf_tctx *c, const struct tf_slice_ref *r, int d)
{
    return r->len[d] < 0 ? c->shape[d] : (uint64_t)r->len[d];
}

static int read_sliced(const struct tf_tctx *c, uint64_t off, unsigned char *buf, size_t len,
                       mfs_err *e)
{
    uint64_t pos = off, end = off + len;
    size_t hint = 0;
    while (pos < end) {
        uint64_t el = pos / c->isz, within = pos % c->isz, idx[32], rem = el;
        for (int d = c->ndim - 1; d >= 0; d--) {
            idx[d] = rem % c->shape[d];
            rem /= c->shape[d];
        }
        size_t k = c->nspans;
        for (size_t q = 0; q < c->nspans; q++) {
            size_t s = (hint + q) % c->nspans;
            const struct tf_slice_ref *r = &c->slices[s];
            int in = 1;
            for (int d = 0; in && d < c->ndim; d++)
                in = idx[d] >= sl_start(r, d) && idx[d] < sl_start(r, d) + sl_len(c, r, d);
            if (in) {
                k = s;
                break;
            }
        }
        if (k == c->nspans)
            return mfs_err_set(e, MFS_FAILED, EIO, -1, "no slice holds element %llu",
                               (unsigned long long)el);
        hint = k;
        const struct tf_slice_ref *r = &c->slices[k];
        int j = c->jdim[k];
        uint64_t run, stride = 1, local = 0;
        if (j < 0) {
            run = c->nelems - el;
        } else {
            for (int d = c->ndim - 1; d > j; d--) {
                local += idx[d] * stride;
                stride *= c->shape[d];
            }
            run = (sl_start(r, j) + sl_len(c, r, j) - idx[j]) * stride - local;
        }
        uint64_t li = 0, ss = 1; /* element index inside the slice */
        for (int d = c->ndim - 1; d >= 0; d--) {
            li += (idx[d] - sl_start(r, d)) * ss;
            ss *= sl_len(c, r, d);
        }
        uint64_t n = run * c->isz - within;
        if (n > end - pos) n = end - pos;
        MFS_FORWARD(read_span(c, &c->spans[k], li * c->isz + within, buf + (pos - off), (size_t)n, e));
        pos += n;
    }
    return MFS_OK;
}

static int tf_read(const mfs_tensor *t, uint64_t off, void *buf, size_t len, mfs_err *e)
{
    const struct tf_tctx *c = t->read_ctx;
    if (c->slices) return read_sliced(c, off, buf, len, e);
    return read_span(c, &c->spans[0], off, buf, len, e);
}

int tf_tensor_verify(const mfs_tensor *t)
{
    if (t->enc != MFS_ENC_CUSTOM || t->read != tf_read) return -1;
    const struct tf_tctx *c = t->read_ctx;
    int all = 1;
    for (size_t k = 0; k < c->nspans; k++) {
        int st = verify_span(&c->spans[k]);
        if (st == 0) return 0;
        if (st < 0) all = -1;
    }
    return all;
}

int tf_tensor_crc_status(const mfs_tensor *t)
{
    if (t->enc != MFS_ENC_CUSTOM || t->read != tf_read) return -1;
    const struct tf_tctx *c = t->read_ctx;
    int all = 1;
    for (size_t k = 0; k < c->nspans; k++) {
        int st = __atomic_load_n(&c->spans[k].status, __ATOMIC_ACQUIRE);
        if (st == 0) return 0;
        if (st < 0) all = -1;
    }
    return all;
}

static json_t *span_json(const tf_bundle *b, const struct tf_entry *en, int with_file);

/* info.json: the entry (key, TF dtype, shard, offset, stored bytes and
 * crc32c: made here rather than stored per tensor) and whether the stored
 * CRC matched, as "crc32c_check": "matched", "corrupt" or "unknown"
 * (unreadable): three words of the same length, so that info.json's size
 * (@sizing: getattr, readdirplus, which must not read 4 GiB) is known
 * without checking; the check itself runs over the whole tensor when
 * info.json's content is read, unless reads of the data already settled
 * it. Partitioned tensors keep their (rarer, larger) description in
 * t->info. */
static json_t *info_fn(const mfs_tensor *t, int sizing)
{
    const struct tf_tctx *c = t->read_ctx;
    int st = sizing ? tf_tensor_crc_status(t) : tf_tensor_verify(t);
    json_t *o = json_object();
    if (!c->slices) {
        json_object_set_new(o, "key", tf_json_bytes(c->en->key, c->en->klen));
        json_object_set_new(o, "tf_dtype", json_integer(c->en->dtype));
        if (c->swap) json_object_set_new(o, "byte_order", json_string("big-endian (swapped)"));
        json_object_update_new(o, span_json(c->b, c->en, 0));
    }
    json_object_set_new(o, "crc32c_check", json_string(st > 0 ? "matched" : st == 0 ? "corrupt" : "unknown"));
    return o;
}

static void span_init(struct tf_span *s, tf_bundle *b, const struct tf_entry *en)
{
    pthread_mutex_init(&s->mu, NULL);
    s->owner = b;
    s->src = en->size ? b->shards[en->shard] : NULL;
    s->base = en->offset;
    s->size = en->size;
    s->key = en->key;
    s->want = en->crc;
    s->status = -1;
    if (en->size == 0) set_status(s, en->crc == 0, 0);
}

static json_t *span_json(const tf_bundle *b, const struct tf_entry *en, int with_file)
{
    json_t *o = json_object();
    char crc[16];
    snprintf(crc, sizeof crc, "0x%08x", en->crc);
    json_object_set_new(o, "shard", json_integer(en->shard));
    if (en->size && with_file) json_object_set_new(o, "file", json_string(b->shards[en->shard]->path));
    json_object_set_new(o, "offset", json_integer((json_int_t)en->offset));
    json_object_set_new(o, "stored_bytes", json_integer((json_int_t)en->size));
    json_object_set_new(o, "crc32c", json_string(crc));
    return o;
}

int tf_bundle_tensor(tf_bundle *b, mfs_tree *t, size_t i, mfs_tensor **out, mfs_err *e)
{
    *out = NULL;
    const struct tf_entry *en = &b->ents[i];
    mfs_dtype dt = tf_dtype_to_mfs(en->dtype);
    if (dt == MFS_DT_INVALID || en->is_slice) return MFS_WARN;
    mfs_tensor *tn = mfs_tree_tensor_new(t);
    size_t nsp = en->nslices ? en->nslices : 1;
    struct tf_tctx *c = mfs_tree_alloc(t, sizeof *c);
    struct tf_span *spans = mfs_tree_alloc(t, nsp * sizeof *spans);
    int *jdim = en->nslices ? mfs_tree_alloc(t, nsp * sizeof *jdim) : NULL;
    if (!tn || !c || !spans || (en->nslices && !jdim))
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    tn->dtype = dt;
    MFS_FORWARD(mfs_tensor_set_shape(tn, en->ndim, en->shape, e));
    c->isz = mfs_dtype_get(dt)->itemsize;
    c->swap = b->big_endian && c->isz > 1;
    c->complex = mfs_dtype_get(dt)->kind == MFS_DK_COMPLEX;
    c->ndim = en->ndim;
    c->shape = en->shape;
    c->nelems = en->nelems;
    c->nspans = nsp;
    c->spans = spans;
    c->b = b;
    c->en = en;
    json_t *info = NULL;
    if (!en->nslices) {
        span_init(&spans[0], b, en);
    } else {
        info = json_object();
        json_object_set_new(info, "key", tf_json_bytes(en->key, en->klen));
        json_object_set_new(info, "tf_dtype", json_integer(en->dtype));
        if (c->swap) json_object_set_new(info, "byte_order", json_string("big-endian (swapped)"));
        c->slices = en->slices;
        c->jdim = jdim;
        json_t *arr = json_array();
        for (size_t k = 0; k < nsp; k++) {
            const struct tf_slice_ref *r = &en->slices[k];
            const struct tf_entry *se = &b->ents[r->entry];
            span_init(&spans[k], b, se);
            int j = -1;
            for (int d = en->ndim - 1; d >= 0; d--)
                if (sl_start(r, d) != 0 || sl_len(c, r, d) != en->shape[d]) {
                    j = d;
                    break;
                }
            jdim[k] = j;
            json_t *so = span_json(b, se, 1), *st = json_array(), *ln = json_array();
            for (int d = 0; d < en->ndim; d++) {
                json_array_append_new(st, json_integer((json_int_t)sl_start(r, d)));
                json_array_append_new(ln, json_integer((json_int_t)sl_len(c, r, d)));
            }
            json_object_set_new(so, "start", st);
            json_object_set_new(so, "length", ln);
            json_array_append_new(arr, so);
        }
        json_object_set_new(info, "partitioned", json_true());
        json_object_set_new(info, "slices", arr);
    }
    tn->info = info;
    tn->info_fn = info_fn;
    mfs_tensor_set_custom(tn, tf_read, c, spans[0].src, NULL);
    *out = tn;
    return MFS_OK;
}
