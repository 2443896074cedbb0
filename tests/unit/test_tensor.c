/* Unit tests of tensor locators and reads (src/core/tensor.c), over
 * memory sources and a hostile source returning short reads. */
#include "mfs_test.h"
#include "core/tree.h"
#include <errno.h>
#include <stdint.h>

static mfs_tensor *mk(mfs_tree *t, mfs_dtype dt, int nd, const uint64_t *shape)
{
    mfs_err e;
    mfs_tensor *x = mfs_tree_tensor_new(t);
    x->dtype = dt;
    MFS_ASSERT(mfs_tensor_set_shape(x, nd, shape, &e) == MFS_OK);
    return x;
}

MFS_TEST(test_tensor_plain_and_bounds)
{
    unsigned char bytes[64];
    for (int i = 0; i < 64; i++) bytes[i] = (unsigned char)i;
    mfs_src *s = mfs_src_new_mem(bytes, sizeof bytes, 1, "mem");
    mfs_tree *t = mfs_tree_new();
    uint64_t sh[2] = {2, 4};
    mfs_tensor *x = mk(t, MFS_DT_F32, 2, sh);
    mfs_err e;
    MFS_ASSERT_EQ_U(x->nbytes, 32);
    MFS_ASSERT(mfs_tensor_set_plain(x, s, 40, 0, &e) == MFS_FATAL); /* 40+32 > 64 */
    MFS_ASSERT(mfs_tensor_set_plain(x, s, 16, 0, &e) == MFS_OK);
    unsigned char out[40];
    MFS_ASSERT(mfs_tensor_read(x, 3, out, 40, &e) == 29); /* clipped */
    MFS_ASSERT(out[0] == 19 && out[28] == 47);
    MFS_ASSERT(mfs_tensor_read(x, 32, out, 4, &e) == 0);
    mfs_tree_free(t);
    mfs_src_unref(s);
}

MFS_TEST(test_tensor_byteswap_unaligned)
{
    uint16_t be[4] = {0x0100, 0x0200, 0x0300, 0x0400}; /* 1,2,3,4 big-endian on LE host */
    mfs_src *s = mfs_src_new_mem(be, sizeof be, 1, "mem");
    mfs_tree *t = mfs_tree_new();
    uint64_t sh[1] = {4};
    mfs_tensor *x = mk(t, MFS_DT_I16, 1, sh);
    mfs_err e;
    MFS_ASSERT(mfs_tensor_set_plain(x, s, 0, 1, &e) == MFS_OK);
    MFS_ASSERT(x->enc == MFS_ENC_BYTESWAP);
    unsigned char out[8];
    MFS_ASSERT(mfs_tensor_read(x, 0, out, 8, &e) == 8);
    MFS_ASSERT(out[0] == 1 && out[1] == 0 && out[6] == 4 && out[7] == 0);
    MFS_ASSERT(mfs_tensor_read(x, 3, out, 3, &e) == 3); /* odd start and end */
    MFS_ASSERT(out[0] == 0 && out[1] == 3 && out[2] == 0);
    mfs_tree_free(t);
    mfs_src_unref(s);
}

/* A Fortran-order 3x4 float32 matrix reads back in C order. */
MFS_TEST(test_tensor_strided_fortran)
{
    float st[12];
    for (int j = 0; j < 4; j++)
        for (int i = 0; i < 3; i++) st[j * 3 + i] = (float)(i * 10 + j); /* F order */
    mfs_src *s = mfs_src_new_mem(st, sizeof st, 1, "mem");
    mfs_tree *t = mfs_tree_new();
    uint64_t sh[2] = {3, 4};
    int64_t strides[2] = {1, 3};
    mfs_tensor *x = mk(t, MFS_DT_F32, 2, sh);
    mfs_err e;
    MFS_ASSERT(mfs_tensor_set_strided(x, s, 0, 12, 0, strides, 0, &e) == MFS_OK);
    MFS_ASSERT(x->enc == MFS_ENC_STRIDED);
    float out[12];
    MFS_ASSERT(mfs_tensor_read(x, 0, out, sizeof out, &e) == (int64_t)sizeof out);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) MFS_ASSERT(out[i * 4 + j] == (float)(i * 10 + j));
    float one;
    MFS_ASSERT(mfs_tensor_read(x, 5 * 4, &one, 4, &e) == 4); /* element (1,1) */
    MFS_ASSERT(one == 11.0f);
    /* a view reaching past its storage is refused */
    int64_t bad[2] = {1, 4};
    MFS_ASSERT(mfs_tensor_set_strided(x, s, 0, 12, 0, bad, 0, &e) == MFS_FATAL);
    /* a contiguous view becomes PLAIN at the storage offset */
    uint64_t sh2[1] = {4};
    int64_t st2[1] = {1};
    mfs_tensor *y = mk(t, MFS_DT_F32, 1, sh2);
    MFS_ASSERT(mfs_tensor_set_strided(y, s, 0, 12, 3, st2, 0, &e) == MFS_OK);
    MFS_ASSERT(y->enc == MFS_ENC_PLAIN && y->offset == 12);
    mfs_tree_free(t);
    mfs_src_unref(s);
}

/* A source that returns at most 3 bytes per pread (libarchive's
 * read_open_memory.c), and one that claims more bytes than it has. */
static int64_t stingy(mfs_src *s, void *buf, size_t len, uint64_t off, mfs_err *e)
{
    size_t have = (size_t)(uintptr_t)s->ctx;
    if (off >= have) return 0;
    if (len > 3) len = 3;
    if (len > have - off) len = (size_t)(have - off);
    for (size_t i = 0; i < len; i++) ((char *)buf)[i] = (char)('a' + (off + i) % 26);
    return (int64_t)len;
}
static const struct mfs_src_ops stingy_ops = {stingy, NULL};

MFS_TEST(test_tensor_short_reads)
{
    mfs_src *s = mfs_src_new_custom(&stingy_ops, (void *)(uintptr_t)32, 32, "stingy");
    mfs_tree *t = mfs_tree_new();
    uint64_t sh[1] = {8};
    mfs_tensor *x = mk(t, MFS_DT_I32, 1, sh);
    mfs_err e;
    MFS_ASSERT(mfs_tensor_set_plain(x, s, 0, 0, &e) == MFS_OK);
    char out[32];
    MFS_ASSERT(mfs_tensor_read(x, 0, out, 32, &e) == 32); /* short reads are retried */
    MFS_ASSERT(out[0] == 'a' && out[31] == 'a' + 31 % 26);
    mfs_src_unref(s);
    /* a source whose bytes end before its size: EIO, never garbage */
    s = mfs_src_new_custom(&stingy_ops, (void *)(uintptr_t)20, 32, "liar");
    MFS_ASSERT(mfs_tensor_set_plain(x, s, 0, 0, &e) == MFS_OK);
    MFS_ASSERT(mfs_tensor_read(x, 0, out, 32, &e) == -1);
    MFS_ASSERT(strstr(e.msg, "truncated") != NULL && e.errnum == EIO);
    mfs_tree_free(t);
    mfs_src_unref(s);
}

MFS_TEST(test_tensor_shape_overflow)
{
    mfs_tree *t = mfs_tree_new();
    mfs_tensor *x = mfs_tree_tensor_new(t);
    x->dtype = MFS_DT_F64;
    uint64_t sh[3] = {1ull << 40, 1ull << 30, 2};
    mfs_err e;
    MFS_ASSERT(mfs_tensor_set_shape(x, 3, sh, &e) == MFS_FATAL);
    MFS_ASSERT(mfs_tensor_set_shape(x, 33, sh, &e) == MFS_FATAL);
    uint64_t ok[1] = {0};
    MFS_ASSERT(mfs_tensor_set_shape(x, 1, ok, &e) == MFS_OK && x->nbytes == 0);
    mfs_tree_free(t);
}

/* Big-endian complex: each half is swapped on its own. */
MFS_TEST(test_tensor_byteswap_complex)
{
    unsigned char be[8] = {0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0}; /* (1.0, -2.0) as >c8 */
    mfs_src *s = mfs_src_new_mem(be, sizeof be, 1, "mem");
    mfs_tree *t = mfs_tree_new();
    uint64_t sh[1] = {1};
    mfs_tensor *x = mk(t, MFS_DT_C64, 1, sh);
    mfs_err e;
    MFS_ASSERT(mfs_tensor_set_plain(x, s, 0, 1, &e) == MFS_OK);
    float out[2];
    MFS_ASSERT(mfs_tensor_read(x, 0, out, 8, &e) == 8);
    MFS_ASSERT(out[0] == 1.0f && out[1] == -2.0f);
    mfs_tree_free(t);
    mfs_src_unref(s);
}
