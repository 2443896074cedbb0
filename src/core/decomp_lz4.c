/* decomp_lz4.c: the lz4 frame codec of the decompressing source.
 *
 * The frame format (lz4/doc/lz4_Frame_format.md) is parsed here rather
 * than through LZ4F_decompress, because the frame API can only start at a
 * frame header, and restarting inside a frame is what makes random access
 * cheap: each block is decoded with the block API
 * (LZ4_decompress_safe_usingDict), its dictionary being the previous 64 KiB
 * of the frame's output when blocks are linked (python-lz4's default) and
 * nothing when they are independent. So a restart point exists before
 * every block; the scan records one every `spacing` bytes with the 64 KiB
 * window (linked) or none (independent). Checkpoint flags: 0 = frame
 * start, else 1 | FLG << 8 | BD << 16 (the frame descriptor).
 *
 * Checked: magic, version, reserved bits, block max size, the header
 * checksum, block checksums, the content checksum and content size (when
 * decoding from the frame start). Skippable frames are skipped; legacy lz4
 * frames and frames with a dictionary id are refused. Memory: the
 * compressed block plus 64 KiB + one block of output (<= 8.1 MiB for
 * 4 MiB blocks). Also: xxHash32 (lz4 checksums). */
#include "core/decomp_int.h"
#include <string.h>
#include <stdlib.h>
#include <errno.h>
#include <lz4.h>

/* ---- xxHash32 (Cyan4973/xxHash, xxhash.h XXH32) ---- */

#define P1 0x9E3779B1u
#define P2 0x85EBCA77u
#define P3 0xC2B2AE3Du
#define P4 0x27D4EB2Fu
#define P5 0x165667B1u

static uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint32_t xround(uint32_t acc, uint32_t in) { return rotl32(acc + in * P2, 13) * P1; }

void mfs_xxh32_init(struct mfs_xxh32 *s, uint32_t seed)
{
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->v[0] = seed + P1 + P2;
    s->v[1] = seed + P2;
    s->v[2] = seed;
    s->v[3] = seed - P1;
}

void mfs_xxh32_update(struct mfs_xxh32 *s, const void *data, size_t n)
{
    const unsigned char *p = data, *end = p + n;
    unsigned char *mem = (unsigned char *)s->mem;
    s->total_lo += (uint32_t)n;
    s->large |= (n >= 16) | (s->total_lo >= 16);
    if (s->memsize + n < 16) {
        memcpy(mem + s->memsize, p, n);
        s->memsize += (uint32_t)n;
        return;
    }
    if (s->memsize) {
        memcpy(mem + s->memsize, p, 16 - s->memsize);
        for (int i = 0; i < 4; i++) s->v[i] = xround(s->v[i], rd32(mem + 4 * i));
        p += 16 - s->memsize;
        s->memsize = 0;
    }
    while (p + 16 <= end) {
        for (int i = 0; i < 4; i++) s->v[i] = xround(s->v[i], rd32(p + 4 * i));
        p += 16;
    }
    if (p < end) {
        memcpy(mem, p, (size_t)(end - p));
        s->memsize = (uint32_t)(end - p);
    }
}

uint32_t mfs_xxh32_digest(const struct mfs_xxh32 *s)
{
    uint32_t h;
    if (s->large)
        h = rotl32(s->v[0], 1) + rotl32(s->v[1], 7) + rotl32(s->v[2], 12) + rotl32(s->v[3], 18);
    else
        h = s->v[2] + P5;
    h += s->total_lo;
    const unsigned char *p = (const unsigned char *)s->mem, *end = p + s->memsize;
    while (p + 4 <= end) {
        h = rotl32(h + rd32(p) * P3, 17) * P4;
        p += 4;
    }
    while (p < end) {
        h = rotl32(h + (*p) * P5, 11) * P1;
        p++;
    }
    h ^= h >> 15;
    h *= P2;
    h ^= h >> 13;
    h *= P3;
    h ^= h >> 16;
    return h;
}

uint32_t mfs_xxh32(const void *p, size_t n, uint32_t seed)
{
    struct mfs_xxh32 s;
    mfs_xxh32_init(&s, seed);
    mfs_xxh32_update(&s, p, n);
    return mfs_xxh32_digest(&s);
}

/* ---- the frame codec ---- */

#define HIST (64u * 1024u)
enum { L_NEW = 0, L_BLOCK, L_DONE };

struct l4st {
    int mode;
    unsigned flg, bd;
    size_t bmax;
    int linked, bsum, csum, has_csize, verify;
    uint64_t csize, fout;
    struct mfs_xxh32 h;
    unsigned char *cbuf;    /* one stored block */
    unsigned char *dbuf;    /* HIST bytes of history, then one block */
    size_t cap;             /* bmax the buffers were sized for */
    size_t hist;            /* history bytes at dbuf + HIST - hist */
    size_t blen;            /* bytes of the last block at dbuf + HIST */
    size_t pend;            /* bytes of it not yet returned */
    uint64_t no_report;     /* input position not to report as a boundary */
};

/* Sizes the buffers for blocks of @bmax bytes. */
static int l4_buffers(struct l4st *s, size_t bmax, mfs_err *e)
{
    if (s->cap >= bmax) return MFS_OK;
    unsigned char *c = realloc(s->cbuf, bmax);
    if (!c) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    s->cbuf = c;
    unsigned char *d = malloc(HIST + bmax);
    if (!d) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    if (s->dbuf) memcpy(d + HIST - s->hist, s->dbuf + HIST - s->hist, s->hist);
    free(s->dbuf);
    s->dbuf = d;
    s->cap = bmax;
    return MFS_OK;
}

/* Applies a frame descriptor (FLG, BD). */
static int l4_descr(struct dec *d, struct l4st *s, unsigned flg, unsigned bd, mfs_err *e)
{
    if ((flg >> 6) != 1) return mfs_dec_fail(d, e, "lz4 frame version %u", flg >> 6);
    if (flg & 2 || bd & 0x8F) return mfs_dec_fail(d, e, "lz4 frame reserved bits set");
    if (flg & 1) return mfs_dec_fail(d, e, "lz4 frames with a dictionary id are not supported");
    unsigned bs = (bd >> 4) & 7;
    if (bs < 4) return mfs_dec_fail(d, e, "lz4 block max size code %u", bs);
    s->flg = flg;
    s->bd = bd;
    s->bmax = (size_t)1 << (8 + 2 * bs);
    s->linked = !(flg & 0x20);
    s->bsum = !!(flg & 0x10);
    s->has_csize = !!(flg & 0x08);
    s->csum = !!(flg & 0x04);
    return l4_buffers(s, s->bmax, e);
}

static int l4_begin(struct dec *d, const struct dcp *cp, mfs_err *e)
{
    struct l4st *s = calloc(1, sizeof *s);
    if (!s) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    d->st = s;
    mfs_dec_seek(d, cp->in);
    s->no_report = UINT64_MAX;
    if (!cp->flags) {
        s->mode = L_NEW;
        return MFS_OK;
    }
    if (l4_descr(d, s, (cp->flags >> 8) & 0xFF, (cp->flags >> 16) & 0xFF, e) != MFS_OK)
        return MFS_FAILED;
    if (cp->wlen > HIST) return mfs_dec_fail(d, e, "bad checkpoint");
    if (s->linked && cp->wlen) memcpy(s->dbuf + HIST - cp->wlen, cp->win, cp->wlen);
    s->hist = s->linked ? cp->wlen : 0;
    s->mode = L_BLOCK;
    s->verify = 0;
    s->no_report = cp->in;
    return MFS_OK;
}

/* Parses a frame header (or skips a skippable frame). Sets *ended when the
 * data ends (no further frame). */
static int l4_frame(struct dec *d, struct l4st *s, int *ended, mfs_err *e)
{
    unsigned char h[19];
    *ended = 0;
    uint64_t pos = mfs_dec_pos(d);
    if (pos + 4 > d->clen) {
        if (d->nstreams == 0) return mfs_dec_fail(d, e, "not an lz4 frame");
        *ended = 1;
        return MFS_OK;
    }
    if (mfs_dec_read(d, h, 4, "lz4 frame magic", e) != MFS_OK) return MFS_FAILED;
    uint32_t magic = rd32(h);
    if ((magic & 0xFFFFFFF0u) == 0x184D2A50u) {
        if (mfs_dec_read(d, h, 4, "skippable frame size", e) != MFS_OK) return MFS_FAILED;
        uint64_t sz = rd32(h), at = mfs_dec_pos(d);
        if (at + sz > d->clen) return mfs_dec_fail(d, e, "truncated skippable frame");
        mfs_dec_seek(d, at + sz);
        return MFS_OK;
    }
    if (magic != 0x184D2204u) {
        if (d->nstreams == 0)
            return mfs_dec_fail(d, e, magic == 0x184C2102u ? "legacy lz4 format not supported"
                                                             : "not an lz4 frame");
        *ended = 1; /* trailing data: ignored, as Python does */
        return MFS_OK;
    }
    if (mfs_dec_read(d, h, 2, "lz4 frame descriptor", e) != MFS_OK) return MFS_FAILED;
    size_t hl = 2 + ((h[0] & 0x08) ? 8 : 0) + ((h[0] & 0x01) ? 4 : 0);
    if (mfs_dec_read(d, h + 2, hl - 2 + 1, "lz4 frame descriptor", e) != MFS_OK) return MFS_FAILED;
    if (((mfs_xxh32(h, hl, 0) >> 8) & 0xFF) != h[hl])
        return mfs_dec_fail(d, e, "lz4 frame header checksum mismatch");
    if (l4_descr(d, s, h[0], h[1], e) != MFS_OK) return MFS_FAILED;
    s->csize = 0;
    if (s->has_csize)
        for (int i = 7; i >= 0; i--) s->csize = s->csize << 8 | h[2 + i];
    s->fout = 0;
    s->hist = 0;
    s->blen = 0;
    s->verify = 1;
    mfs_xxh32_init(&s->h, 0);
    s->mode = L_BLOCK;
    s->no_report = mfs_dec_pos(d); /* the frame start stands for it */
    d->nstreams++;
    return MFS_OK;
}

/* Reads and decodes the next block (or the end mark). */
static int l4_block(struct dec *d, struct l4st *s, mfs_err *e)
{
    unsigned char b4[4];
    if (mfs_dec_read(d, b4, 4, "lz4 block size", e) != MFS_OK) return MFS_FAILED;
    uint32_t bsz = rd32(b4);
    if (bsz == 0) { /* end mark */
        if (s->csum) {
            if (mfs_dec_read(d, b4, 4, "lz4 content checksum", e) != MFS_OK) return MFS_FAILED;
            if (s->verify && rd32(b4) != mfs_xxh32_digest(&s->h))
                return mfs_dec_fail(d, e, "lz4 content checksum mismatch");
        }
        if (s->verify && s->has_csize && s->fout != s->csize)
            return mfs_dec_fail(d, e, "lz4 frame holds %llu bytes, its header says %llu",
                                (unsigned long long)s->fout, (unsigned long long)s->csize);
        s->mode = L_NEW;
        return MFS_OK;
    }
    int stored = !!(bsz & 0x80000000u);
    bsz &= 0x7FFFFFFFu;
    if (bsz > s->bmax) return mfs_dec_fail(d, e, "lz4 block of %u bytes exceeds the frame's maximum", bsz);
    if (mfs_dec_read(d, s->cbuf, bsz, "lz4 block", e) != MFS_OK) return MFS_FAILED;
    if (s->bsum) {
        if (mfs_dec_read(d, b4, 4, "lz4 block checksum", e) != MFS_OK) return MFS_FAILED;
        if (rd32(b4) != mfs_xxh32(s->cbuf, bsz, 0))
            return mfs_dec_fail(d, e, "lz4 block checksum mismatch");
    }
    /* slide the history: the last 64 KiB before this block */
    if (s->linked) {
        size_t tot = s->hist + s->blen, nh = tot < HIST ? tot : HIST;
        memmove(s->dbuf + HIST - nh, s->dbuf + HIST + s->blen - nh, nh);
        s->hist = nh;
    } else {
        s->hist = 0;
    }
    int n;
    if (stored) {
        memcpy(s->dbuf + HIST, s->cbuf, bsz);
        n = (int)bsz;
    } else {
        n = LZ4_decompress_safe_usingDict((const char *)s->cbuf, (char *)s->dbuf + HIST, (int)bsz,
                                          (int)s->bmax, (const char *)s->dbuf + HIST - s->hist,
                                          (int)s->hist);
        if (n < 0) return mfs_dec_fail(d, e, "invalid lz4 block");
    }
    if (s->verify && s->csum) mfs_xxh32_update(&s->h, s->dbuf + HIST, (size_t)n);
    s->fout += (uint64_t)n;
    s->blen = (size_t)n;
    s->pend = (size_t)n;
    return MFS_OK;
}

static int l4_run(struct dec *d, unsigned char *out, size_t cap, size_t *got,
                  struct dbound *b, mfs_err *e)
{
    struct l4st *s = d->st;
    size_t n = 0;
    *got = 0;
    while (n < cap && !d->eof) {
        if (s->pend) {
            size_t k = s->pend < cap - n ? s->pend : cap - n;
            memcpy(out + n, s->dbuf + HIST + (s->blen - s->pend), k);
            s->pend -= k;
            n += k;
            d->out += k;
            *got = n;
            continue;
        }
        if (s->mode == L_DONE) { d->eof = 1; break; }
        uint64_t pos = mfs_dec_pos(d);
        if (s->mode == L_NEW) {
            if (b && d->nstreams > 0 && pos < d->clen && s->no_report != pos) {
                mfs_dec_bound(b, pos, 0, 0, 0);
                s->no_report = pos;
                break;
            }
            int ended;
            if (l4_frame(d, s, &ended, e) != MFS_OK) return MFS_FAILED;
            if (ended) s->mode = L_DONE;
            continue;
        }
        if (b && s->no_report != pos) {
            mfs_dec_bound(b, pos, 0, 1u | s->flg << 8 | s->bd << 16,
                          s->linked ? (uint32_t)(s->fout < HIST ? s->fout : HIST) : 0);
            s->no_report = pos;
            break;
        }
        if (l4_block(d, s, e) != MFS_OK) return MFS_FAILED;
    }
    *got = n;
    return MFS_OK;
}

static void l4_end(struct dec *d)
{
    struct l4st *s = d->st;
    if (!s) return;
    free(s->cbuf);
    free(s->dbuf);
    free(s);
    d->st = NULL;
}

const struct dcodec mfs_dcodec_lz4 = {l4_begin, l4_run, l4_end};
