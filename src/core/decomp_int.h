/* decomp_int.h: the codec interface behind decomp.c (private to the
 * decompressing source: decomp.c, decomp_codecs.c, decomp_lz4.c).
 *
 * A decoder (struct dec) is one live decompression stream positioned at a
 * compressed offset `in` and a decompressed offset `out`. It is started at
 * a checkpoint (struct dcp: the stream start, or a restart point recorded
 * by the scan) and then produces bytes in order. Compressed input is read
 * through a small buffer from an mfs_src, or straight from memory (peek).
 *
 * A codec (struct dcodec) knows one compression format:
 *   begin() sets the decoder up at a checkpoint (its `flags`, `bits` and
 *           window say in which state the stream was there);
 *   run()   produces up to @cap bytes; it returns fewer only at the end of
 *           all data (d->eof set) or, when @b is given (the scan), at a
 *           point where a later decoder could restart (b->at set); *got
 *           counts the bytes produced even when it fails (peek keeps them);
 *   end()   frees the codec state (accepts a decoder never begun).
 * Offsets in checkpoints and boundaries are relative to the start of the
 * compressed range. */
#ifndef MFS_DECOMP_INT_H
#define MFS_DECOMP_INT_H
#include "core/decomp.h"

#define DEC_INBUF (64u * 1024u)

/* A restart point. */
struct dcp {
    uint64_t in;          /* compressed offset of the next byte to feed */
    uint64_t out;         /* decompressed offset of the next byte */
    int bits;             /* zlib: bits of byte in-1 still unused (0..7) */
    uint32_t flags;       /* codec state there (0 = at a stream start) */
    uint32_t wlen;        /* bytes of window (output preceding `out`) */
    unsigned char *win;   /* malloc'd window, or NULL */
};

/* Where run() stopped early (scan only). */
struct dbound {
    int at;               /* 1: stopped at a restart point */
    uint64_t in;
    int bits;
    uint32_t flags;
    uint32_t wlen;        /* window the restart needs (capped to `out`) */
};

/** mfs_dec_bound() : records in @b that run() stopped at a restart point
 *  (compressed offset @in, the checkpoint's @bits, @flags and @wlen). */
static inline void mfs_dec_bound(struct dbound *b, uint64_t in, int bits, uint32_t flags,
                                 uint32_t wlen)
{
    b->at = 1;
    b->in = in;
    b->bits = bits;
    b->flags = flags;
    b->wlen = wlen;
}

struct dcodec;

struct dec {
    const struct dcodec *codec;
    enum mfs_decomp_kind kind;  /* codec kind (ZF decodes as ZLIB) */
    mfs_src *in;                /* borrowed; NULL when reading `mem` */
    const unsigned char *mem;   /* memory input (peek), else NULL */
    uint64_t base, clen;        /* compressed range */
    unsigned char *own;         /* owned input buffer (DEC_INBUF) */
    const unsigned char *ibuf;  /* current input window */
    size_t ilen, inext;         /* window length, bytes consumed */
    uint64_t ipos;              /* relative offset of ibuf[0] */
    uint64_t out;               /* decompressed offset of next output */
    uint64_t memlimit;          /* codec memory cap (xz/lzma) */
    int eof;                    /* no more output */
    int nstreams;               /* streams/members/frames begun */
    void *st;                   /* codec state */
};

struct dcodec {
    int (*begin)(struct dec *d, const struct dcp *cp, mfs_err *e);
    int (*run)(struct dec *d, unsigned char *out, size_t cap, size_t *got,
               struct dbound *b, mfs_err *e);
    void (*end)(struct dec *d);
};

extern const struct dcodec mfs_dcodec_zlib;  /* zlib, gzip, zf */
extern const struct dcodec mfs_dcodec_bz2;
extern const struct dcodec mfs_dcodec_xz;    /* xz and lzma_alone */
extern const struct dcodec mfs_dcodec_zstd;
extern const struct dcodec mfs_dcodec_lz4;

/** dec_avail() : makes unconsumed input available (refilling the buffer
 *  from the source when it is used up). @return the bytes available at
 *  d->ibuf + d->inext (0 at the end of the compressed range), or -1 with
 *  @e set on a read error. */
int64_t mfs_dec_avail(struct dec *d, mfs_err *e);

/** mfs_dec_seek() : next input byte is at relative offset @rel. */
void mfs_dec_seek(struct dec *d, uint64_t rel);

/** mfs_dec_pos() : relative compressed offset of the next unconsumed byte. */
static inline uint64_t mfs_dec_pos(const struct dec *d) { return d->ipos + d->inext; }

/** mfs_dec_read() : exactly @n input bytes at the current position into
 *  @buf, consuming them. MFS_OK, or MFS_FAILED ("truncated") with @e set. */
int mfs_dec_read(struct dec *d, void *buf, size_t n, const char *what, mfs_err *e);

/** mfs_dec_byte_at() : the input byte at relative offset @rel (for
 *  zlib's inflatePrime). MFS_OK or MFS_FAILED. */
int mfs_dec_byte_at(struct dec *d, uint64_t rel, unsigned char *v, mfs_err *e);

/** mfs_dec_fail() : sets a decode error at the current input position,
 *  naming the codec: "<kind> stream corrupt at compressed byte N: what".
 *  Returns MFS_FAILED. */
int mfs_dec_fail(struct dec *d, mfs_err *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* xxHash32 (lz4 frame checksums), streaming. */
struct mfs_xxh32 {
    uint32_t v[4], total_lo, large, mem[4], memsize, seed;
};
void mfs_xxh32_init(struct mfs_xxh32 *s, uint32_t seed);
void mfs_xxh32_update(struct mfs_xxh32 *s, const void *p, size_t n);
uint32_t mfs_xxh32_digest(const struct mfs_xxh32 *s);
uint32_t mfs_xxh32(const void *p, size_t n, uint32_t seed);
#endif
