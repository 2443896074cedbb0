/* view.h: the files shown for a tensor (LAYOUT.md "A tensor dir") and the
 * root SHA256SUMS, computed from the tensor's canonical bytes.
 *
 * Every view has an exact size without decoding data: data and data.npy
 * by arithmetic, values by its fixed-width element format, stats by its
 * fixed-width lines, SHA256SUMS by its fixed-width hash column. Content is
 * produced lazily; stats and hashes are cached in the tensor (so a tensor
 * shown at several paths computes them once). Thread-safe. */
#ifndef MFS_VIEW_H
#define MFS_VIEW_H
#ifndef MFS_INTERNAL
#error "src/views headers are private to libmodelfs"
#endif
#include "core/tree_private.h"

/** mfs_view_size() : exact size of view file @n of tree @t. */
uint64_t mfs_view_size(mfs_tree *t, const struct mfs_node *n);

/** mfs_view_read() : bytes [off, off+len) of view file @n; returns bytes
 *  stored (short only at EOF) or -1 with @e set (EIO on corrupt data). */
int64_t mfs_view_read(mfs_tree *t, const struct mfs_node *n, uint64_t off, void *buf,
                      size_t len, mfs_err *e);

/* Per-view entry points (v_*.c), same contracts as above. */
size_t mfs_npy_header(const mfs_tensor *t, char *buf, size_t n);
uint64_t mfs_values_size(const mfs_tensor *t);
int64_t mfs_values_read(const mfs_tensor *t, uint64_t off, void *buf, size_t len, mfs_err *e);
uint64_t mfs_stats_size(const mfs_tensor *t);
int64_t mfs_stats_read(mfs_tensor *t, uint64_t off, void *buf, size_t len, mfs_err *e);
/** mfs_tensor_sha256() : sha256 of the canonical bytes, cached in the
 *  tensor. MFS_OK or MFS_FAILED with @e set. */
int mfs_tensor_sha256(mfs_tensor *t, unsigned char out[32], mfs_err *e);
uint64_t mfs_sums_size(mfs_tree *t);
int64_t mfs_sums_read(mfs_tree *t, uint64_t off, void *buf, size_t len, mfs_err *e);

/** mfs_copy_range() : copies [off, off+len) of the @n bytes at @src to
 *  @buf; returns the count copied. For views whose text is in memory. */
int64_t mfs_copy_range(const void *src, size_t n, uint64_t off, void *buf, size_t len);
#endif
