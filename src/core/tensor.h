/* tensor.h: a tensor and its locator (private to src/).
 *
 * A tensor says what it is (dtype, shape) and where its bytes live. The
 * canonical bytes, served by `data`, are C-order little-endian, exactly
 * nbytes = nelems * itemsize. The locator says how to get them:
 *
 *   MFS_ENC_PLAIN    [offset, offset+nbytes) of src is already canonical.
 *   MFS_ENC_BYTESWAP same range, each element byte-swapped (big-endian).
 *   MFS_ENC_STRIDED  elements at src offset + (storage_offset + sum i_k *
 *                    strides[k]) * itemsize (PyTorch views, Fortran order:
 *                    strides in elements, may be non-contiguous); with
 *                    `swap` set, each element is byte-swapped too.
 *   MFS_ENC_CUSTOM   the reader's read() callback produces the bytes
 *                    (HDF5 hyperslabs, deflated members, TF slices ...).
 *
 * The core (tensor.c) serves every encoding through mfs_tensor_read(); a
 * read of [a,b) touches only the stored bytes it needs. Tensors are owned
 * by the tree (arena) and may appear at several paths (tensors/x and
 * layers/l/w) while sharing one cache of stats and sha256. */
#ifndef MFS_TENSOR_H
#define MFS_TENSOR_H
#ifndef MFS_INTERNAL
#error "src/core headers are private to libmodelfs"
#endif
#include "core/dtype.h"
#include "core/src.h"
#include <pthread.h>
#include <jansson.h>

#define MFS_MAX_DIMS 32

enum mfs_encoding {
    MFS_ENC_PLAIN = 0,
    MFS_ENC_BYTESWAP,
    MFS_ENC_STRIDED,
    MFS_ENC_CUSTOM
};

typedef struct mfs_tensor mfs_tensor;

/* Reader callback for MFS_ENC_CUSTOM: bytes [off, off+len) of the
 * canonical data into @buf (the core guarantees off+len <= nbytes).
 * Return MFS_OK, or MFS_FAILED with @e set (EIO). Must be thread-safe,
 * unless the tensor has a `lock`, which the core then holds around it. */
typedef int (*mfs_tensor_read_fn)(const mfs_tensor *t, uint64_t off, void *buf,
                                  size_t len, mfs_err *e);

/* Cached results (filled lazily by the views, guarded by mu). */
struct mfs_tensor_cache {
    pthread_mutex_t mu;
    int have_sha;
    unsigned char sha256[32];
    int have_stats;
    char *stats;          /* the `stats` text, malloc'd */
    int read_failed;      /* a read of this tensor failed once (for logs) */
};

struct mfs_tensor {
    mfs_dtype dtype;
    int ndim;
    uint64_t shape[MFS_MAX_DIMS];
    uint64_t nelems;
    uint64_t nbytes;

    /* locator */
    enum mfs_encoding enc;
    mfs_src *src;            /* referenced by the tensor (unref'd at free) */
    uint64_t offset;         /* byte offset in src of element 0 / storage */
    int64_t strides[MFS_MAX_DIMS]; /* STRIDED: in elements */
    uint64_t storage_offset; /* STRIDED: in elements, added to each index */
    int swap;                /* STRIDED: byte-swap each element */
    mfs_tensor_read_fn read; /* CUSTOM */
    void *read_ctx;          /* CUSTOM: reader's per-tensor context */
    pthread_mutex_t *lock;   /* CUSTOM: held around read() when set */

    /* description for info.json */
    const char *compression; /* "gzip", "deflate", NULL ... (tree-owned) */
    json_t *info;            /* extra info.json fields (owned, may be NULL):
                                stored name, checksum, matched ... */
    /* optional: more info.json fields computed when info.json is made
     * (a new object, merged last; NULL for none). For facts that are only
     * known after reading, e.g. whether a stored checksum matched. With
     * @sizing set, only info.json's size is wanted (getattr, readdirplus:
     * every entry of every listed directory): the callback must then do no
     * expensive work and return fields of exactly the serialized length it
     * will return when the content is read (@sizing 0), where it may read
     * the tensor. */
    json_t *(*info_fn)(const mfs_tensor *t, int sizing);

    struct mfs_tensor_cache cache;

    /* tree-managed: the one directory that holds this tensor's views; any
     * other placement of the same tensor is a symlink to it (tree.c) */
    uint32_t home;
    int home_is_model;       /* home is a tensors/<key> dir */
};

/** mfs_tensor_set_shape() : sets ndim/shape and computes nelems and nbytes
 *  from the dtype (set dtype first). @return MFS_OK, or MFS_FATAL with @e
 *  set when ndim > MFS_MAX_DIMS or the size overflows. */
int mfs_tensor_set_shape(mfs_tensor *t, int ndim, const uint64_t *shape, mfs_err *e);

/** mfs_tensor_set_plain() : PLAIN (or BYTESWAP when @swap and itemsize>1)
 *  locator over [off, off+nbytes) of @src (takes a new reference).
 *  @return MFS_OK, or MFS_FATAL when the range lies outside the source. */
int mfs_tensor_set_plain(mfs_tensor *t, mfs_src *src, uint64_t off, int swap, mfs_err *e);

/** mfs_tensor_set_strided() : STRIDED locator; storage @src at byte @off
 *  holds @storage_elems elements. Checks that every addressed element lies
 *  inside the storage and the storage inside the source; a contiguous
 *  C-order layout is turned into PLAIN. @return MFS_OK or MFS_FATAL. */
int mfs_tensor_set_strided(mfs_tensor *t, mfs_src *src, uint64_t off,
                           uint64_t storage_elems, uint64_t storage_offset,
                           const int64_t *strides, int swap, mfs_err *e);

/** mfs_tensor_set_custom() : CUSTOM locator; @src is optional (referenced
 *  for info.json's "file"). */
void mfs_tensor_set_custom(mfs_tensor *t, mfs_tensor_read_fn fn, void *ctx,
                           mfs_src *src, pthread_mutex_t *lock);

/** mfs_tensor_read() : canonical bytes [off, off+len) into @buf; the range
 *  is clipped to nbytes. Thread-safe. @return bytes stored, or -1 with @e
 *  set (errnum EIO) when the stored bytes cannot be read. */
int64_t mfs_tensor_read(const mfs_tensor *t, uint64_t off, void *buf, size_t len, mfs_err *e);

/** mfs_tensor_shape_str() : "[128, 784]" into @buf (size @n); returns the
 *  length it needed. */
size_t mfs_tensor_shape_str(const mfs_tensor *t, char *buf, size_t n);

/** mfs_tensor_info_json() : the info.json object (new reference).
 *  mfs_tensor_info_json_sized() : the same when only its size is wanted
 *  (@sizing 1: info_fn must not read; see info_fn). */
json_t *mfs_tensor_info_json(const mfs_tensor *t);
json_t *mfs_tensor_info_json_sized(const mfs_tensor *t, int sizing);
#endif
