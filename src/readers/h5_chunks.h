/* h5_chunks.h: decoding gzip/shuffle chunks without libhdf5 (private).
 *
 * libhdf5 reads are serialised (h5_lib.c) and, for chunked compressed
 * data, pay for its chunk cache and type machinery on every request. For
 * the common case (a chunked dataset whose only filters are deflate and
 * shuffle, holding a fixed-size type that needs no conversion but maybe a
 * byte swap), h5_tensor.c hands reads to this module: libhdf5 is asked
 * only where a chunk lives (H5Dget_chunk_info_by_coord, a B-tree lookup,
 * under h5_lock, through the @locate callback); the compressed bytes are
 * read with pread and inflated with zlib here, outside the lock, so
 * concurrent reads decompress in parallel. Decoded chunks are kept in a
 * small LRU cache per dataset (sized like libhdf5's chunk cache would be:
 * two C-order sweeps), guarded by its own mutex; a chunk being copied out
 * is pinned. A chunk that was never written (fill value) makes the read
 * fall back to libhdf5 (H5Z_FALLBACK).
 *
 * Safety: compressed sizes and addresses come from the file: a chunk must
 * lie inside the source and be at most 2 x its decoded size + 64 KiB, and
 * must inflate to exactly the chunk's size, else the read fails (EIO). */
#ifndef MFS_H5_CHUNKS_H
#define MFS_H5_CHUNKS_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "core/src.h"
#include "core/tensor.h"
#include <hdf5.h>

#define H5Z_FALLBACK 2

struct h5z_geom {
    int nd;                          /* rank >= 1 */
    hsize_t dims[MFS_MAX_DIMS];      /* dataset shape */
    hsize_t cdims[MFS_MAX_DIMS];     /* chunk shape */
    size_t esz;                      /* bytes per element (file = memory layout) */
    size_t swap;                     /* > 1: byte-swap units of this size after decoding */
    int nfilt;                       /* filters in pipeline (write) order */
    H5Z_filter_t filt[8];            /* only H5Z_FILTER_DEFLATE / H5Z_FILTER_SHUFFLE */
};

/* Where chunk @offset (element coordinates of its first element) lives:
 * 0 with *addr (absolute, in the source), *size, *mask (bit i set: filter
 * i skipped for this chunk), *addr = HADDR_UNDEF when not allocated; -1
 * on error with @e set. Called without any lock held. */
typedef int (*h5z_locate_fn)(void *ctx, const hsize_t *offset, haddr_t *addr, hsize_t *size,
                             unsigned *mask, mfs_err *e);

struct h5z;

/** h5z_eligible() : 1 when a dataset with this creation property list
 *  (chunked, filters only deflate/shuffle, no optional filter missing)
 *  can use this module; fills g->cdims, nfilt, filt. Caller holds the
 *  lock. */
int h5z_eligible(hid_t dcpl, struct h5z_geom *g);

/** h5z_new() : decoder over @src (referenced) for geometry @g, with a
 *  decoded-chunk cache of about @cache_bytes. NULL on OOM or when the
 *  chunk grid is absurd. @locate/@ctx must outlive it. */
struct h5z *h5z_new(const struct h5z_geom *g, mfs_src *src, size_t cache_bytes,
                    h5z_locate_fn locate, void *ctx);

/** h5z_free() : accepts NULL. */
void h5z_free(struct h5z *z);

/** h5z_read() : C-order elements [k0, k1) into @dst. Thread-safe.
 *  @return MFS_OK, MFS_FAILED with @e set (EIO), or H5Z_FALLBACK when a
 *  chunk in range is not allocated (nothing useful written). */
int h5z_read(struct h5z *z, uint64_t k0, uint64_t k1, void *dst, mfs_err *e);
#endif
