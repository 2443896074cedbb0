/* decomp.c: a byte source over the decompressed bytes of a compressed
 * stream held in another source (API in decomp.h).
 *
 * How it works. mfs_decomp_open() decodes the whole stream once, keeping
 * nothing but (1) the decompressed size and (2) restart points
 * ("checkpoints": compressed offset, decompressed offset, codec state and,
 * where the codec needs it, the window of output that precedes). A read
 * of [a, b) is served from a small LRU cache of decompressed chunks
 * (CHUNK bytes each); a missing chunk is produced by a live decoder (a
 * "cursor") already positioned at or before it, or by a new decoder
 * started at the nearest checkpoint before it, decoding and discarding up
 * to the chunk. Sequential reads (cat, sha256sum, the pickle parser) thus
 * decode each byte once; a random read decodes at most `spacing` bytes
 * more than it needs for formats with fine restart points.
 *
 * Restart granularity per codec (decomp_codecs.c, decomp_lz4.c):
 *   zlib, gzip, zf  any deflate block boundary (zran.c style: inflatePrime
 *                   + 32 KiB window), kept every `spacing` output bytes;
 *                   gzip members / concatenated zlib streams: no window.
 *   lz4             any block (64 KiB window when blocks are linked, none
 *                   when independent), every `spacing` bytes.
 *   zstd            frame starts (zstd CLI and python-zstandard write one
 *                   frame unless asked otherwise).
 *   bz2, xz         stream starts (bz2 blocks are bit-aligned, xz blocks
 *                   would need the index; joblib writes one stream).
 *   lzma (alone)    the start only.
 * With one stream, a backwards random read in bz2/xz/lzma/zstd re-decodes
 * from the start; the cursors make forward and sequential reads cheap.
 *
 * Memory bound per source: at most MAX_CP checkpoints (when exceeded,
 * every other one is dropped and the spacing doubles), each with a window
 * of <= 64 KiB (lz4) or 32 KiB (zlib): <= 8 MiB; NCACHE chunks of CHUNK
 * bytes: 4 MiB; NCUR cursors, each a codec state (zlib ~45 KiB, bz2 <=
 * 3.7 MiB, lz4 <= 8.1 MiB, zstd <= window (<= 128 MiB, zstd's default
 * limit), xz/lzma <= dictionary, capped by XZ_MEMLIMIT) plus a 64 KiB input
 * buffer. The scan itself uses one decoder and a 256 KiB ring.
 *
 * Thread safety: one mutex per source around every read (decoding is
 * sequential by nature). */
#include "core/decomp_int.h"
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>

#define CHUNK (256u * 1024u)
#define NCACHE 16
#define NCUR 2
#define MAX_CP 128
#define FIRST_SPACING (1u << 20)
#define RING (256u * 1024u)
#define XZ_MEMLIMIT ((uint64_t)512 << 20)

static uint64_t default_max_out = (uint64_t)1 << 40;
static uint64_t first_spacing = FIRST_SPACING;

void mfs_decomp_tune(uint64_t max_out, uint64_t spacing)
{
    if (max_out) default_max_out = max_out;
    if (spacing) first_spacing = spacing;
}

/* ---- detection ---- */

enum mfs_decomp_kind mfs_decomp_detect(const void *head, size_t len)
{
    const unsigned char *p = head;
    if (len >= 6 && memcmp(p, "\xFD" "7zXZ\0", 6) == 0) return MFS_DECOMP_XZ;
    if (len >= 4 && memcmp(p, "\x04\x22\x4D\x18", 4) == 0) return MFS_DECOMP_LZ4;
    if (len >= 4 && memcmp(p, "\x28\xB5\x2F\xFD", 4) == 0) return MFS_DECOMP_ZSTD;
    if (len >= 4 && memcmp(p, "BZh", 3) == 0 && p[3] >= '1' && p[3] <= '9') return MFS_DECOMP_BZ2;
    if (len >= 3 && p[0] == 0x1F && p[1] == 0x8B && p[2] == 8) return MFS_DECOMP_GZIP;
    /* zlib: CM 8, CINFO <= 7, (CMF*256 + FLG) % 31 == 0, no preset dict */
    if (len >= 2 && (p[0] & 0x0F) == 8 && (p[0] >> 4) <= 7 && ((p[0] << 8) | p[1]) % 31 == 0 &&
        !(p[1] & 0x20))
        return MFS_DECOMP_ZLIB;
    /* joblib <= 0.9: "ZF" + hex length padded to 19, then a zlib stream */
    if (len >= 23 && p[0] == 'Z' && p[1] == 'F' && p[2] == '0' && p[3] == 'x') {
        size_t z = p[21] == ' ' ? 22 : 21;
        if ((p[z] & 0x0F) == 8 && ((p[z] << 8) | p[z + 1]) % 31 == 0) return MFS_DECOMP_ZF;
    }
    /* lzma_alone: properties byte (lc+lp*9+pb*45 < 225; Python writes 0x5D),
     * dictionary size (u32, 2^n or 2^n+2^(n-1)), then the size (u64, or
     * all ones). We accept the common 5D 00 00 prefix plus a sane size. */
    if (len >= 13 && p[0] == 0x5D && p[1] == 0 && p[2] == 0) {
        uint64_t us = 0;
        for (int i = 12; i >= 5; i--) us = us << 8 | p[i];
        if (us == UINT64_MAX || us < ((uint64_t)1 << 48)) return MFS_DECOMP_LZMA;
    }
    return MFS_DECOMP_NONE;
}

const char *mfs_decomp_name(enum mfs_decomp_kind k)
{
    static const char *const names[MFS_DECOMP__COUNT] = {
        "none", "zlib", "gzip", "bz2", "xz", "lzma", "lz4", "zstd", "zf"};
    return (unsigned)k < MFS_DECOMP__COUNT ? names[k] : "none";
}

int mfs_decomp_bits(enum mfs_decomp_kind k)
{
    static const int bits[MFS_DECOMP__COUNT] = {0, 16, 24, 32, 48, 24, 32, 32, 16};
    return (unsigned)k < MFS_DECOMP__COUNT ? bits[k] : 0;
}

/* ---- decoders ---- */

static const struct dcodec *codec_of(enum mfs_decomp_kind k)
{
    switch (k) {
    case MFS_DECOMP_ZLIB: case MFS_DECOMP_GZIP: case MFS_DECOMP_ZF: return &mfs_dcodec_zlib;
    case MFS_DECOMP_BZ2: return &mfs_dcodec_bz2;
    case MFS_DECOMP_XZ: case MFS_DECOMP_LZMA: return &mfs_dcodec_xz;
    case MFS_DECOMP_LZ4: return &mfs_dcodec_lz4;
    case MFS_DECOMP_ZSTD: return &mfs_dcodec_zstd;
    default: return NULL;
    }
}

/* Frees a decoder; accepts NULL. */
static void dec_free(struct dec *d)
{
    if (!d) return;
    if (d->codec) d->codec->end(d);
    free(d->own);
    free(d);
}

/* Initialises @d (zeroed by the caller) at checkpoint @cp. @d->in or
 * @d->mem, base and clen must be set. MFS_OK or MFS_FAILED with @e set
 * (call codec->end anyway: dec_free does). */
static int dec_start(struct dec *d, enum mfs_decomp_kind k, const struct dcp *cp, mfs_err *e)
{
    d->codec = codec_of(k);
    d->kind = k == MFS_DECOMP_ZF ? MFS_DECOMP_ZLIB : k;
    d->out = cp->out;
    d->memlimit = XZ_MEMLIMIT;
    d->nstreams = cp->in > 0 || cp->out > 0 || cp->flags;
    if (!d->ibuf) d->ibuf = (const unsigned char *)""; /* never NULL + 0 */
    return d->codec->begin(d, cp, e);
}

/* A heap decoder over [base, base+clen) of @in at @cp; NULL with @e set. */
static struct dec *dec_new(mfs_src *in, uint64_t base, uint64_t clen, enum mfs_decomp_kind k,
                           const struct dcp *cp, mfs_err *e)
{
    struct dec *d = calloc(1, sizeof *d);
    if (!d || !(d->own = malloc(DEC_INBUF))) {
        free(d);
        mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        return NULL;
    }
    d->in = in;
    d->base = base;
    d->clen = clen;
    if (dec_start(d, k, cp, e) != MFS_OK) {
        dec_free(d);
        return NULL;
    }
    return d;
}

/* ---- the source ---- */

struct chunk {
    uint64_t idx;      /* chunk number, UINT64_MAX when empty */
    size_t len;
    uint64_t used;     /* LRU tick */
    unsigned char *buf;
};

struct dsrc {
    pthread_mutex_t mu;
    enum mfs_decomp_kind kind;
    mfs_src *in;
    uint64_t base, clen, size;
    struct dcp *cps;
    size_t ncp;
    uint64_t spacing;
    struct dec *cur[NCUR];
    uint64_t cur_used[NCUR];
    struct chunk cache[NCACHE];
    uint64_t tick;
    uint64_t restarts, decoded;
};

static void dsrc_free(struct dsrc *s)
{
    if (!s) return;
    for (int i = 0; i < NCUR; i++) dec_free(s->cur[i]);
    for (int i = 0; i < NCACHE; i++) free(s->cache[i].buf);
    for (size_t i = 0; i < s->ncp; i++) free(s->cps[i].win);
    free(s->cps);
    mfs_src_unref(s->in);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* The last checkpoint at or before decompressed offset @off. */
static const struct dcp *cp_before(const struct dsrc *s, uint64_t off)
{
    size_t lo = 0, hi = s->ncp; /* cps[0].out == 0 <= off */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (s->cps[mid].out <= off) lo = mid;
        else hi = mid;
    }
    return &s->cps[lo];
}

/* Decodes and discards until cursor @d is at @target, using @scratch. */
static int dec_skip(struct dsrc *s, struct dec *d, uint64_t target, unsigned char *scratch, mfs_err *e)
{
    while (d->out < target) {
        uint64_t want = target - d->out;
        size_t got;
        if (d->codec->run(d, scratch, want < CHUNK ? (size_t)want : CHUNK, &got, NULL, e) != MFS_OK)
            return MFS_FAILED;
        s->decoded += got;
        if (got == 0)
            return mfs_err_set(e, MFS_FAILED, EIO, -1, "%s stream ends before byte %llu",
                               mfs_decomp_name(s->kind), (unsigned long long)target);
    }
    return MFS_OK;
}

/* Produces chunk @ci into a cache slot. @return the slot or NULL (@e). */
static struct chunk *produce(struct dsrc *s, uint64_t ci, mfs_err *e)
{
    uint64_t target = ci * CHUNK;
    size_t want = s->size - target < CHUNK ? (size_t)(s->size - target) : CHUNK;
    struct chunk *slot = NULL; /* an empty slot, else the least recently used */
    for (int i = 0; i < NCACHE && !(slot && slot->idx == UINT64_MAX); i++)
        if (!slot || s->cache[i].idx == UINT64_MAX || s->cache[i].used < slot->used) slot = &s->cache[i];
    if (!slot->buf && !(slot->buf = malloc(CHUNK))) {
        mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        return NULL;
    }
    slot->idx = UINT64_MAX;

    /* the best cursor: the furthest one not past the target */
    int best = -1;
    for (int i = 0; i < NCUR; i++)
        if (s->cur[i] && s->cur[i]->out <= target && (best < 0 || s->cur[i]->out > s->cur[best]->out))
            best = i;
    const struct dcp *cp = cp_before(s, target);
    if (best < 0 || s->cur[best]->out < cp->out) {
        int victim = 0;
        for (int i = 0; i < NCUR; i++) {
            if (!s->cur[i]) { victim = i; break; }
            if (s->cur_used[i] < s->cur_used[victim]) victim = i;
        }
        dec_free(s->cur[victim]);
        s->cur[victim] = dec_new(s->in, s->base, s->clen, s->kind, cp, e);
        if (!s->cur[victim]) return NULL;
        s->restarts++;
        best = victim;
    }
    struct dec *d = s->cur[best];
    s->cur_used[best] = ++s->tick;
    int st = dec_skip(s, d, target, slot->buf, e);
    size_t n = 0;
    while (st == MFS_OK && n < want) {
        size_t got;
        st = d->codec->run(d, slot->buf + n, want - n, &got, NULL, e);
        if (st == MFS_OK && got == 0)
            st = mfs_err_set(e, MFS_FAILED, EIO, -1, "%s stream ends early", mfs_decomp_name(s->kind));
        n += got;
        s->decoded += got;
    }
    if (st != MFS_OK) {
        dec_free(d);
        s->cur[best] = NULL;
        return NULL;
    }
    slot->idx = ci;
    slot->len = want;
    slot->used = ++s->tick;
    return slot;
}

static int64_t dsrc_pread(mfs_src *src, void *buf, size_t len, uint64_t off, mfs_err *e)
{
    struct dsrc *s = src->ctx;
    if (off >= s->size || len == 0) return 0;
    if (len > s->size - off) len = (size_t)(s->size - off);
    pthread_mutex_lock(&s->mu);
    size_t done = 0;
    while (done < len) {
        uint64_t at = off + done, ci = at / CHUNK;
        struct chunk *c = NULL;
        for (int i = 0; i < NCACHE; i++)
            if (s->cache[i].idx == ci) { c = &s->cache[i]; break; }
        if (!c && !(c = produce(s, ci, e))) {
            pthread_mutex_unlock(&s->mu);
            return -1;
        }
        c->used = ++s->tick;
        size_t in = (size_t)(at - ci * CHUNK), k = c->len - in;
        if (k > len - done) k = len - done;
        memcpy((unsigned char *)buf + done, c->buf + in, k);
        done += k;
    }
    pthread_mutex_unlock(&s->mu);
    return (int64_t)done;
}

static void dsrc_close(mfs_src *src) { dsrc_free(src->ctx); }

static const struct mfs_src_ops dsrc_ops = {dsrc_pread, dsrc_close};

/* ---- the scan ---- */

/* Keeps every other checkpoint (cps[0] stays) and doubles the spacing. */
static void thin(struct dsrc *s)
{
    size_t j = 0;
    for (size_t i = 0; i < s->ncp; i++) {
        if (i % 2 == 0) s->cps[j++] = s->cps[i];
        else free(s->cps[i].win);
    }
    s->ncp = j;
    s->spacing *= 2;
}

/* Records a checkpoint at @b (output so far @out, the last output in
 * @ring ending at @rpos). MFS_OK or MFS_FAILED (OOM). */
static int add_cp(struct dsrc *s, const struct dbound *b, uint64_t out, const unsigned char *ring,
                  size_t rpos, mfs_err *e)
{
    if (s->ncp == MAX_CP) thin(s);
    if (out - s->cps[s->ncp - 1].out < s->spacing) return MFS_OK;
    struct dcp *c = &s->cps[s->ncp];
    memset(c, 0, sizeof *c);
    c->in = b->in;
    c->out = out;
    c->bits = b->bits;
    c->flags = b->flags;
    uint32_t w = b->wlen;
    if (w > out) w = (uint32_t)out;
    if (w > RING) w = RING;
    if (w) {
        if (!(c->win = malloc(w))) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        if (rpos >= w) {
            memcpy(c->win, ring + rpos - w, w);
        } else {
            size_t tail = w - rpos;
            memcpy(c->win, ring + RING - tail, tail);
            memcpy(c->win + tail, ring, rpos);
        }
    }
    c->wlen = w;
    s->ncp++;
    return MFS_OK;
}

/* Decodes everything once: size and checkpoints. */
static int scan(struct dsrc *s, uint64_t max_out, mfs_err *e)
{
    int st = MFS_FAILED;
    unsigned char *ring = malloc(RING);
    struct dec *d = dec_new(s->in, s->base, s->clen, s->kind, &s->cps[0], e);
    if (!ring || !d) {
        if (!ring) mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        goto out;
    }
    size_t rpos = 0;
    uint64_t out = 0;
    for (;;) {
        struct dbound b = {0};
        size_t got;
        if (d->codec->run(d, ring + rpos, RING - rpos, &got, &b, e) != MFS_OK) goto out;
        out += got;
        rpos += got;
        if (rpos == RING) rpos = 0;
        if (out > max_out) {
            mfs_err_set(e, MFS_FAILED, EFBIG, -1,
                        "%s stream decompresses to more than %llu bytes (limit)",
                        mfs_decomp_name(s->kind), (unsigned long long)max_out);
            goto out;
        }
        if (b.at) {
            if (add_cp(s, &b, out, ring, rpos, e) != MFS_OK) goto out;
        } else if (got == 0) {
            if (d->eof) break;
            mfs_err_set(e, MFS_FAILED, EIO, -1, "%s decoder made no progress", mfs_decomp_name(s->kind));
            goto out;
        }
    }
    s->size = out;
    st = MFS_OK;
out:
    dec_free(d);
    free(ring);
    return st;
}

mfs_src *mfs_decomp_open(mfs_src *in, uint64_t off, uint64_t len, enum mfs_decomp_kind k,
                         uint64_t max_out, mfs_err *e)
{
    if (!codec_of(k)) {
        mfs_err_set(e, MFS_FATAL, EINVAL, -1, "unknown compression kind %d", (int)k);
        return NULL;
    }
    if (off > in->size || len > in->size - off) {
        mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)off, "compressed range outside the file");
        return NULL;
    }
    if (k == MFS_DECOMP_ZF) {
        /* "ZF" + 19 characters of hex length; joblib <= 0.8.4 under
         * Python 2 wrote one more character, then a space. */
        unsigned char h[22];
        if (len < 23 || mfs_src_read_exact(in, h, 22, off, e) != MFS_OK) {
            mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)off, "truncated joblib ZF header");
            return NULL;
        }
        size_t skip = h[21] == ' ' ? 22 : 21;
        off += skip;
        len -= skip;
    }
    struct dsrc *s = calloc(1, sizeof *s);
    if (!s || !(s->cps = calloc(MAX_CP + 1, sizeof *s->cps))) {
        free(s);
        mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->kind = k;
    s->in = mfs_src_ref(in);
    s->base = off;
    s->clen = len;
    s->ncp = 1; /* cps[0]: the start */
    s->spacing = first_spacing;
    for (int i = 0; i < NCACHE; i++) s->cache[i].idx = UINT64_MAX;
    if (scan(s, max_out ? max_out : default_max_out, e) != MFS_OK) {
        e->status = MFS_FATAL;
        dsrc_free(s);
        return NULL;
    }
    mfs_src *out = mfs_src_new_custom(&dsrc_ops, s, s->size, in->path ? in->path : "");
    if (!out) {
        dsrc_free(s);
        mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    return out;
}

/* ---- peeking ---- */

static int64_t peek(struct dec *d, enum mfs_decomp_kind k, void *out, size_t cap, mfs_err *e)
{
    struct dcp start = {0};
    size_t n = 0;
    int st = dec_start(d, k, &start, e);
    while (st == MFS_OK && n < cap) {
        size_t got = 0;
        st = d->codec->run(d, (unsigned char *)out + n, cap - n, &got, NULL, e);
        n += got; /* what came before an error counts: a truncated file peeks */
        if (got == 0) break;
    }
    if (d->codec) d->codec->end(d);
    if (n == 0 && st != MFS_OK) return -1;
    return (int64_t)n;
}

int64_t mfs_decomp_peek(mfs_src *in, uint64_t off, uint64_t len, enum mfs_decomp_kind k, void *out,
                        size_t cap, uint64_t max_in, mfs_err *e)
{
    if (!codec_of(k)) return mfs_err_set(e, MFS_FAILED, EINVAL, -1, "unknown compression kind"), -1;
    if (off > in->size || len > in->size - off)
        return mfs_err_set(e, MFS_FAILED, EINVAL, (int64_t)off, "compressed range outside the file"), -1;
    if (k == MFS_DECOMP_ZF) {
        unsigned char h[22];
        if (len < 23 || mfs_src_read_exact(in, h, 22, off, e) != MFS_OK) return -1;
        size_t skip = h[21] == ' ' ? 22 : 21;
        off += skip;
        len -= skip;
    }
    if (max_in && len > max_in) len = max_in;
    struct dec d;
    memset(&d, 0, sizeof d);
    unsigned char *buf = malloc(DEC_INBUF);
    if (!buf) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory"), -1;
    d.own = buf;
    d.in = in;
    d.base = off;
    d.clen = len;
    int64_t r = peek(&d, k, out, cap, e);
    free(buf);
    return r;
}

int64_t mfs_decomp_peek_mem(const void *in, size_t len, enum mfs_decomp_kind k, void *out, size_t cap)
{
    if (!codec_of(k)) return -1;
    const unsigned char *p = in;
    if (k == MFS_DECOMP_ZF) {
        if (len < 23) return -1;
        size_t skip = p[21] == ' ' ? 22 : 21;
        p += skip;
        len -= skip;
    }
    struct dec d;
    memset(&d, 0, sizeof d);
    d.mem = p;
    d.clen = len;
    mfs_err e;
    mfs_err_clear(&e);
    return peek(&d, k, out, cap, &e);
}

/* ---- introspection ---- */

int mfs_decomp_get_stats(mfs_src *src, struct mfs_decomp_stats *st)
{
    if (!src || src->ops != &dsrc_ops) return MFS_FAILED;
    struct dsrc *s = src->ctx;
    pthread_mutex_lock(&s->mu);
    st->kind = s->kind;
    st->in_size = s->clen;
    st->out_size = s->size;
    st->checkpoints = s->ncp;
    st->spacing = s->spacing;
    st->restarts = s->restarts;
    st->decoded = s->decoded;
    pthread_mutex_unlock(&s->mu);
    return MFS_OK;
}

enum mfs_decomp_kind mfs_decomp_kind_of(const mfs_src *src)
{
    if (!src || src->ops != &dsrc_ops) return MFS_DECOMP_NONE;
    return ((const struct dsrc *)src->ctx)->kind;
}
