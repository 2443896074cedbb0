/* dtype.h: the dtype table (private to src/).
 *
 * One table says, for every element type modelfs shows: the numpy-style
 * name written to `dtype` (LAYOUT.md), the element size, the .npy descr
 * used by data.npy, the class used by `values`/`stats`, and for GGML block
 * types the block geometry. Readers map their own type codes to mfs_dtype
 * (safetensors "F32", TF DataType 1, torch FloatStorage ...). */
#ifndef MFS_DTYPE_H
#define MFS_DTYPE_H
#ifndef MFS_INTERNAL
#error "src/core headers are private to libmodelfs"
#endif
#include <stdint.h>
#include <stddef.h>

typedef enum mfs_dtype {
    MFS_DT_INVALID = 0,
    MFS_DT_BOOL,
    MFS_DT_U8, MFS_DT_I8,
    MFS_DT_U16, MFS_DT_I16,
    MFS_DT_U32, MFS_DT_I32,
    MFS_DT_U64, MFS_DT_I64,
    MFS_DT_F16, MFS_DT_BF16, MFS_DT_F32, MFS_DT_F64,
    MFS_DT_C64, MFS_DT_C128,
    MFS_DT_F8_E4M3FN, MFS_DT_F8_E5M2,
    MFS_DT_F8_E4M3FNUZ, MFS_DT_F8_E5M2FNUZ, MFS_DT_F8_E8M0,
    /* opaque fixed-size types: shown as raw bytes (values/stats say so) */
    MFS_DT_QINT8, MFS_DT_QUINT8, MFS_DT_QINT32,
    /* GGML block-quantized types: nbytes = nelems/block_elems*block_bytes */
    MFS_DT_Q4_0, MFS_DT_Q4_1, MFS_DT_Q5_0, MFS_DT_Q5_1, MFS_DT_Q8_0,
    MFS_DT_Q8_1, MFS_DT_Q2_K, MFS_DT_Q3_K, MFS_DT_Q4_K, MFS_DT_Q5_K,
    MFS_DT_Q6_K, MFS_DT_Q8_K,
    MFS_DT__COUNT
} mfs_dtype;

/* How values/stats interpret an element. */
enum mfs_dkind {
    MFS_DK_BOOL, MFS_DK_UINT, MFS_DK_INT, MFS_DK_FLOAT, MFS_DK_COMPLEX,
    MFS_DK_OPAQUE /* quantized/packed: no per-element number */
};

struct mfs_dtype_info {
    mfs_dtype id;
    const char *name;      /* "float32": what `dtype` shows */
    const char *npy_descr; /* "<f4"; raw "|V2" style for types numpy lacks */
    uint32_t itemsize;     /* bytes per element; for blocks: bytes per block */
    uint32_t block;        /* elements per block (1 for plain types) */
    enum mfs_dkind kind;
    uint32_t values_width; /* fixed width of one element in `values` */
};

/** mfs_dtype_get() : table row for @dt; never NULL (INVALID has a row). */
const struct mfs_dtype_info *mfs_dtype_get(mfs_dtype dt);

/** mfs_dtype_by_name() : by numpy-style name ("float32", "bfloat16",
 *  "q8_0" ...), or MFS_DT_INVALID. */
mfs_dtype mfs_dtype_by_name(const char *name);

/** mfs_dtype_by_npy_descr() : "<f4", "|b1", "<i8", ">f8" ... Sets *swap
 *  to 1 when the descr is big-endian and the itemsize > 1. Returns
 *  MFS_DT_INVALID for unsupported descrs (structured, strings, objects). */
mfs_dtype mfs_dtype_by_npy_descr(const char *descr, int *swap);

/** mfs_dtype_nbytes() : bytes of @nelems elements; for block types the
 *  element count must be a multiple of the block (else returns UINT64_MAX).
 *  Returns UINT64_MAX on overflow. */
uint64_t mfs_dtype_nbytes(mfs_dtype dt, uint64_t nelems);

/** mfs_dtype_to_double() : element @p (raw LE bytes) as a double; for
 *  complex the real part and *imag the imaginary part (imag may be NULL).
 *  Opaque types give NaN. */
double mfs_dtype_to_double(mfs_dtype dt, const void *p, double *imag);

/** mfs_dtype_format() : writes element @p right-aligned in exactly
 *  info->values_width characters to @out (no NUL needed; @out has at
 *  least values_width+1 bytes). Fixed width is what makes `values` sizes
 *  and offsets computable without decoding. */
void mfs_dtype_format(mfs_dtype dt, const void *p, char *out);

/** Half-precision conversions used by values/stats. */
double mfs_f16_to_double(uint16_t h);
double mfs_bf16_to_double(uint16_t h);
double mfs_f8_e4m3fn_to_double(uint8_t v);
double mfs_f8_e5m2_to_double(uint8_t v);
#endif
