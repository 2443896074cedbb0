/* npy_header.h: the NumPy .npy header, shared by the npy and npz readers
 * (private to src/).
 *
 * A .npy file is "\x93NUMPY", a version (1.0, 2.0 or 3.0), a header
 * length (u16 LE for 1.0, u32 LE after), then a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with
 * spaces and a newline, then the raw array bytes (FORMATS.md §8.2). The
 * dict is parsed by a tiny literal parser (strings, True/False/None,
 * integers, tuples, lists, nested dicts); nothing is ever evaluated. */
#ifndef MFS_NPY_HEADER_H
#define MFS_NPY_HEADER_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "core/dtype.h"
#include "core/src.h"
#include "core/tensor.h"
#include "core/tree.h"

#define MFS_NPY_MAGIC "\x93NUMPY"
#define MFS_NPY_MAGIC_LEN 6
#define MFS_NPY_MAX_HEADER (1u << 24) /* a sane bound on the dict's length */

struct mfs_npy_header {
    int major, minor;          /* 1.0, 2.0 or 3.0 */
    uint64_t header_len;       /* bytes of the dict (padding included) */
    uint64_t data_offset;      /* from the start of the .npy: 10 or 12 + header_len */
    char descr[64];            /* as written, e.g. "<f8" */
    mfs_dtype dtype;
    int swap;                  /* big-endian multi-byte elements */
    int fortran;               /* fortran_order: True */
    int ndim;
    uint64_t shape[MFS_MAX_DIMS];
    uint64_t nelems;
    uint64_t nbytes;
};

/** mfs_npy_parse_dict() : parses the header dict @text (@len bytes, need
 *  not be NUL-terminated) into @h's descr/dtype/swap/fortran/shape/
 *  nelems/nbytes. @base is the byte offset of @text in the input, for
 *  messages. @return MFS_OK, or MFS_FATAL (EINVAL) with @e naming the
 *  field and byte: malformed literal, missing key, unsupported dtype
 *  (structured, strings, objects ...), size overflow. */
int mfs_npy_parse_dict(const char *text, size_t len, int64_t base,
                       struct mfs_npy_header *h, mfs_err *e);

/** mfs_npy_parse_prelude() : checks the magic and version in the first
 *  @n bytes at @p (n >= 12 unless the input is shorter) and sets major,
 *  minor, header_len and data_offset. @return MFS_OK or MFS_FATAL. */
int mfs_npy_parse_prelude(const unsigned char *p, size_t n, int64_t base,
                          struct mfs_npy_header *h, mfs_err *e);

/** mfs_npy_read_header() : reads and parses the .npy that starts at byte
 *  @base of @src and spans @avail bytes (the file, or the zip member).
 *  Checks that the data [data_offset, +nbytes) fits in @avail.
 *  @return MFS_OK or MFS_FATAL with @e set (byte offsets relative to @src). */
int mfs_npy_read_header(mfs_src *src, uint64_t base, uint64_t avail,
                        struct mfs_npy_header *h, mfs_err *e);

/** mfs_npy_tensor_init() : sets @t's dtype, shape and locator for the
 *  array described by @h whose .npy starts at byte @base of @src: PLAIN
 *  (or BYTESWAP) for C order, STRIDED (reversed strides, swap flag) for
 *  Fortran order; big-endian complex arrays are CUSTOM over a hidden float
 *  tensor owned by @tree (each half of a complex swaps on its own).
 *  @return MFS_OK or MFS_FATAL with @e set. */
int mfs_npy_tensor_init(mfs_tree *tree, mfs_tensor *t, const struct mfs_npy_header *h,
                        mfs_src *src, uint64_t base, mfs_err *e);

/** mfs_npy_info_json() : {"npy_version": "1.0", "descr": ..., "fortran_order": ...}
 *  as a new object; NULL on OOM. */
json_t *mfs_npy_info_json(const struct mfs_npy_header *h);
#endif
