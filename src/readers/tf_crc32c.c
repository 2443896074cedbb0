/* tf_crc32c.c: CRC-32C with runtime dispatch (see tf_crc32c.h).
 *
 * Representation: a CRC register is a polynomial over GF(2) of degree < 32
 * in *reflected* bit order (bit 31 is x^0), reduced modulo the Castagnoli
 * polynomial 0x82f63b78 (reflected 0x1edc6f41). The standard CRC of a
 * string is ~R(~0, data), where R(c, data) is the raw register after
 * feeding data into register c; the SSE4.2 `crc32` instruction computes R
 * eight bytes at a time, with no inversions.
 *
 * R is affine in its first argument: R(c, A||B) = R(c, A) * x^(8|B|) +
 * R(0, B). That gives both tricks used here:
 *  - three-way interleaving: the crc32 instruction has a latency of 3
 *    cycles but a throughput of 1, so three independent streams over three
 *    adjacent blocks run about three times faster than one; the block
 *    results are stitched with a multiplication by x^(8*BLK), done by four
 *    table lookups (the map is linear, so 4 x 256 entries cover it);
 *  - combining CRCs of adjacent ranges without their bytes (zlib's
 *    crc32_combine, with multmodp/x2nmodp written for this polynomial).
 * Without SSE4.2, a slicing-by-8 table does 8 bytes per step. */
#include "readers/tf_crc32c.h"
#include <pthread.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define TF_HAVE_X86 1
#endif

#define POLY 0x82f63b78u

static uint32_t tab8[8][256];       /* slicing-by-8 */
static uint32_t x2n[72];            /* x^(2^k) mod P */
static int have_sse42;
static int force_table;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* a*b mod P, both reflected (x^0 = bit 31). */
static uint32_t multmodp(uint32_t a, uint32_t b)
{
    uint32_t m = 1u << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0) break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ POLY : b >> 1;
    }
    return p;
}

/* x^(n * 2^k) mod P. */
static uint32_t x2nmodp(uint64_t n, unsigned k)
{
    uint32_t p = 1u << 31; /* x^0 */
    while (n) {
        if (n & 1) p = multmodp(x2n[k < 72 ? k : 71], p);
        n >>= 1;
        k++;
    }
    return p;
}

#ifdef TF_HAVE_X86
/* Multiplication by x^(8*BLK) as four 256-entry tables, for two block
 * sizes: the big one for long runs, the small one for the tail. */
#define BLK_L 4096
#define BLK_S 256
static uint32_t shl_l[4][256], shl_s[4][256];

static void make_shift(uint32_t t[4][256], uint32_t k)
{
    for (int i = 0; i < 4; i++)
        for (uint32_t b = 0; b < 256; b++) t[i][b] = multmodp(k, b << (8 * i));
}

static inline uint32_t shift(const uint32_t t[4][256], uint32_t c)
{
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Three streams over [p, p+blk), [p+blk, p+2blk), [p+2blk, p+3blk). */
__attribute__((target("sse4.2"))) static inline uint32_t
three_way(uint32_t c, const unsigned char *p, size_t blk, const uint32_t t[4][256])
{
    uint64_t c0 = c, c1 = 0, c2 = 0;
    const unsigned char *end = p + blk;
    do {
        c0 = _mm_crc32_u64(c0, load64(p));
        c1 = _mm_crc32_u64(c1, load64(p + blk));
        c2 = _mm_crc32_u64(c2, load64(p + 2 * blk));
        p += 8;
    } while (p < end);
    uint32_t r = shift(t, (uint32_t)c0) ^ (uint32_t)c1;
    return shift(t, r) ^ (uint32_t)c2;
}

__attribute__((target("sse4.2"))) static uint32_t raw_hw(uint32_t c, const unsigned char *p,
                                                         size_t n)
{
    while (n && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8(c, *p++);
        n--;
    }
    while (n >= 3 * BLK_L) {
        c = three_way(c, p, BLK_L, shl_l);
        p += 3 * BLK_L;
        n -= 3 * BLK_L;
    }
    while (n >= 3 * BLK_S) {
        c = three_way(c, p, BLK_S, shl_s);
        p += 3 * BLK_S;
        n -= 3 * BLK_S;
    }
    uint64_t c64 = c;
    while (n >= 8) {
        c64 = _mm_crc32_u64(c64, load64(p));
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--) c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

static uint32_t raw_table(uint32_t c, const unsigned char *p, size_t n)
{
    while (n && ((uintptr_t)p & 7)) {
        c = tab8[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        n--;
    }
    while (n >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        c = tab8[7][lo & 0xff] ^ tab8[6][(lo >> 8) & 0xff] ^ tab8[5][(lo >> 16) & 0xff] ^
            tab8[4][lo >> 24] ^ tab8[3][p[4]] ^ tab8[2][p[5]] ^ tab8[1][p[6]] ^ tab8[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) c = tab8[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

static void init(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        tab8[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int s = 1; s < 8; s++) tab8[s][b] = tab8[0][tab8[s - 1][b] & 0xff] ^ (tab8[s - 1][b] >> 8);
    x2n[0] = 1u << 30; /* x^1 */
    for (int k = 1; k < 72; k++) x2n[k] = multmodp(x2n[k - 1], x2n[k - 1]);
#ifdef TF_HAVE_X86
    __builtin_cpu_init();
    have_sse42 = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    if (have_sse42) {
        make_shift(shl_l, x2nmodp(BLK_L, 3));
        make_shift(shl_s, x2nmodp(BLK_S, 3));
    }
#endif
}

uint32_t mfs_crc32c_extend(uint32_t crc, const void *buf, size_t n)
{
    pthread_once(&once, init);
    uint32_t c = ~crc;
#ifdef TF_HAVE_X86
    if (have_sse42 && !force_table) return ~raw_hw(c, buf, n);
#endif
    return ~raw_table(c, buf, n);
}

uint32_t mfs_crc32c(const void *buf, size_t n) { return mfs_crc32c_extend(0, buf, n); }

uint32_t mfs_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    pthread_once(&once, init);
    return multmodp(x2nmodp(len_b, 3), crc_a) ^ crc_b;
}

const char *mfs_crc32c_impl(void)
{
    pthread_once(&once, init);
    return have_sse42 && !force_table ? "sse4.2" : "table";
}

void mfs_crc32c_force_table(int on)
{
    pthread_once(&once, init);
    force_table = on;
}
