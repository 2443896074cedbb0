/* dtype.c: the dtype table and element conversions (see dtype.h).
 *
 * values_width is the fixed width of one element in the `values` view:
 * wide enough for the longest text of that type, so that the view's size
 * and the element at any byte offset follow from arithmetic alone.
 *   ints: digits of the extreme value with sign (int64: 20)
 *   float16 %+.4e -> "-6.5504e+04" (11), bfloat16/float8 %+.3e (10),
 *   float32 %+.8e (15: 2-digit exponents suffice up to 3.4e38),
 *   float64 %+.16e with a 3-digit exponent (24),
 *   complex: "(re,im)" of two floats.
 * Precision is what round-trips the type (9 significant digits for
 * float32, 17 for float64). */
#include "core/dtype.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define T(id, name, descr, size, blk, kind, w) {id, name, descr, size, blk, kind, w}
static const struct mfs_dtype_info table[MFS_DT__COUNT] = {
    T(MFS_DT_INVALID, "invalid", "|V1", 1, 1, MFS_DK_OPAQUE, 0),
    T(MFS_DT_BOOL, "bool", "|b1", 1, 1, MFS_DK_BOOL, 1),
    T(MFS_DT_U8, "uint8", "|u1", 1, 1, MFS_DK_UINT, 3),
    T(MFS_DT_I8, "int8", "|i1", 1, 1, MFS_DK_INT, 4),
    T(MFS_DT_U16, "uint16", "<u2", 2, 1, MFS_DK_UINT, 5),
    T(MFS_DT_I16, "int16", "<i2", 2, 1, MFS_DK_INT, 6),
    T(MFS_DT_U32, "uint32", "<u4", 4, 1, MFS_DK_UINT, 10),
    T(MFS_DT_I32, "int32", "<i4", 4, 1, MFS_DK_INT, 11),
    T(MFS_DT_U64, "uint64", "<u8", 8, 1, MFS_DK_UINT, 20),
    T(MFS_DT_I64, "int64", "<i8", 8, 1, MFS_DK_INT, 20),
    T(MFS_DT_F16, "float16", "<f2", 2, 1, MFS_DK_FLOAT, 11),
    T(MFS_DT_BF16, "bfloat16", "<V2", 2, 1, MFS_DK_FLOAT, 10),
    T(MFS_DT_F32, "float32", "<f4", 4, 1, MFS_DK_FLOAT, 15),
    T(MFS_DT_F64, "float64", "<f8", 8, 1, MFS_DK_FLOAT, 24),
    T(MFS_DT_C64, "complex64", "<c8", 8, 1, MFS_DK_COMPLEX, 34),
    T(MFS_DT_C128, "complex128", "<c16", 16, 1, MFS_DK_COMPLEX, 52),
    T(MFS_DT_F8_E4M3FN, "float8_e4m3fn", "|V1", 1, 1, MFS_DK_FLOAT, 10),
    T(MFS_DT_F8_E5M2, "float8_e5m2", "|V1", 1, 1, MFS_DK_FLOAT, 10),
    T(MFS_DT_F8_E4M3FNUZ, "float8_e4m3fnuz", "|V1", 1, 1, MFS_DK_OPAQUE, 0),
    T(MFS_DT_F8_E5M2FNUZ, "float8_e5m2fnuz", "|V1", 1, 1, MFS_DK_OPAQUE, 0),
    T(MFS_DT_F8_E8M0, "float8_e8m0fnu", "|V1", 1, 1, MFS_DK_OPAQUE, 0),
    T(MFS_DT_QINT8, "qint8", "|i1", 1, 1, MFS_DK_INT, 4),
    T(MFS_DT_QUINT8, "quint8", "|u1", 1, 1, MFS_DK_UINT, 3),
    T(MFS_DT_QINT32, "qint32", "<i4", 4, 1, MFS_DK_INT, 11),
    /* GGML blocks (ggml/src/ggml-common.h): bytes per block, elements per block */
    T(MFS_DT_Q4_0, "q4_0", "|u1", 18, 32, MFS_DK_OPAQUE, 0),
    T(MFS_DT_Q4_1, "q4_1", "|u1", 20, 32, MFS_DK_OPAQUE, 0),
    T(MFS_DT_Q5_0, "q5_0", "|u1", 22, 32, MFS_DK_OPAQUE, 0),
    T(MFS_DT_Q5_1, "q5_1", "|u1", 24, 32, MFS_DK_OPAQUE, 0),
    T(MFS_DT_Q8_0, "q8_0", "|u1", 34, 32, MFS_DK_OPAQUE, 0),
    T(MFS_DT_Q8_1, "q8_1", "|u1", 36, 32, MFS_DK_OPAQUE, 0),
    T(MFS_DT_Q2_K, "q2_K", "|u1", 84, 256, MFS_DK_OPAQUE, 0),
    T(MFS_DT_Q3_K, "q3_K", "|u1", 110, 256, MFS_DK_OPAQUE, 0),
    T(MFS_DT_Q4_K, "q4_K", "|u1", 144, 256, MFS_DK_OPAQUE, 0),
    T(MFS_DT_Q5_K, "q5_K", "|u1", 176, 256, MFS_DK_OPAQUE, 0),
    T(MFS_DT_Q6_K, "q6_K", "|u1", 210, 256, MFS_DK_OPAQUE, 0),
    T(MFS_DT_Q8_K, "q8_K", "|u1", 292, 256, MFS_DK_OPAQUE, 0),
};
#undef T

const struct mfs_dtype_info *mfs_dtype_get(mfs_dtype dt)
{
    if ((unsigned)dt >= MFS_DT__COUNT) dt = MFS_DT_INVALID;
    return &table[dt];
}

mfs_dtype mfs_dtype_by_name(const char *name)
{
    for (int i = 1; i < MFS_DT__COUNT; i++)
        if (strcmp(table[i].name, name) == 0) return (mfs_dtype)i;
    return MFS_DT_INVALID;
}

mfs_dtype mfs_dtype_by_npy_descr(const char *d, int *swap)
{
    if (swap) *swap = 0;
    if (!d || strlen(d) < 3) return MFS_DT_INVALID;
    char order = d[0];
    if (order != '<' && order != '>' && order != '|' && order != '=') return MFS_DT_INVALID;
    const char *k = d + 1;
    static const struct { const char *k; mfs_dtype dt; } map[] = {
        {"b1", MFS_DT_BOOL}, {"u1", MFS_DT_U8}, {"i1", MFS_DT_I8},
        {"u2", MFS_DT_U16}, {"i2", MFS_DT_I16}, {"u4", MFS_DT_U32},
        {"i4", MFS_DT_I32}, {"u8", MFS_DT_U64}, {"i8", MFS_DT_I64},
        {"f2", MFS_DT_F16}, {"f4", MFS_DT_F32}, {"f8", MFS_DT_F64},
        {"c8", MFS_DT_C64}, {"c16", MFS_DT_C128},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(k, map[i].k) != 0) continue;
        if (swap && order == '>' && table[map[i].dt].itemsize > 1) *swap = 1;
        return map[i].dt;
    }
    return MFS_DT_INVALID;
}

uint64_t mfs_dtype_nbytes(mfs_dtype dt, uint64_t nelems)
{
    const struct mfs_dtype_info *in = mfs_dtype_get(dt);
    if (in->block > 1) {
        if (nelems % in->block) return UINT64_MAX;
        nelems /= in->block;
    }
    if (in->itemsize && nelems > UINT64_MAX / in->itemsize) return UINT64_MAX;
    return nelems * in->itemsize;
}

double mfs_f16_to_double(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    double v;
    if (exp == 0) v = ldexp(man, -24);
    else if (exp == 31) v = man ? NAN : INFINITY;
    else v = ldexp(man + 1024, exp - 25);
    return sign ? -v : v;
}

double mfs_bf16_to_double(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

double mfs_f8_e4m3fn_to_double(uint8_t v)
{
    int sign = v >> 7, exp = (v >> 3) & 0xf, man = v & 7;
    double r;
    if (exp == 15 && man == 7) return NAN; /* e4m3fn: no inf, one NaN */
    if (exp == 0) r = ldexp(man, -9);
    else r = ldexp(man + 8, exp - 10);
    return sign ? -r : r;
}

double mfs_f8_e5m2_to_double(uint8_t v)
{
    return mfs_f16_to_double((uint16_t)(v << 8)); /* e5m2 = top byte of f16 */
}

#define LD(T, p) ({ T x_; memcpy(&x_, (p), sizeof x_); x_; })

double mfs_dtype_to_double(mfs_dtype dt, const void *p, double *imag)
{
    if (imag) *imag = 0;
    switch (dt) {
    case MFS_DT_BOOL: return *(const uint8_t *)p != 0;
    case MFS_DT_U8: case MFS_DT_QUINT8: return *(const uint8_t *)p;
    case MFS_DT_I8: case MFS_DT_QINT8: return *(const int8_t *)p;
    case MFS_DT_U16: return LD(uint16_t, p);
    case MFS_DT_I16: return LD(int16_t, p);
    case MFS_DT_U32: return LD(uint32_t, p);
    case MFS_DT_I32: case MFS_DT_QINT32: return LD(int32_t, p);
    case MFS_DT_U64: return (double)LD(uint64_t, p);
    case MFS_DT_I64: return (double)LD(int64_t, p);
    case MFS_DT_F16: return mfs_f16_to_double(LD(uint16_t, p));
    case MFS_DT_BF16: return mfs_bf16_to_double(LD(uint16_t, p));
    case MFS_DT_F32: return LD(float, p);
    case MFS_DT_F64: return LD(double, p);
    case MFS_DT_C64:
        if (imag) *imag = LD(float, (const char *)p + 4);
        return LD(float, p);
    case MFS_DT_C128:
        if (imag) *imag = LD(double, (const char *)p + 8);
        return LD(double, p);
    case MFS_DT_F8_E4M3FN: return mfs_f8_e4m3fn_to_double(*(const uint8_t *)p);
    case MFS_DT_F8_E5M2: return mfs_f8_e5m2_to_double(*(const uint8_t *)p);
    default: return NAN;
    }
}

/* Formats a float with @prec digits after the point into exactly @w
 * characters, right-aligned; nan/inf spelled as numpy does. */
static void fmt_float(double v, int prec, unsigned w, char *out)
{
    char tmp[64];
    if (isnan(v)) snprintf(tmp, sizeof tmp, "nan");
    else if (isinf(v)) snprintf(tmp, sizeof tmp, v < 0 ? "-inf" : "inf");
    else snprintf(tmp, sizeof tmp, "%+.*e", prec, v);
    size_t n = strlen(tmp);
    if (n > w) n = w; /* cannot happen for the widths of the table */
    memset(out, ' ', w - n);
    memcpy(out + (w - n), tmp, n);
}

static void fmt_text(const char *tmp, unsigned w, char *out)
{
    size_t n = strlen(tmp);
    if (n > w) n = w;
    memset(out, ' ', w - n);
    memcpy(out + (w - n), tmp, n);
}

void mfs_dtype_format(mfs_dtype dt, const void *p, char *out)
{
    const struct mfs_dtype_info *in = mfs_dtype_get(dt);
    char tmp[64];
    unsigned w = in->values_width;
    switch (dt) {
    case MFS_DT_BOOL: fmt_text(*(const uint8_t *)p ? "1" : "0", w, out); return;
    case MFS_DT_U8: case MFS_DT_U16: case MFS_DT_U32: case MFS_DT_U64: case MFS_DT_QUINT8: {
        uint64_t u = dt == MFS_DT_U64 ? LD(uint64_t, p) : (uint64_t)mfs_dtype_to_double(dt, p, NULL);
        snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)u);
        fmt_text(tmp, w, out);
        return;
    }
    case MFS_DT_I8: case MFS_DT_I16: case MFS_DT_I32: case MFS_DT_I64:
    case MFS_DT_QINT8: case MFS_DT_QINT32: {
        int64_t s = dt == MFS_DT_I64 ? LD(int64_t, p) : (int64_t)mfs_dtype_to_double(dt, p, NULL);
        snprintf(tmp, sizeof tmp, "%lld", (long long)s);
        fmt_text(tmp, w, out);
        return;
    }
    case MFS_DT_F16: fmt_float(mfs_dtype_to_double(dt, p, NULL), 4, w, out); return;
    case MFS_DT_BF16: case MFS_DT_F8_E4M3FN: case MFS_DT_F8_E5M2:
        fmt_float(mfs_dtype_to_double(dt, p, NULL), 3, w, out);
        return;
    case MFS_DT_F32: fmt_float(mfs_dtype_to_double(dt, p, NULL), 8, w, out); return;
    case MFS_DT_F64: fmt_float(mfs_dtype_to_double(dt, p, NULL), 16, w, out); return;
    case MFS_DT_C64: case MFS_DT_C128: {
        double im, re = mfs_dtype_to_double(dt, p, &im);
        unsigned fw = dt == MFS_DT_C64 ? 15 : 24;
        int prec = dt == MFS_DT_C64 ? 8 : 16;
        char a[32], b[32];
        fmt_float(re, prec, fw, a);
        fmt_float(im, prec, fw, b);
        /* "(" re "," im "j)": 1 + fw + 1 + fw + 2 = w */
        out[0] = '(';
        memcpy(out + 1, a, fw);
        out[1 + fw] = ',';
        memcpy(out + 2 + fw, b, fw);
        out[2 + 2 * fw] = 'j';
        out[3 + 2 * fw] = ')';
        return;
    }
    default:
        memset(out, '?', w);
        return;
    }
}
