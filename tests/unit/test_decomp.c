/* test_decomp.c: the decompressing byte source (src/core/decomp.c).
 *
 * Each codec gets data made here (a mix of text-like runs and noise, a few
 * MiB so that restart points exist) compressed with the codec's own
 * library, in its usual and its multi-stream forms. We check the size,
 * sequential and random reads at the start, middle and end against the
 * original, that restart points were recorded where the codec allows
 * them, and that corrupted and truncated streams fail cleanly. */
#include "mfs_test.h"
#include "core/decomp.h"
#include <zlib.h>
#include <bzlib.h>
#include <lzma.h>
#include <lz4frame.h>
#include <zstd.h>
#include <stdint.h>
#include <pthread.h>

#define DATA_LEN (5u * 1024u * 1024u + 12345u)

static unsigned char *make_data(size_t n, uint32_t seed)
{
    unsigned char *d = malloc(n);
    MFS_ASSERT(d);
    uint32_t x = seed;
    static const char words[] = "the quick brown fox jumps over the lazy dog 0123456789 ";
    for (size_t i = 0; i < n;) {
        x = x * 1664525u + 1013904223u;
        size_t run = 64 + (x >> 24);
        if ((x >> 8) & 1) {
            for (size_t k = 0; k < run && i < n; k++, i++) d[i] = (unsigned char)words[(x + k) % (sizeof words - 1)];
        } else {
            for (size_t k = 0; k < run / 4 && i < n; k++, i++) {
                x = x * 1664525u + 1013904223u;
                d[i] = (unsigned char)(x >> 24);
            }
        }
    }
    return d;
}

struct buf {
    unsigned char *p;
    size_t n, cap;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        MFS_ASSERT(b->p);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* zlib (wbits 15) or gzip (wbits 31) */
static void c_deflate(struct buf *b, const unsigned char *d, size_t n, int wbits)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    MFS_ASSERT(deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    size_t cap = deflateBound(&z, n);
    unsigned char *o = malloc(cap);
    z.next_in = (unsigned char *)d;
    z.avail_in = (uInt)n;
    z.next_out = o;
    z.avail_out = (uInt)cap;
    MFS_ASSERT(deflate(&z, Z_FINISH) == Z_STREAM_END);
    buf_add(b, o, cap - z.avail_out);
    deflateEnd(&z);
    free(o);
}

static void c_bz2(struct buf *b, const unsigned char *d, size_t n)
{
    unsigned int cap = (unsigned int)(n + n / 100 + 1000);
    char *o = malloc(cap);
    MFS_ASSERT(BZ2_bzBuffToBuffCompress(o, &cap, (char *)d, (unsigned)n, 9, 0, 0) == BZ_OK);
    buf_add(b, o, cap);
    free(o);
}

static void c_xz(struct buf *b, const unsigned char *d, size_t n, int alone)
{
    lzma_stream s = LZMA_STREAM_INIT;
    if (alone) {
        lzma_options_lzma opt;
        lzma_lzma_preset(&opt, 3);
        MFS_ASSERT(lzma_alone_encoder(&s, &opt) == LZMA_OK);
    } else {
        MFS_ASSERT(lzma_easy_encoder(&s, 3, LZMA_CHECK_CRC64) == LZMA_OK);
    }
    size_t cap = n + n / 2 + 4096;
    unsigned char *o = malloc(cap);
    s.next_in = d;
    s.avail_in = n;
    s.next_out = o;
    s.avail_out = cap;
    MFS_ASSERT(lzma_code(&s, LZMA_FINISH) == LZMA_STREAM_END);
    buf_add(b, o, cap - s.avail_out);
    lzma_end(&s);
    free(o);
}

static void c_lz4(struct buf *b, const unsigned char *d, size_t n, int independent, int checksums)
{
    LZ4F_preferences_t pr;
    memset(&pr, 0, sizeof pr);
    pr.frameInfo.blockSizeID = LZ4F_max64KB;
    pr.frameInfo.blockMode = independent ? LZ4F_blockIndependent : LZ4F_blockLinked;
    pr.frameInfo.contentChecksumFlag = checksums ? LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum;
    pr.frameInfo.blockChecksumFlag = checksums ? LZ4F_blockChecksumEnabled : LZ4F_noBlockChecksum;
    pr.frameInfo.contentSize = checksums ? n : 0;
    size_t cap = LZ4F_compressFrameBound(n, &pr);
    unsigned char *o = malloc(cap);
    size_t r = LZ4F_compressFrame(o, cap, d, n, &pr);
    MFS_ASSERT(!LZ4F_isError(r));
    buf_add(b, o, r);
    free(o);
}

static void c_zstd(struct buf *b, const unsigned char *d, size_t n)
{
    size_t cap = ZSTD_compressBound(n);
    unsigned char *o = malloc(cap);
    size_t r = ZSTD_compress(o, cap, d, n, 3);
    MFS_ASSERT(!ZSTD_isError(r));
    buf_add(b, o, r);
    free(o);
}

enum { F_ZLIB, F_GZIP, F_GZIP2, F_BZ2, F_BZ22, F_XZ, F_XZ2, F_LZMA, F_LZ4, F_LZ4I, F_LZ42,
       F_ZSTD, F_ZSTD2, F_ZF };

/* Compresses @d in form @f: the "2" forms split the data in two streams. */
static struct buf compress_form(int f, const unsigned char *d, size_t n)
{
    struct buf b = {0};
    size_t h = n / 3;
    switch (f) {
    case F_ZLIB: c_deflate(&b, d, n, 15); break;
    case F_GZIP: c_deflate(&b, d, n, 31); break;
    case F_GZIP2: c_deflate(&b, d, h, 31); c_deflate(&b, d + h, n - h, 31); break;
    case F_BZ2: c_bz2(&b, d, n); break;
    case F_BZ22: c_bz2(&b, d, h); c_bz2(&b, d + h, n - h); break;
    case F_XZ: c_xz(&b, d, n, 0); break;
    case F_XZ2: c_xz(&b, d, h, 0); c_xz(&b, d + h, n - h, 0); break;
    case F_LZMA: c_xz(&b, d, n, 1); break;
    case F_LZ4: c_lz4(&b, d, n, 0, 1); break;
    case F_LZ4I: c_lz4(&b, d, n, 1, 0); break;
    case F_LZ42: c_lz4(&b, d, h, 0, 0); c_lz4(&b, d + h, n - h, 1, 1); break;
    case F_ZSTD: c_zstd(&b, d, n); break;
    case F_ZSTD2: c_zstd(&b, d, h); c_zstd(&b, d + h, n - h); break;
    case F_ZF: {
        char hdr[32];
        snprintf(hdr, sizeof hdr, "ZF%#-19zx", n);
        buf_add(&b, hdr, 21);
        c_deflate(&b, d, n, 15);
        break;
    }
    }
    return b;
}

static enum mfs_decomp_kind kind_of(int f)
{
    switch (f) {
    case F_ZLIB: return MFS_DECOMP_ZLIB;
    case F_GZIP: case F_GZIP2: return MFS_DECOMP_GZIP;
    case F_BZ2: case F_BZ22: return MFS_DECOMP_BZ2;
    case F_XZ: case F_XZ2: return MFS_DECOMP_XZ;
    case F_LZMA: return MFS_DECOMP_LZMA;
    case F_LZ4: case F_LZ4I: case F_LZ42: return MFS_DECOMP_LZ4;
    case F_ZSTD: case F_ZSTD2: return MFS_DECOMP_ZSTD;
    default: return MFS_DECOMP_ZF;
    }
}

static void check_read(mfs_src *s, const unsigned char *d, uint64_t off, size_t len)
{
    unsigned char *got = malloc(len + 1);
    mfs_err e;
    mfs_err_clear(&e);
    int64_t r = mfs_src_read(s, got, len, off, &e);
    size_t want = off >= DATA_LEN ? 0 : (DATA_LEN - off < len ? DATA_LEN - off : len);
    if (r != (int64_t)want) fprintf(stderr, "read at %llu: %lld (%s)\n", (unsigned long long)off, (long long)r, e.msg);
    MFS_ASSERT_EQ_U(r, want);
    MFS_ASSERT(memcmp(got, d + off, want) == 0);
    free(got);
}

/* The whole round trip for form @f; @min_cp: checkpoints expected. */
static void roundtrip(int f, size_t min_cp)
{
    unsigned char *d = make_data(DATA_LEN, 7u + (uint32_t)f);
    struct buf b = compress_form(f, d, DATA_LEN);
    MFS_ASSERT_EQ_U(mfs_decomp_detect(b.p, b.n), kind_of(f));

    /* peek from memory: the first bytes */
    unsigned char head[3000];
    MFS_ASSERT_EQ_U(mfs_decomp_peek_mem(b.p, b.n, kind_of(f), head, sizeof head), sizeof head);
    MFS_ASSERT(memcmp(head, d, sizeof head) == 0);

    mfs_err e;
    mfs_err_clear(&e);
    mfs_src *mem = mfs_src_new_mem(b.p, b.n, 0, "mem");
    MFS_ASSERT_EQ_U(mfs_decomp_peek(mem, 0, b.n, kind_of(f), head, sizeof head, 1 << 20, &e), sizeof head);
    MFS_ASSERT(memcmp(head, d, sizeof head) == 0);

    mfs_src *s = mfs_decomp_open(mem, 0, b.n, kind_of(f), 0, &e);
    if (!s) fprintf(stderr, "open: %s\n", e.msg);
    MFS_ASSERT(s);
    MFS_ASSERT_EQ_U(s->size, DATA_LEN);
    MFS_ASSERT_EQ_U(mfs_decomp_kind_of(s), kind_of(f));
    struct mfs_decomp_stats st;
    MFS_ASSERT(mfs_decomp_get_stats(s, &st) == MFS_OK);
    fprintf(stderr, "%s: %zu -> %llu bytes, %zu checkpoints\n", mfs_decomp_name(kind_of(f)), b.n,
            (unsigned long long)st.out_size, st.checkpoints);
    MFS_ASSERT(st.checkpoints >= min_cp);

    /* start, middle, end, across chunk borders, backwards */
    check_read(s, d, 0, 100);
    check_read(s, d, DATA_LEN / 2, 70000);
    check_read(s, d, DATA_LEN - 10, 100);
    check_read(s, d, 256 * 1024 - 5, 10);
    check_read(s, d, 3 * 1024 * 1024 + 17, 600000);
    check_read(s, d, 1, 1);
    check_read(s, d, DATA_LEN, 10);
    uint32_t x = 99;
    for (int i = 0; i < 40; i++) {
        x = x * 1664525u + 1013904223u;
        check_read(s, d, x % DATA_LEN, 1 + (x >> 20) % 5000);
    }
    /* sequential whole read */
    unsigned char *all = malloc(DATA_LEN);
    for (size_t off = 0; off < DATA_LEN; off += 131072) {
        size_t k = DATA_LEN - off < 131072 ? DATA_LEN - off : 131072;
        MFS_ASSERT_EQ_U(mfs_src_read(s, all + off, k, off, &e), k);
    }
    MFS_ASSERT(memcmp(all, d, DATA_LEN) == 0);
    free(all);
    mfs_src_unref(s);

    /* corrupt copies: flipped bytes in the middle, truncation, garbage */
    size_t cuts[] = {b.n / 2, b.n - 1, 25, 7};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        mfs_err_clear(&e);
        mfs_src *t = mfs_decomp_open(mem, 0, cuts[i], kind_of(f), 0, &e);
        MFS_ASSERT(t == NULL);
        MFS_ASSERT(e.status == MFS_FATAL && e.msg[0]);
    }
    unsigned char *bad = malloc(b.n);
    memcpy(bad, b.p, b.n);
    for (size_t k = b.n / 2; k < b.n / 2 + 64; k++) bad[k] ^= 0x5A;
    mfs_src *badsrc = mfs_src_new_mem(bad, b.n, 0, "bad");
    mfs_err_clear(&e);
    mfs_src *t = mfs_decomp_open(badsrc, 0, b.n, kind_of(f), 0, &e);
    /* a flip may land in stored/unchecked data for codecs without a
     * checksum (raw deflate inside zlib has adler32, gzip crc32, bz2 crc,
     * xz crc64, zstd's frame checksum is off by default): then the data
     * must merely differ, never crash */
    if (t) {
        unsigned char *o = malloc(DATA_LEN + 1);
        int64_t r = mfs_src_read(t, o, DATA_LEN, 0, &e);
        MFS_ASSERT(r < 0 || r != DATA_LEN || memcmp(o, d, DATA_LEN) != 0);
        free(o);
        mfs_src_unref(t);
    } else {
        fprintf(stderr, "corrupt: %s\n", e.msg);
        MFS_ASSERT(e.msg[0]);
    }
    mfs_src_unref(badsrc);
    free(bad);
    mfs_src_unref(mem);
    free(b.p);
    free(d);
}

MFS_TEST(test_decomp_zlib) { roundtrip(F_ZLIB, 4); }
MFS_TEST(test_decomp_gzip) { roundtrip(F_GZIP, 4); }
MFS_TEST(test_decomp_gzip_members) { roundtrip(F_GZIP2, 4); }
MFS_TEST(test_decomp_bz2) { roundtrip(F_BZ2, 1); }
MFS_TEST(test_decomp_bz2_streams) { roundtrip(F_BZ22, 2); }
MFS_TEST(test_decomp_xz) { roundtrip(F_XZ, 1); }
MFS_TEST(test_decomp_xz_streams) { roundtrip(F_XZ2, 2); }
MFS_TEST(test_decomp_lzma) { roundtrip(F_LZMA, 1); }
MFS_TEST(test_decomp_lz4_linked) { roundtrip(F_LZ4, 4); }
MFS_TEST(test_decomp_lz4_independent) { roundtrip(F_LZ4I, 4); }
MFS_TEST(test_decomp_lz4_frames) { roundtrip(F_LZ42, 4); }
MFS_TEST(test_decomp_zstd) { roundtrip(F_ZSTD, 1); }
MFS_TEST(test_decomp_zstd_frames) { roundtrip(F_ZSTD2, 2); }
MFS_TEST(test_decomp_zf) { roundtrip(F_ZF, 4); }

/* Detection of every prefix, and of things that are not compressed. */
MFS_TEST(test_decomp_detect)
{
    MFS_ASSERT_EQ_U(mfs_decomp_detect("\x78\x9c", 2), MFS_DECOMP_ZLIB);
    MFS_ASSERT_EQ_U(mfs_decomp_detect("\x78\x01", 2), MFS_DECOMP_ZLIB);
    MFS_ASSERT_EQ_U(mfs_decomp_detect("\x78\x9d", 2), MFS_DECOMP_NONE); /* bad FCHECK */
    MFS_ASSERT_EQ_U(mfs_decomp_detect("\x1f\x8b\x08", 3), MFS_DECOMP_GZIP);
    MFS_ASSERT_EQ_U(mfs_decomp_detect("BZh9", 4), MFS_DECOMP_BZ2);
    MFS_ASSERT_EQ_U(mfs_decomp_detect("BZh0", 4), MFS_DECOMP_NONE);
    MFS_ASSERT_EQ_U(mfs_decomp_detect("\xfd" "7zXZ\0", 6), MFS_DECOMP_XZ);
    MFS_ASSERT_EQ_U(mfs_decomp_detect("\x5d\0\0\x40\0\xff\xff\xff\xff\xff\xff\xff\xff", 13), MFS_DECOMP_LZMA);
    MFS_ASSERT_EQ_U(mfs_decomp_detect("\x04\x22\x4d\x18", 4), MFS_DECOMP_LZ4);
    MFS_ASSERT_EQ_U(mfs_decomp_detect("\x28\xb5\x2f\xfd", 4), MFS_DECOMP_ZSTD);
    MFS_ASSERT_EQ_U(mfs_decomp_detect("ZF0x10               \x78\x9c", 23), MFS_DECOMP_ZF);
    MFS_ASSERT_EQ_U(mfs_decomp_detect("\x80\x04\x95", 3), MFS_DECOMP_NONE);
    MFS_ASSERT_EQ_U(mfs_decomp_detect("PK\3\4", 4), MFS_DECOMP_NONE);
    MFS_ASSERT_EQ_U(mfs_decomp_detect("", 0), MFS_DECOMP_NONE);
    MFS_ASSERT_STR(mfs_decomp_name(MFS_DECOMP_XZ), "xz");
}

/* An empty input, garbage, and the decompression-bomb guard. */
MFS_TEST(test_decomp_hostile)
{
    mfs_err e;
    static const unsigned char junk[] = "\x78\x9c garbage that is not deflate at all";
    mfs_src *m = mfs_src_new_mem(junk, sizeof junk, 0, "junk");
    for (int k = MFS_DECOMP_ZLIB; k < MFS_DECOMP__COUNT; k++) {
        mfs_err_clear(&e);
        mfs_src *s = mfs_decomp_open(m, 0, sizeof junk, (enum mfs_decomp_kind)k, 0, &e);
        MFS_ASSERT(s == NULL);
        MFS_ASSERT(e.msg[0]);
        mfs_err_clear(&e);
        s = mfs_decomp_open(m, 0, 0, (enum mfs_decomp_kind)k, 0, &e);
        MFS_ASSERT(s == NULL);
        unsigned char o[16];
        MFS_ASSERT(mfs_decomp_peek_mem(junk, sizeof junk, (enum mfs_decomp_kind)k, o, sizeof o) <= 0);
    }
    mfs_src_unref(m);

    /* 64 MiB of zeros compress to ~64 KiB: with a 1 MiB limit, refused */
    size_t n = 64u << 20;
    unsigned char *z = calloc(1, n);
    struct buf b = {0};
    c_deflate(&b, z, n, 15);
    free(z);
    m = mfs_src_new_mem(b.p, b.n, 0, "bomb");
    mfs_err_clear(&e);
    MFS_ASSERT(mfs_decomp_open(m, 0, b.n, MFS_DECOMP_ZLIB, 1 << 20, &e) == NULL);
    MFS_ASSERT(strstr(e.msg, "limit") != NULL);
    mfs_src *s = mfs_decomp_open(m, 0, b.n, MFS_DECOMP_ZLIB, 0, &e);
    MFS_ASSERT(s && s->size == n);
    unsigned char o[100], zero[100] = {0};
    MFS_ASSERT_EQ_U(mfs_src_read(s, o, 100, n - 100, &e), 100);
    MFS_ASSERT(memcmp(o, zero, 100) == 0);
    mfs_src_unref(s);
    mfs_src_unref(m);
    free(b.p);
}

/* Random reads restart from checkpoints, not from the start: reading the
 * last bytes of a 5 MiB zlib stream decodes far less than 5 MiB. */
MFS_TEST(test_decomp_restart_cost)
{
    unsigned char *d = make_data(DATA_LEN, 3);
    struct buf b = compress_form(F_ZLIB, d, DATA_LEN);
    mfs_err e;
    mfs_src *m = mfs_src_new_mem(b.p, b.n, 0, "z");
    mfs_src *s = mfs_decomp_open(m, 0, b.n, MFS_DECOMP_ZLIB, 0, &e);
    MFS_ASSERT(s);
    check_read(s, d, DATA_LEN - 1000, 1000);
    struct mfs_decomp_stats st;
    MFS_ASSERT(mfs_decomp_get_stats(s, &st) == MFS_OK);
    MFS_ASSERT(st.decoded < 2u * 1024 * 1024);
    MFS_ASSERT_EQ_U(st.restarts, 1);
    mfs_src_unref(s);
    mfs_src_unref(m);
    free(b.p);
    free(d);
}

/* Many threads reading random ranges of one source at once (FUSE serves
 * reads from several threads): every byte must still be right. */
struct thr_arg {
    mfs_src *s;
    const unsigned char *d;
    uint32_t seed;
    int bad;
};

static void *reader_thread(void *p)
{
    struct thr_arg *a = p;
    unsigned char *buf = malloc(70000);
    uint32_t x = a->seed;
    for (int i = 0; i < 150; i++) {
        x = x * 1664525u + 1013904223u;
        uint64_t off = x % DATA_LEN;
        size_t len = 1 + (x >> 12) % 70000;
        mfs_err e;
        int64_t r = mfs_src_read(a->s, buf, len, off, &e);
        size_t want = DATA_LEN - off < len ? DATA_LEN - off : len;
        if (r != (int64_t)want || memcmp(buf, a->d + off, want) != 0) a->bad++;
    }
    free(buf);
    return NULL;
}

MFS_TEST(test_decomp_threads)
{
    int forms[2] = {F_GZIP, F_LZ4};
    for (int k = 0; k < 2; k++) {
        unsigned char *d = make_data(DATA_LEN, 11);
        struct buf b = compress_form(forms[k], d, DATA_LEN);
        mfs_err e;
        mfs_src *m = mfs_src_new_mem(b.p, b.n, 0, "t");
        mfs_src *s = mfs_decomp_open(m, 0, b.n, kind_of(forms[k]), 0, &e);
        MFS_ASSERT(s);
        pthread_t th[4];
        struct thr_arg args[4];
        for (int i = 0; i < 4; i++) {
            args[i] = (struct thr_arg){s, d, 1000u + (uint32_t)i, 0};
            MFS_ASSERT(pthread_create(&th[i], NULL, reader_thread, &args[i]) == 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            MFS_ASSERT_EQ_U(args[i].bad, 0);
        }
        mfs_src_unref(s);
        mfs_src_unref(m);
        free(b.p);
        free(d);
    }
}
