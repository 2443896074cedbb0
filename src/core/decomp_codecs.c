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

/* ---- zlib / gzip ---- */

enum { ZM_NEW = 0, ZM_WRAPPED, ZM_RAW, ZM_DONE };

struct zst {
    z_stream zs;
    int inited;
    int mode;
};

static int z_begin(struct dec *d, const struct dcp *cp, mfs_err *e)
{
    struct zst *z = calloc(1, sizeof *z);
    if (!z) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    d->st = z;
    mfs_dec_seek(d, cp->in);
    if (!cp->flags) {
        z->mode = ZM_NEW;
        return MFS_OK;
    }
    if (inflateInit2(&z->zs, -15) != Z_OK)
        return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "inflateInit2 failed");
    z->inited = 1;
    z->mode = ZM_RAW;
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

/* Starts the next stream/member, or ends the data. */
static int z_new_stream(struct dec *d, struct zst *z, struct dbound *b, int *stop, mfs_err *e)
{
    int r = skip_zeros(d, e);
    if (r < 0) return MFS_FAILED;
    if (r == 0) {
        if (d->nstreams == 0) return mfs_dec_fail(d, e, "empty stream");
        z->mode = ZM_DONE;
        d->eof = 1;
        return MFS_OK;
    }
    int wb = d->kind == MFS_DECOMP_GZIP ? 31 : 15;
    int zr = z->inited ? inflateReset2(&z->zs, wb) : inflateInit2(&z->zs, wb);
    if (zr != Z_OK) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "inflateInit2 failed");
    z->inited = 1;
    z->mode = ZM_WRAPPED;
    if (b && d->nstreams > 0) {
        b->at = 1;
        b->in = mfs_dec_pos(d);
        b->bits = 0;
        b->flags = 0;
        b->wlen = 0;
        *stop = 1;
    }
    d->nstreams++;
    return MFS_OK;
}

static int z_run(struct dec *d, unsigned char *out, size_t cap, size_t *got,
                 struct dbound *b, mfs_err *e)
{
    struct zst *z = d->st;
    size_t n = 0;
    *got = 0;
    while (n < cap && !d->eof) {
        if (z->mode == ZM_DONE) { d->eof = 1; break; }
        if (z->mode == ZM_NEW) {
            int stop = 0;
            if (z_new_stream(d, z, b, &stop, e) != MFS_OK) return MFS_FAILED;
            if (stop) break;
            continue;
        }
        int64_t a = mfs_dec_avail(d, e);
        if (a < 0) return MFS_FAILED;
        if (a == 0) return mfs_dec_fail(d, e, "truncated (the stream does not end)");
        size_t ain = (size_t)a > 1u << 30 ? 1u << 30 : (size_t)a;
        size_t aout = cap - n > 1u << 30 ? 1u << 30 : cap - n;
        z->zs.next_in = (unsigned char *)(d->ibuf + d->inext);
        z->zs.avail_in = (uInt)ain;
        z->zs.next_out = out + n;
        z->zs.avail_out = (uInt)aout;
        int zr = inflate(&z->zs, b ? Z_BLOCK : Z_NO_FLUSH);
        size_t used = ain - z->zs.avail_in, made = aout - z->zs.avail_out;
        d->inext += used;
        n += made;
        d->out += made;
        *got = n;
        if (zr == Z_STREAM_END) {
            if (z->mode == ZM_RAW) {
                /* restarted mid-stream: skip the trailer ourselves (the
                 * scan already checked it) */
                unsigned char tr[8];
                size_t tl = d->kind == MFS_DECOMP_GZIP ? 8 : 4;
                if (mfs_dec_read(d, tr, tl, "stream trailer", e) != MFS_OK) return MFS_FAILED;
            }
            z->mode = ZM_NEW;
            continue;
        }
        if (zr == Z_NEED_DICT) return mfs_dec_fail(d, e, "needs a preset dictionary");
        if (zr == Z_DATA_ERROR)
            return mfs_dec_fail(d, e, "%s", z->zs.msg ? z->zs.msg : "invalid deflate data");
        if (zr == Z_MEM_ERROR) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        if (zr != Z_OK && zr != Z_BUF_ERROR) return mfs_dec_fail(d, e, "inflate error %d", zr);
        if (zr == Z_BUF_ERROR && used == 0 && made == 0)
            return mfs_dec_fail(d, e, "inflate makes no progress");
        if (b && (z->zs.data_type & 128) && !(z->zs.data_type & 64)) {
            b->at = 1;
            b->in = mfs_dec_pos(d);
            b->bits = z->zs.data_type & 7;
            b->flags = 1;
            b->wlen = 32768;
            break;
        }
    }
    *got = n;
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

const struct dcodec mfs_dcodec_zlib = {z_begin, z_run, z_end};

/* ---- bz2 ---- */

struct bzst {
    bz_stream bz;
    int inited;
    int mode; /* ZM_NEW, ZM_WRAPPED, ZM_DONE */
};

static int bz_begin(struct dec *d, const struct dcp *cp, mfs_err *e)
{
    struct bzst *s = calloc(1, sizeof *s);
    if (!s) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    d->st = s;
    mfs_dec_seek(d, cp->in);
    if (cp->flags) return mfs_dec_fail(d, e, "bad checkpoint");
    s->mode = ZM_NEW;
    return MFS_OK;
}

static int bz_run(struct dec *d, unsigned char *out, size_t cap, size_t *got,
                  struct dbound *b, mfs_err *e)
{
    struct bzst *s = d->st;
    size_t n = 0;
    *got = 0;
    while (n < cap && !d->eof) {
        if (s->mode == ZM_DONE) { d->eof = 1; break; }
        if (s->mode == ZM_NEW) {
            int r = next_is(d, "BZh", 3, e);
            if (r < 0) return MFS_FAILED;
            if (!r) {
                if (d->nstreams == 0) return mfs_dec_fail(d, e, "not a bz2 stream");
                s->mode = ZM_DONE;
                continue;
            }
            if (BZ2_bzDecompressInit(&s->bz, 0, 0) != BZ_OK)
                return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "BZ2_bzDecompressInit failed");
            s->inited = 1;
            s->mode = ZM_WRAPPED;
            int first = d->nstreams++ == 0;
            if (b && !first) {
                b->at = 1;
                b->in = mfs_dec_pos(d);
                b->bits = 0;
                b->flags = 0;
                b->wlen = 0;
                break;
            }
            continue;
        }
        int64_t a = mfs_dec_avail(d, e);
        if (a < 0) return MFS_FAILED;
        if (a == 0) return mfs_dec_fail(d, e, "truncated (the stream does not end)");
        unsigned ain = (size_t)a > 1u << 30 ? 1u << 30 : (unsigned)a;
        unsigned aout = cap - n > 1u << 30 ? 1u << 30 : (unsigned)(cap - n);
        s->bz.next_in = (char *)(d->ibuf + d->inext);
        s->bz.avail_in = ain;
        s->bz.next_out = (char *)(out + n);
        s->bz.avail_out = aout;
        int r = BZ2_bzDecompress(&s->bz);
        size_t used = ain - s->bz.avail_in, made = aout - s->bz.avail_out;
        d->inext += used;
        n += made;
        d->out += made;
        *got = n;
        if (r == BZ_STREAM_END) {
            BZ2_bzDecompressEnd(&s->bz);
            s->inited = 0;
            s->mode = ZM_NEW;
            continue;
        }
        if (r == BZ_MEM_ERROR) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        if (r == BZ_DATA_ERROR) return mfs_dec_fail(d, e, "corrupt data (CRC or block error)");
        if (r == BZ_DATA_ERROR_MAGIC) return mfs_dec_fail(d, e, "bad stream magic");
        if (r != BZ_OK) return mfs_dec_fail(d, e, "bzip2 error %d", r);
        if (used == 0 && made == 0) return mfs_dec_fail(d, e, "bzip2 makes no progress");
    }
    *got = n;
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

const struct dcodec mfs_dcodec_bz2 = {bz_begin, bz_run, bz_end};

/* ---- xz and legacy lzma ---- */

struct xzst {
    lzma_stream ls;
    int inited;
    int mode;
};

static int xz_begin(struct dec *d, const struct dcp *cp, mfs_err *e)
{
    struct xzst *s = calloc(1, sizeof *s);
    if (!s) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    lzma_stream init = LZMA_STREAM_INIT;
    s->ls = init;
    d->st = s;
    mfs_dec_seek(d, cp->in);
    if (cp->flags) return mfs_dec_fail(d, e, "bad checkpoint");
    s->mode = ZM_NEW;
    return MFS_OK;
}

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

static int xz_run(struct dec *d, unsigned char *out, size_t cap, size_t *got,
                  struct dbound *b, mfs_err *e)
{
    static const unsigned char xz_magic[6] = {0xFD, '7', 'z', 'X', 'Z', 0};
    struct xzst *s = d->st;
    size_t n = 0;
    *got = 0;
    while (n < cap && !d->eof) {
        if (s->mode == ZM_DONE) { d->eof = 1; break; }
        if (s->mode == ZM_NEW) {
            lzma_ret r;
            if (d->kind == MFS_DECOMP_LZMA) {
                if (d->nstreams > 0) { s->mode = ZM_DONE; continue; }
                r = lzma_alone_decoder(&s->ls, d->memlimit);
            } else {
                /* stream padding: zeros (a multiple of 4) between streams */
                int z = d->nstreams ? skip_zeros(d, e) : 1;
                if (z < 0) return MFS_FAILED;
                int m = z ? next_is(d, xz_magic, 6, e) : 0;
                if (m < 0) return MFS_FAILED;
                if (!m) {
                    if (d->nstreams == 0) return mfs_dec_fail(d, e, "not an xz stream");
                    s->mode = ZM_DONE;
                    continue;
                }
                r = lzma_stream_decoder(&s->ls, d->memlimit, 0);
            }
            if (r != LZMA_OK) return xz_error(d, s, r, e);
            s->inited = 1;
            s->mode = ZM_WRAPPED;
            int first = d->nstreams++ == 0;
            if (b && !first) {
                b->at = 1;
                b->in = mfs_dec_pos(d);
                b->bits = 0;
                b->flags = 0;
                b->wlen = 0;
                break;
            }
            continue;
        }
        int64_t a = mfs_dec_avail(d, e);
        if (a < 0) return MFS_FAILED;
        s->ls.next_in = d->ibuf + d->inext;
        s->ls.avail_in = (size_t)a;
        s->ls.next_out = out + n;
        s->ls.avail_out = cap - n;
        lzma_ret r = lzma_code(&s->ls, a == 0 ? LZMA_FINISH : LZMA_RUN);
        size_t used = (size_t)a - s->ls.avail_in, made = (cap - n) - s->ls.avail_out;
        d->inext += used;
        n += made;
        d->out += made;
        *got = n;
        if (r == LZMA_STREAM_END) {
            s->mode = ZM_NEW;
            continue;
        }
        if (r != LZMA_OK) return xz_error(d, s, r, e);
        if (used == 0 && made == 0)
            return mfs_dec_fail(d, e, a == 0 ? "truncated (the stream does not end)"
                                             : "liblzma makes no progress");
    }
    *got = n;
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

const struct dcodec mfs_dcodec_xz = {xz_begin, xz_run, xz_end};

/* ---- zstd ---- */

struct zsst {
    ZSTD_DStream *ds;
    int mode;
    int in_frame;
};

static int zs_begin(struct dec *d, const struct dcp *cp, mfs_err *e)
{
    struct zsst *s = calloc(1, sizeof *s);
    if (!s) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    d->st = s;
    s->ds = ZSTD_createDStream();
    if (!s->ds) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    mfs_dec_seek(d, cp->in);
    if (cp->flags) return mfs_dec_fail(d, e, "bad checkpoint");
    s->mode = ZM_NEW;
    return MFS_OK;
}

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

static int zs_run(struct dec *d, unsigned char *out, size_t cap, size_t *got,
                  struct dbound *b, mfs_err *e)
{
    struct zsst *s = d->st;
    size_t n = 0;
    *got = 0;
    while (n < cap && !d->eof) {
        if (s->mode == ZM_DONE) { d->eof = 1; break; }
        if (s->mode == ZM_NEW) {
            int r = zs_magic(d, e);
            if (r < 0) return MFS_FAILED;
            if (!r) {
                if (d->nstreams == 0) return mfs_dec_fail(d, e, "not a zstd frame");
                s->mode = ZM_DONE;
                continue;
            }
            ZSTD_DCtx_reset(s->ds, ZSTD_reset_session_only);
            s->mode = ZM_WRAPPED;
            int first = d->nstreams++ == 0;
            if (b && !first) {
                b->at = 1;
                b->in = mfs_dec_pos(d);
                b->bits = 0;
                b->flags = 0;
                b->wlen = 0;
                break;
            }
            continue;
        }
        int64_t a = mfs_dec_avail(d, e);
        if (a < 0) return MFS_FAILED;
        ZSTD_inBuffer ib = {d->ibuf + d->inext, (size_t)a, 0};
        ZSTD_outBuffer ob = {out + n, cap - n, 0};
        size_t r = ZSTD_decompressStream(s->ds, &ob, &ib);
        if (ZSTD_isError(r)) return mfs_dec_fail(d, e, "%s", ZSTD_getErrorName(r));
        d->inext += ib.pos;
        n += ob.pos;
        d->out += ob.pos;
        *got = n;
        if (r == 0) {
            s->mode = ZM_NEW;
            continue;
        }
        if (ib.pos == 0 && ob.pos == 0) {
            if (a == 0) return mfs_dec_fail(d, e, "truncated (the frame does not end)");
            return mfs_dec_fail(d, e, "zstd makes no progress");
        }
    }
    *got = n;
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

const struct dcodec mfs_dcodec_zstd = {zs_begin, zs_run, zs_end};
