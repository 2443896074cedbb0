/* tf_crc32c.h: CRC-32C (Castagnoli), as TensorFlow and LevelDB use it
 * (private to src/).
 *
 * Every block of a TF .index table and every tensor of a bundle carries a
 * *masked* CRC-32C. mfs_crc32c_extend() runs on the SSE4.2 crc32
 * instruction when the CPU has it (chosen once at run time), three
 * independent streams at a time, else on a slicing-by-8 table. CRCs of
 * adjacent ranges combine without the data (mfs_crc32c_combine), which is
 * what lets tensor reads arriving in any order be checked piecewise. */
#ifndef MFS_TF_CRC32C_H
#define MFS_TF_CRC32C_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include <stddef.h>
#include <stdint.h>

/** mfs_crc32c_extend() : the CRC-32C of (the bytes @crc was computed on)
 *  followed by @n bytes at @buf; start with @crc = 0. Thread-safe, never
 *  fails. */
uint32_t mfs_crc32c_extend(uint32_t crc, const void *buf, size_t n);

/** mfs_crc32c() : CRC-32C of @n bytes (mfs_crc32c_extend(0, ...)). */
uint32_t mfs_crc32c(const void *buf, size_t n);

/** mfs_crc32c_combine() : CRC of A||B from crc(A), crc(B) and |B|. */
uint32_t mfs_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

/** LevelDB/TF masking: rotate right 15 bits, add 0xa282ead8. */
static inline uint32_t mfs_crc32c_mask(uint32_t c)
{
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}
static inline uint32_t mfs_crc32c_unmask(uint32_t m)
{
    uint32_t r = m - 0xa282ead8u;
    return (r >> 17) | (r << 15);
}

/** mfs_crc32c_impl() : "sse4.2" or "table": what extend() runs on. */
const char *mfs_crc32c_impl(void);

/** mfs_crc32c_force_table() : 1 makes extend() use the table even when
 *  the CPU has SSE4.2 (tests compare the two); 0 restores the default. */
void mfs_crc32c_force_table(int on);
#endif
