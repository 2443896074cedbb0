/* decomp.h: byte sources that present the decompressed bytes of a
 * compressed stream held in another source (private to src/).
 *
 * joblib (and anything else that compresses a whole file) wraps its stream
 * in zlib, gzip, bz2, xz, legacy lzma, lz4 frames or zstd. mfs_decomp_open()
 * returns an ordinary mfs_src over the *decompressed* bytes: readers parse
 * it as if the file were not compressed, and tensors may point into it with
 * PLAIN/BYTESWAP/STRIDED locators. Decompression happens on demand in
 * bounded memory: one streaming pass at open learns the size and records
 * restart points; reads restart from the nearest one (see decomp.c for the
 * granularity of each codec and the memory bound). Thread-safe. */
#ifndef MFS_DECOMP_H
#define MFS_DECOMP_H
#ifndef MFS_INTERNAL
#error "src/core headers are private to libmodelfs"
#endif
#include "core/src.h"

enum mfs_decomp_kind {
    MFS_DECOMP_NONE = 0,
    MFS_DECOMP_ZLIB,  /* 78 xx (RFC 1950), possibly several concatenated */
    MFS_DECOMP_GZIP,  /* 1F 8B (RFC 1952), possibly several members */
    MFS_DECOMP_BZ2,   /* "BZh1".."BZh9", possibly several streams */
    MFS_DECOMP_XZ,    /* FD 37 7A 58 5A 00, possibly several streams */
    MFS_DECOMP_LZMA,  /* legacy .lzma ("lzma_alone"), 5D 00 00 ... */
    MFS_DECOMP_LZ4,   /* lz4 frames, 04 22 4D 18 */
    MFS_DECOMP_ZSTD,  /* zstd frames, 28 B5 2F FD */
    MFS_DECOMP_ZF,    /* joblib <= 0.9 "ZF" + hex length + zlib stream */
    MFS_DECOMP__COUNT
};

/** mfs_decomp_detect() : the compression of a stream from its first @len
 *  bytes (joblib/compressor.py prefixes, plus header sanity checks: the
 *  zlib header checksum, the bz2 block size digit, the lzma properties
 *  byte ...). MFS_DECOMP_NONE when none matches. Pure, never fails. */
enum mfs_decomp_kind mfs_decomp_detect(const void *head, size_t len);

/** mfs_decomp_name() : "zlib", "gzip", "bz2", "xz", "lzma", "lz4", "zstd",
 *  "zf" ("none" for NONE). Static string. */
const char *mfs_decomp_name(enum mfs_decomp_kind k);

/** mfs_decomp_bits() : how many bits of the header mfs_decomp_detect()
 *  verified for @k (for bids): zlib 16, gzip 24, bz2 32, xz 48, lzma 24,
 *  lz4 32, zstd 32, zf 16. */
int mfs_decomp_bits(enum mfs_decomp_kind k);

/** mfs_decomp_open() : a source over the decompressed bytes of [@off,
 *  @off+@len) of @in, compressed with @k. Makes one streaming pass over
 *  the whole input (bounded memory) to learn the size and record restart
 *  points, so a corrupt or truncated stream is reported here.
 *  @max_out bounds the decompressed size (0: 1 TiB), a guard against
 *  decompression bombs. @in gets a new reference (the caller keeps its own).
 *  @return a source with one reference, or NULL with @e set (MFS_FATAL,
 *  EINVAL, the compressed byte offset where decoding failed). */
mfs_src *mfs_decomp_open(mfs_src *in, uint64_t off, uint64_t len,
                         enum mfs_decomp_kind k, uint64_t max_out, mfs_err *e);

/** mfs_decomp_tune() : process-wide knobs for tests and fuzz targets:
 *  the limit mfs_decomp_open uses when given 0 (initially 1 TiB; 0 keeps
 *  it) and the initial spacing of restart points (initially 1 MiB; 0 keeps
 *  it; smaller makes restarts happen on small inputs). Not thread-safe:
 *  call before opening anything. */
void mfs_decomp_tune(uint64_t default_max_out, uint64_t first_spacing);

/** mfs_decomp_peek() : decompresses the beginning of [@off, @off+@len) of
 *  @in into @out (up to @cap bytes), reading at most @max_in compressed
 *  bytes; no scan, no allocation that outlives the call (the codec's own
 *  state is freed before returning). For bidders that must see the
 *  decompressed head. @return the bytes produced (possibly fewer than @cap
 *  when the input is short or corrupt after some output), or -1 with @e
 *  set when nothing could be decoded. */
int64_t mfs_decomp_peek(mfs_src *in, uint64_t off, uint64_t len,
                        enum mfs_decomp_kind k, void *out, size_t cap,
                        uint64_t max_in, mfs_err *e);

/** mfs_decomp_peek_mem() : as mfs_decomp_peek over a memory buffer (the
 *  probe's head bytes). Never allocates beyond the codec's own state. */
int64_t mfs_decomp_peek_mem(const void *in, size_t len, enum mfs_decomp_kind k,
                            void *out, size_t cap);

/* What a decompressing source did, for tests and info.json. */
struct mfs_decomp_stats {
    enum mfs_decomp_kind kind;
    uint64_t in_size;      /* compressed bytes */
    uint64_t out_size;     /* decompressed bytes */
    size_t checkpoints;    /* restart points kept */
    uint64_t spacing;      /* current minimum distance between them */
    uint64_t restarts;     /* decoders started from a checkpoint by reads */
    uint64_t decoded;      /* bytes decoded by reads (not by the scan) */
};

/** mfs_decomp_get_stats() : fills @st when @s is a decompressing source.
 *  @return MFS_OK, or MFS_FAILED when @s is not one. */
int mfs_decomp_get_stats(mfs_src *s, struct mfs_decomp_stats *st);

/** mfs_decomp_kind_of() : the codec of a decompressing source, or
 *  MFS_DECOMP_NONE for any other source. */
enum mfs_decomp_kind mfs_decomp_kind_of(const mfs_src *s);
#endif
