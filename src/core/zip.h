/* zip.h: read-only zip archives over a byte source (private to src/).
 *
 * Listing, stat and decompression go through libzip. libzip does not tell
 * where a member's bytes start in the file, which is what lets a stored
 * member (PyTorch data/<key>, npz members, a .keras model.weights.h5) be
 * served straight from the file with pread and no copy; mfs_zip_open
 * reads that one number per member from the central directory and the
 * local header, and cross-checks it against libzip's listing.
 *
 * Deflated members are read through mfs_zip_member_src(), a byte source
 * that inflates on demand and keeps restart points (see zip.c). */
#ifndef MFS_ZIP_H
#define MFS_ZIP_H
#ifndef MFS_INTERNAL
#error "src/core headers are private to libmodelfs"
#endif
#include "core/src.h"

struct mfs_zip_member {
    char *name;           /* as stored */
    uint64_t size;        /* uncompressed */
    uint64_t comp_size;
    uint16_t method;      /* 0 stored, 8 deflate, others as libzip says */
    uint32_t crc;
    uint64_t data_offset; /* offset of the member's (compressed) bytes */
    int is_dir;
};

struct mfs_zip {
    mfs_src *src;         /* referenced */
    size_t count;
    struct mfs_zip_member *m;
};

/** mfs_zip_open() : lists the archive in @src (referenced). @return a zip
 *  or NULL with @e set (MFS_FATAL: not a zip, truncated central directory,
 *  member outside the file ...). Free with mfs_zip_free. */
struct mfs_zip *mfs_zip_open(mfs_src *src, mfs_err *e);
/** mfs_zip_free() : accepts NULL. */
void mfs_zip_free(struct mfs_zip *z);
/** mfs_zip_find() : index of the member named @name, or -1. */
long mfs_zip_find(const struct mfs_zip *z, const char *name);

/** mfs_zip_member_src() : a byte source of member @i's uncompressed bytes:
 *  a window on the archive for stored members, an on-demand inflater with
 *  restart points for deflated ones. NULL with @e set for other methods
 *  or encrypted members. Caller unrefs. */
mfs_src *mfs_zip_member_src(struct mfs_zip *z, size_t i, mfs_err *e);

/** mfs_zip_read_member() : the whole member @i into a malloc'd buffer (+1
 *  NUL byte), at most @limit bytes, else NULL with @e set. Caller frees. */
void *mfs_zip_read_member(struct mfs_zip *z, size_t i, uint64_t limit, mfs_err *e);
#endif
