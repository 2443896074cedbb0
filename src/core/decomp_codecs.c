/* decomp_codecs.c: the zlib/gzip, bz2, xz/lzma and zstd codecs of the
 * decompressing source (interface in decomp_int.h).
 *
 * Every codec handles concatenated streams the way Python's readers do
 * (joblib's BinaryZlibFile, gzip.GzipFile, bz2.BZ2File, lzma.LZMAFile):
 * when a stream ends and input remains, a new stream begins. For zlib and
 * gzip, zero bytes at a stream start end the data (padding) and anything
 * else must be a valid header; for bz2, xz and zstd, bytes that do not
 * start with the format's magic end the data (Python ignores trailing
 * garbage there); a legacy .lzma stream is a single stream.
 *
 * Restart points (reported to the scan through struct dbound):
 *   zlib/gzip  every deflate block boundary (zran.c: inflate(Z_BLOCK),
 *              data_type bit 7 set and bit 6 clear), restarted as raw
 *              deflate with inflatePrime + the 32 KiB window; flags 1.
 *              Stream/member starts: flags 0, no window.
 *   bz2, xz, zstd  stream (frame) starts only: their blocks cannot be
 *              entered without the codec's internal state.
 *   lzma       only the start. */
#include "core/decomp_int.h"
#include <string.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <zlib.h>
#include <bzlib.h>
#include <lzma.h>
#include <zstd.h>

/* ---- shared input helpers ---- */

int64_t mfs_dec_avail(struct dec *d, mfs_err *e)
{
    if (d->inext < d->ilen) return (int64_t)(d->ilen - d->inext);
    uint64_t pos = d->ipos + d->ilen;
    if (pos >= d->clen) return 0;
    uint64_t want = d->clen - pos;
    if (d->mem) {
        d->ibuf = d->mem + pos;
        d->ipos = pos;
        d->ilen = (size_t)want;
        d->inext = 0;
        return (int64_t)want;
    }
    if (want > DEC_INBUF) want = DEC_INBUF;
    int64_t n = mfs_src_read(d->in, d->own, (size_t)want, d->base + pos, e);
    if (n < 0) return -1;
    if (n == 0)
        return mfs_err_set(e, MFS_FAILED, EIO, (int64_t)(d->base + pos),
                           "%s: compressed input ends early", mfs_decomp_name(d->kind)), -1;
    d->ibuf = d->own;
    d->ipos = pos;
    d->ilen = (size_t)n;
    d->inext = 0;
    return n;
}

void mfs_dec_seek(struct dec *d, uint64_t rel)
{
    d->ipos = rel;
    d->ilen = 0;
    d->inext = 0;
}

int mfs_dec_read(struct dec *d, void *buf, size_t n, const char *what, mfs_err *e)
{
    unsigned char *p = buf;
    while (n) {
        int64_t a = mfs_dec_avail(d, e);
        if (a < 0) return MFS_FAILED;
        if (a == 0) return mfs_dec_fail(d, e, "truncated %s", what);
        size_t k = (size_t)a < n ? (size_t)a : n;
        memcpy(p, d->ibuf + d->inext, k);
        d->inext += k;
        p += k;
        n -= k;
    }
    return MFS_OK;
}

int mfs_dec_byte_at(struct dec *d, uint64_t rel, unsigned char *v, mfs_err *e)
{
    if (rel >= d->clen)
        return mfs_err_set(e, MFS_FAILED, EIO, (int64_t)(d->base + rel), "checkpoint past the input");
    if (d->mem) {
        *v = d->mem[rel];
        return MFS_OK;
    }
    return mfs_src_read_exact(d->in, v, 1, d->base + rel, e);
}

int mfs_dec_fail(struct dec *d, mfs_err *e, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    uint64_t at = d->base + mfs_dec_pos(d);
    return mfs_err_set(e, MFS_FAILED, EIO, (int64_t)at,
                       "%s stream corrupt at compressed byte %llu: %s",
                       mfs_decomp_name(d->kind), (unsigned long long)at, what);
}

/* Skips zero bytes at a stream start (padding). @return 1 when non-zero
 * input follows, 0 at the end of the input, -1 on a read error. */
static int skip_zeros(struct dec *d, mfs_err *e)
{
    for (;;) {
        int64_t a = mfs_dec_avail(d, e);
        if (a <= 0) return (int)a;
        const unsigned char *p = d->ibuf + d->inext;
        size_t i = 0;
        while (i < (size_t)a && p[i] == 0) i++;
        d->inext += i;
        if (i < (size_t)a) return 1;
    }
}

/* Whether the next @n input bytes equal @magic (without consuming).
 * @return 1 yes, 0 no (or fewer bytes left), -1 read error. */
static int next_is(struct dec *d, const void *magic, size_t n, mfs_err *e)
{
    unsigned char tmp[8];
    uint64_t pos = mfs_dec_pos(d);
    if (pos + n > d->clen) return 0;
    int64_t a = mfs_dec_avail(d, e);
    if (a < 0) return -1;
    if ((size_t)a >= n) return memcmp(d->ibuf + d->inext, magic, n) == 0;
    if (d->mem) return memcmp(d->mem + pos, magic, n) == 0;
    if (mfs_src_read_exact(d->in, tmp, n, d->base + pos, e) != MFS_OK) return -1;
    return memcmp(tmp, magic, n) == 0;
}

/* ---- the streaming loop shared by zlib, bz2, xz and zstd ---- */

/* A codec's stream mode (struct shead, below), advanced by stream_run():
 * ZM_NEW (the next input byte starts a stream, or the data ends there),
 * ZM_DONE (the data has ended), anything else: inside a stream (zlib also
 * tells ZM_RAW, restarted mid-stream at a checkpoint, from ZM_WRAPPED). */
enum { ZM_NEW = 0, ZM_WRAPPED, ZM_RAW, ZM_DONE };

/* What a step did (struct sops.step). */
enum { ST_FAIL = -1, ST_MORE, ST_END, ST_STOP };

/* The codec-specific half of a streaming codec. */
struct sops {
    /* Starts a stream at the input position (peeking at, not consuming,
     * its magic). @return 1 when one begins, 0 when none starts here (the
     * data ends; if no stream began before, stream_run fails with
     * @nostream), -1 with @e set on error. */
    int (*open)(struct dec *d, mfs_err *e);
    /* Decodes from the @avail input bytes at d->ibuf + d->inext (0: the
     * compressed range is used up) into @out (at most @cap bytes),
     * consuming what it used (d->inext) and setting *made to the bytes
     * written, also when it fails. @return ST_MORE (call again), ST_END
     * (the stream ended), ST_STOP (a restart point was written to @b, which
     * is non-NULL then) or ST_FAIL with @e set. */
    int (*step)(struct dec *d, size_t avail, unsigned char *out, size_t cap, size_t *made,
                struct dbound *b, mfs_err *e);
    const char *nostream;   /* the error when the data holds no stream */
};

/* The first member of a streaming codec's state (d->st), which is how
 * stream_run finds the codec's half: its begin() sets @ops and the mode
 * (ZM_NEW, or ZM_RAW for zlib restarted mid-stream). */
struct shead {
    const struct sops *ops;
    int mode;
};

/* The run() of every streaming codec: opens streams one after another
 * (the start of every stream after the first is a restart point: with @b,
 * run stops there) and steps through each until @cap bytes are made or
 * the data ends. Contract as struct dcodec.run: MFS_OK, or MFS_FAILED
 * with @e set and *got counting the bytes made before the failure. */
static int stream_run(struct dec *d, unsigned char *out, size_t cap, size_t *got,
                      struct dbound *b, mfs_err *e)
{
    struct shead *h = d->st;
    const struct sops *ops = h->ops;
    int *mode = &h->mode;
    size_t n = 0;
    *got = 0;
    while (n < cap && !d->eof) {
        if (*mode == ZM_DONE) { d->eof = 1; break; }
        if (*mode == ZM_NEW) {
            int r = ops->open(d, e);
            if (r < 0) return MFS_FAILED;
            if (!r) {
                if (d->nstreams == 0) return mfs_dec_fail(d, e, "%s", ops->nostream);
                *mode = ZM_DONE;
                continue;
            }
            *mode = ZM_WRAPPED;
            int first = d->nstreams++ == 0;
            if (b && !first) {
                mfs_dec_bound(b, mfs_dec_pos(d), 0, 0, 0);
                break;
            }
            continue;
        }
        int64_t a = mfs_dec_avail(d, e);
        if (a < 0) return MFS_FAILED;
        size_t made = 0;
        int r = ops->step(d, (size_t)a, out + n, cap - n, &made, b, e);
        n += made;
        d->out += made;
        *got = n;
        if (r == ST_FAIL) return MFS_FAILED;
        if (r == ST_STOP) break;
        if (r == ST_END) *mode = ZM_NEW;
    }
    *got = n;
    return MFS_OK;
}

/* ---- zlib / gzip ---- */

struct zst {
    struct shead h;
    z_stream zs;
    int inited;
};

/* sops.open: a member starts at the first non-zero byte (zeros are
 * padding; only zeros left end the data). */
static int z_open(struct dec *d, mfs_err *e)
{
    struct zst *z = d->st;
    int r = skip_zeros(d, e);
    if (r <= 0) return r;
    int wb = d->kind == MFS_DECOMP_GZIP ? 31 : 15;
    int zr = z->inited ? inflateReset2(&z->zs, wb) : inflateInit2(&z->zs, wb);
    if (zr != Z_OK) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "inflateInit2 failed"), -1;
    z->inited = 1;
    return 1;
}

/* sops.step: inflate; during the scan (@b) it stops at every deflate block
 * boundary. */
static int z_step(struct dec *d, size_t avail, unsigned char *out, size_t cap, size_t *made,
                  struct dbound *b, mfs_err *e)
{
    struct zst *z = d->st;
    if (avail == 0) return mfs_dec_fail(d, e, "truncated (the stream does not end)"), ST_FAIL;
    size_t ain = avail > 1u << 30 ? 1u << 30 : avail;
    size_t aout = cap > 1u << 30 ? 1u << 30 : cap;
    z->zs.next_in = (unsigned char *)(d->ibuf + d->inext);
    z->zs.avail_in = (uInt)ain;
    z->zs.next_out = out;
    z->zs.avail_out = (uInt)aout;
    int zr = inflate(&z->zs, b ? Z_BLOCK : Z_NO_FLUSH);
    size_t used = ain - z->zs.avail_in;
    d->inext += used;
    *made = aout - z->zs.avail_out;
    if (zr == Z_STREAM_END) {
        if (z->h.mode == ZM_RAW) {
            /* restarted mid-stream: skip the trailer ourselves (the scan
             * already checked it) */
            unsigned char tr[8];
            size_t tl = d->kind == MFS_DECOMP_GZIP ? 8 : 4;
            if (mfs_dec_read(d, tr, tl, "stream trailer", e) != MFS_OK) return ST_FAIL;
        }
        return ST_END;
    }
    if (zr == Z_NEED_DICT) return mfs_dec_fail(d, e, "needs a preset dictionary"), ST_FAIL;
    if (zr == Z_DATA_ERROR)
        return mfs_dec_fail(d, e, "%s", z->zs.msg ? z->zs.msg : "invalid deflate data"), ST_FAIL;
    if (zr == Z_MEM_ERROR) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory"), ST_FAIL;
    if (zr != Z_OK && zr != Z_BUF_ERROR) return mfs_dec_fail(d, e, "inflate error %d", zr), ST_FAIL;
    if (zr == Z_BUF_ERROR && used == 0 && *made == 0)
        return mfs_dec_fail(d, e, "inflate makes no progress"), ST_FAIL;
    if (b && (z->zs.data_type & 128) && !(z->zs.data_type & 64)) {
        mfs_dec_bound(b, mfs_dec_pos(d), z->zs.data_type & 7, 1, 32768);
        return ST_STOP;
    }
    return ST_MORE;
}

static const struct sops z_ops = {z_open, z_step, "empty stream"};

static int z_begin(struct dec *d, const struct dcp *cp, mfs_err *e)
{
    struct zst *z = calloc(1, sizeof *z);
    if (!z) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    d->st = z;
    z->h.ops = &z_ops;
    mfs_dec_seek(d, cp->in);
    if (!cp->flags) {
        z->h.mode = ZM_NEW;
        return MFS_OK;
    }
    if (inflateInit2(&z->zs, -15) != Z_OK)
        return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "inflateInit2 failed");
    z->inited = 1;
    z->h.mode = ZM_RAW;
    if (cp->bits) {
        unsigned char v;
        if (cp->in == 0) return mfs_dec_fail(d, e, "bad checkpoint");
        if (mfs_dec_byte_at(d, cp->in - 1, &v, e) != MFS_OK) return MFS_FAILED;
        inflatePrime(&z->zs, cp->bits, v >> (8 - cp->bits));
    }
    if (cp->wlen && inflateSetDictionary(&z->zs, cp->win, cp->wlen) != Z_OK)
        return mfs_dec_fail(d, e, "cannot set the window at a checkpoint");
    return MFS_OK;
}

static void z_end(struct dec *d)
{
    struct zst *z = d->st;
    if (!z) return;
    if (z->inited) inflateEnd(&z->zs);
    free(z);
    d->st = NULL;
}

const struct dcodec mfs_dcodec_zlib = {z_begin, stream_run, z_end};

/* ---- bz2 ---- */

struct bzst {
    struct shead h;
    bz_stream bz;
    int inited;
};

/* sops.open: a stream starts with "BZh"; anything else ends the data. */
static int bz_open(struct dec *d, mfs_err *e)
{
    struct bzst *s = d->st;
    int r = next_is(d, "BZh", 3, e);
    if (r <= 0) return r;
    if (BZ2_bzDecompressInit(&s->bz, 0, 0) != BZ_OK)
        return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "BZ2_bzDecompressInit failed"), -1;
    s->inited = 1;
    return 1;
}

static int bz_step(struct dec *d, size_t avail, unsigned char *out, size_t cap, size_t *made,
                   struct dbound *b, mfs_err *e)
{
    struct bzst *s = d->st;
    (void)b;
    if (avail == 0) return mfs_dec_fail(d, e, "truncated (the stream does not end)"), ST_FAIL;
    unsigned ain = avail > 1u << 30 ? 1u << 30 : (unsigned)avail;
    unsigned aout = cap > 1u << 30 ? 1u << 30 : (unsigned)cap;
    s->bz.next_in = (char *)(d->ibuf + d->inext);
    s->bz.avail_in = ain;
    s->bz.next_out = (char *)out;
    s->bz.avail_out = aout;
    int r = BZ2_bzDecompress(&s->bz);
    size_t used = ain - s->bz.avail_in;
    d->inext += used;
    *made = aout - s->bz.avail_out;
    if (r == BZ_STREAM_END) {
        BZ2_bzDecompressEnd(&s->bz);
        s->inited = 0;
        return ST_END;
    }
    if (r == BZ_MEM_ERROR) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory"), ST_FAIL;
    if (r == BZ_DATA_ERROR) return mfs_dec_fail(d, e, "corrupt data (CRC or block error)"), ST_FAIL;
    if (r == BZ_DATA_ERROR_MAGIC) return mfs_dec_fail(d, e, "bad stream magic"), ST_FAIL;
    if (r != BZ_OK) return mfs_dec_fail(d, e, "bzip2 error %d", r), ST_FAIL;
    if (used == 0 && *made == 0) return mfs_dec_fail(d, e, "bzip2 makes no progress"), ST_FAIL;
    return ST_MORE;
}

static const struct sops bz_ops = {bz_open, bz_step, "not a bz2 stream"};

static int bz_begin(struct dec *d, const struct dcp *cp, mfs_err *e)
{
    struct bzst *s = calloc(1, sizeof *s);
    if (!s) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    d->st = s;
    s->h.ops = &bz_ops;
    mfs_dec_seek(d, cp->in);
    if (cp->flags) return mfs_dec_fail(d, e, "bad checkpoint");
    s->h.mode = ZM_NEW;
    return MFS_OK;
}

static void bz_end(struct dec *d)
{
    struct bzst *s = d->st;
    if (!s) return;
    if (s->inited) BZ2_bzDecompressEnd(&s->bz);
    free(s);
    d->st = NULL;
}

const struct dcodec mfs_dcodec_bz2 = {bz_begin, stream_run, bz_end};

/* ---- xz and legacy lzma ---- */

struct xzst {
    struct shead h;
    lzma_stream ls;
    int inited;
};

static int xz_error(struct dec *d, struct xzst *s, lzma_ret r, mfs_err *e)
{
    switch (r) {
    case LZMA_MEM_ERROR: return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    case LZMA_MEMLIMIT_ERROR:
        return mfs_dec_fail(d, e, "needs %llu MiB of memory to decompress (limit %llu MiB)",
                            (unsigned long long)(lzma_memusage(&s->ls) >> 20),
                            (unsigned long long)(d->memlimit >> 20));
    case LZMA_FORMAT_ERROR: return mfs_dec_fail(d, e, "bad header");
    case LZMA_OPTIONS_ERROR: return mfs_dec_fail(d, e, "unsupported options");
    case LZMA_DATA_ERROR: return mfs_dec_fail(d, e, "corrupt data");
    case LZMA_BUF_ERROR: return mfs_dec_fail(d, e, "truncated (the stream does not end)");
    default: return mfs_dec_fail(d, e, "liblzma error %d", (int)r);
    }
}

/* sops.open: a legacy .lzma file is one stream; xz streams follow one
 * another, with zero padding between them, while the xz magic starts. */
static int xz_open(struct dec *d, mfs_err *e)
{
    static const unsigned char xz_magic[6] = {0xFD, '7', 'z', 'X', 'Z', 0};
    struct xzst *s = d->st;
    lzma_ret r;
    if (d->kind == MFS_DECOMP_LZMA) {
        if (d->nstreams > 0) return 0;
        r = lzma_alone_decoder(&s->ls, d->memlimit);
    } else {
        /* stream padding: zeros (a multiple of 4) between streams */
        int z = d->nstreams ? skip_zeros(d, e) : 1;
        if (z < 0) return -1;
        int m = z ? next_is(d, xz_magic, 6, e) : 0;
        if (m <= 0) return m;
        r = lzma_stream_decoder(&s->ls, d->memlimit, 0);
    }
    if (r != LZMA_OK) return xz_error(d, s, r, e), -1;
    s->inited = 1;
    return 1;
}

static int xz_step(struct dec *d, size_t avail, unsigned char *out, size_t cap, size_t *made,
                   struct dbound *b, mfs_err *e)
{
    struct xzst *s = d->st;
    (void)b;
    s->ls.next_in = d->ibuf + d->inext;
    s->ls.avail_in = avail;
    s->ls.next_out = out;
    s->ls.avail_out = cap;
    lzma_ret r = lzma_code(&s->ls, avail == 0 ? LZMA_FINISH : LZMA_RUN);
    size_t used = avail - s->ls.avail_in;
    d->inext += used;
    *made = cap - s->ls.avail_out;
    if (r == LZMA_STREAM_END) return ST_END;
    if (r != LZMA_OK) return xz_error(d, s, r, e), ST_FAIL;
    if (used == 0 && *made == 0)
        return mfs_dec_fail(d, e, avail == 0 ? "truncated (the stream does not end)"
                                             : "liblzma makes no progress"), ST_FAIL;
    return ST_MORE;
}

static const struct sops xz_ops = {xz_open, xz_step, "not an xz stream"};

static int xz_begin(struct dec *d, const struct dcp *cp, mfs_err *e)
{
    struct xzst *s = calloc(1, sizeof *s);
    if (!s) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    lzma_stream init = LZMA_STREAM_INIT;
    s->ls = init;
    d->st = s;
    s->h.ops = &xz_ops;
    mfs_dec_seek(d, cp->in);
    if (cp->flags) return mfs_dec_fail(d, e, "bad checkpoint");
    s->h.mode = ZM_NEW;
    return MFS_OK;
}

static void xz_end(struct dec *d)
{
    struct xzst *s = d->st;
    if (!s) return;
    if (s->inited) lzma_end(&s->ls);
    free(s);
    d->st = NULL;
}

const struct dcodec mfs_dcodec_xz = {xz_begin, stream_run, xz_end};

/* ---- zstd ---- */

struct zsst {
    struct shead h;
    ZSTD_DStream *ds;
    int in_frame;
};

/* 1 when the next 4 bytes are a zstd or skippable frame magic. */
static int zs_magic(struct dec *d, mfs_err *e)
{
    unsigned char m[4];
    uint64_t pos = mfs_dec_pos(d);
    if (pos + 4 > d->clen) return 0;
    int64_t a = mfs_dec_avail(d, e);
    if (a < 0) return -1;
    if (a >= 4) memcpy(m, d->ibuf + d->inext, 4);
    else if (d->mem) memcpy(m, d->mem + pos, 4);
    else if (mfs_src_read_exact(d->in, m, 4, d->base + pos, e) != MFS_OK) return -1;
    uint32_t v = (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 | (uint32_t)m[3] << 24;
    return v == 0xFD2FB528u || (v & 0xFFFFFFF0u) == 0x184D2A50u;
}

/* sops.open: a frame (or a skippable frame) starts with its magic;
 * anything else ends the data. */
static int zs_open(struct dec *d, mfs_err *e)
{
    struct zsst *s = d->st;
    int r = zs_magic(d, e);
    if (r <= 0) return r;
    ZSTD_DCtx_reset(s->ds, ZSTD_reset_session_only);
    return 1;
}

/* sops.step: on an error nothing is consumed nor counted. */
static int zs_step(struct dec *d, size_t avail, unsigned char *out, size_t cap, size_t *made,
                   struct dbound *b, mfs_err *e)
{
    struct zsst *s = d->st;
    (void)b;
    ZSTD_inBuffer ib = {d->ibuf + d->inext, avail, 0};
    ZSTD_outBuffer ob = {out, cap, 0};
    size_t r = ZSTD_decompressStream(s->ds, &ob, &ib);
    if (ZSTD_isError(r)) return mfs_dec_fail(d, e, "%s", ZSTD_getErrorName(r)), ST_FAIL;
    d->inext += ib.pos;
    *made = ob.pos;
    if (r == 0) return ST_END;
    if (ib.pos == 0 && ob.pos == 0) {
        if (avail == 0) return mfs_dec_fail(d, e, "truncated (the frame does not end)"), ST_FAIL;
        return mfs_dec_fail(d, e, "zstd makes no progress"), ST_FAIL;
    }
    return ST_MORE;
}

static const struct sops zs_ops = {zs_open, zs_step, "not a zstd frame"};

static int zs_begin(struct dec *d, const struct dcp *cp, mfs_err *e)
{
    struct zsst *s = calloc(1, sizeof *s);
    if (!s) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    d->st = s;
    s->h.ops = &zs_ops;
    s->ds = ZSTD_createDStream();
    if (!s->ds) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    mfs_dec_seek(d, cp->in);
    if (cp->flags) return mfs_dec_fail(d, e, "bad checkpoint");
    s->h.mode = ZM_NEW;
    return MFS_OK;
}

static void zs_end(struct dec *d)
{
    struct zsst *s = d->st;
    if (!s) return;
    ZSTD_freeDStream(s->ds);
    free(s);
    d->st = NULL;
}

const struct dcodec mfs_dcodec_zstd = {zs_begin, stream_run, zs_end};
