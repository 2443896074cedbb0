/* Unit tests of the dtype table (src/core/dtype.c). */
#include "mfs_test.h"
#include "core/dtype.h"
#include <math.h>

MFS_TEST(test_dtype_names_roundtrip)
{
    for (int i = 1; i < MFS_DT__COUNT; i++) {
        const struct mfs_dtype_info *in = mfs_dtype_get((mfs_dtype)i);
        MFS_ASSERT_EQ_U(in->id, i);
        MFS_ASSERT_EQ_U(mfs_dtype_by_name(in->name), i);
        MFS_ASSERT(in->itemsize > 0);
    }
    MFS_ASSERT_EQ_U(mfs_dtype_by_name("nope"), MFS_DT_INVALID);
}

MFS_TEST(test_dtype_sizes)
{
    MFS_ASSERT_EQ_U(mfs_dtype_get(MFS_DT_F32)->itemsize, 4);
    MFS_ASSERT_EQ_U(mfs_dtype_get(MFS_DT_BF16)->itemsize, 2);
    MFS_ASSERT_EQ_U(mfs_dtype_get(MFS_DT_C128)->itemsize, 16);
    MFS_ASSERT_EQ_U(mfs_dtype_nbytes(MFS_DT_F64, 10), 80);
    MFS_ASSERT_EQ_U(mfs_dtype_nbytes(MFS_DT_Q8_0, 64), 68); /* 2 blocks of 34 */
    MFS_ASSERT_EQ_U(mfs_dtype_nbytes(MFS_DT_Q8_0, 33), UINT64_MAX);
    MFS_ASSERT_EQ_U(mfs_dtype_nbytes(MFS_DT_F64, UINT64_MAX / 4), UINT64_MAX);
}

MFS_TEST(test_dtype_npy_descr)
{
    int swap;
    MFS_ASSERT_EQ_U(mfs_dtype_by_npy_descr("<f4", &swap), MFS_DT_F32);
    MFS_ASSERT_EQ_U(swap, 0);
    MFS_ASSERT_EQ_U(mfs_dtype_by_npy_descr(">i8", &swap), MFS_DT_I64);
    MFS_ASSERT_EQ_U(swap, 1);
    MFS_ASSERT_EQ_U(mfs_dtype_by_npy_descr("|b1", &swap), MFS_DT_BOOL);
    MFS_ASSERT_EQ_U(mfs_dtype_by_npy_descr(">u1", &swap), MFS_DT_U8);
    MFS_ASSERT_EQ_U(swap, 0); /* one byte: nothing to swap */
    MFS_ASSERT_EQ_U(mfs_dtype_by_npy_descr("<c16", &swap), MFS_DT_C128);
    MFS_ASSERT_EQ_U(mfs_dtype_by_npy_descr("<U10", &swap), MFS_DT_INVALID);
    MFS_ASSERT_EQ_U(mfs_dtype_by_npy_descr("|O", &swap), MFS_DT_INVALID);
}

MFS_TEST(test_dtype_half_conversions)
{
    MFS_ASSERT(mfs_f16_to_double(0x3c00) == 1.0);
    MFS_ASSERT(mfs_f16_to_double(0xc000) == -2.0);
    MFS_ASSERT(mfs_f16_to_double(0x7bff) == 65504.0);
    MFS_ASSERT(mfs_f16_to_double(0x0001) == ldexp(1, -24));
    MFS_ASSERT(isinf(mfs_f16_to_double(0x7c00)));
    MFS_ASSERT(isnan(mfs_f16_to_double(0x7e00)));
    MFS_ASSERT(mfs_bf16_to_double(0x3f80) == 1.0);
    MFS_ASSERT(mfs_bf16_to_double(0xc040) == -3.0);
    MFS_ASSERT(mfs_f8_e4m3fn_to_double(0x38) == 1.0);
    MFS_ASSERT(mfs_f8_e4m3fn_to_double(0x7e) == 448.0);
    MFS_ASSERT(isnan(mfs_f8_e4m3fn_to_double(0x7f)));
    MFS_ASSERT(mfs_f8_e5m2_to_double(0x3c) == 1.0);
}

/* Every element of every type formats to exactly its width. */
MFS_TEST(test_dtype_format_fixed_width)
{
    unsigned char buf[16];
    char out[128];
    for (int i = 1; i < MFS_DT__COUNT; i++) {
        const struct mfs_dtype_info *in = mfs_dtype_get((mfs_dtype)i);
        if (in->kind == MFS_DK_OPAQUE) continue;
        for (int pat = 0; pat < 4; pat++) {
            memset(buf, pat == 0 ? 0x00 : pat == 1 ? 0xff : pat == 2 ? 0x7f : 0x80, sizeof buf);
            if (pat == 2) buf[0] = 0xfe; /* large finite values in LE */
            memset(out, 0, sizeof out);
            mfs_dtype_format((mfs_dtype)i, buf, out);
            MFS_ASSERT_EQ_U(strlen(out), in->values_width);
        }
    }
    double d = -1.7976931348623157e308;
    mfs_dtype_format(MFS_DT_F64, &d, out);
    out[24] = 0;
    MFS_ASSERT_STR(out, "-1.7976931348623157e+308");
    float f = 0.5f;
    mfs_dtype_format(MFS_DT_F32, &f, out);
    out[15] = 0;
    MFS_ASSERT_STR(out, "+5.00000000e-01");
    int64_t m = INT64_MIN;
    mfs_dtype_format(MFS_DT_I64, &m, out);
    out[20] = 0;
    MFS_ASSERT_STR(out, "-9223372036854775808");
    float c[2] = {1.0f, -2.0f};
    mfs_dtype_format(MFS_DT_C64, c, out);
    out[34] = 0;
    MFS_ASSERT_STR(out, "(+1.00000000e+00,-2.00000000e+00j)");
}
