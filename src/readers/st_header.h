/* st_header.h: parsing and validating one safetensors file (FORMATS.md §9)
 * and placing its tensors, shared by the single-file and sharded readers. */
#ifndef MFS_ST_HEADER_H
#define MFS_ST_HEADER_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "core/tree.h"
#include <jansson.h>

/* The reference reader's limit on the JSON header. */
#define MFS_ST_HEADER_MAX 100000000ull

struct mfs_st_file {
    mfs_src *src;        /* referenced */
    json_t *header;      /* the parsed JSON object (owned) */
    uint64_t data_start; /* 8 + N */
};

/** mfs_st_bid_bytes() : bits verified by the first bytes of a file: the
 *  8-byte length must be sane for @size and byte 8 must be '{' (about 32
 *  bits). -1 when it is not safetensors. */
int mfs_st_bid_bytes(const unsigned char *head, size_t head_len, uint64_t size);

/** mfs_st_open() : reads and validates the header of @src (every entry's
 *  dtype, shape, offsets; entries inside the buffer, sizes matching,
 *  no overlaps). @return MFS_OK with @f filled (free with mfs_st_close)
 *  or MFS_FATAL with @e naming the entry and byte. */
int mfs_st_open(mfs_src *src, struct mfs_st_file *f, mfs_err *e);
void mfs_st_close(struct mfs_st_file *f);

/** mfs_st_tensor() : a tree tensor for entry @name of @f (PLAIN locator).
 *  NULL with @e set when @name is absent or invalid. */
mfs_tensor *mfs_st_tensor(mfs_tree *t, const struct mfs_st_file *f, const char *name, mfs_err *e);

/** mfs_st_place() : adds tensor @tn of key @name at tensors/<name> and
 *  layers/<layer>/<weight>, with "shard" in info.json when @shard is set.
 *  MFS_OK or MFS_FATAL (OOM). */
int mfs_st_place(mfs_tree *t, const char *name, mfs_tensor *tn, const char *shard, mfs_err *e);

/** mfs_st_metadata() : __metadata__ entries of @f under @dir, one file
 *  each (string + "\n"). MFS_OK or MFS_FATAL (OOM). */
int mfs_st_metadata(mfs_tree *t, uint32_t dir, const struct mfs_st_file *f, mfs_err *e);
#endif
