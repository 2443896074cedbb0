/* tf_table.h: reading LevelDB-format tables, as TensorFlow writes them
 * for checkpoint .index files and V1 checkpoints (private to src/).
 *
 * A table is: data blocks, a metaindex block, an index block, and a
 * 48-byte footer (two block handles, padding, magic 0xdb4775248b80fb57).
 * Every block is followed by a 5-byte trailer: a compression type (0 none,
 * 1 snappy) and the masked CRC-32C of the block bytes plus that type byte.
 * A block holds prefix-compressed entries (shared, non_shared,
 * value_length varints, the key delta, the value) and ends with an array
 * of restart offsets (entries stored with shared = 0) and their count.
 * The index block maps the last key of each data block to its handle.
 *
 * tf_table_open() reads and checks the footer and the index block;
 * tf_table_foreach() then visits every entry of every data block in key
 * order; tf_table_get() finds one key through the index and the restart
 * points (binary search), as LevelDB's Seek does. Every handle, length,
 * count and offset is checked against the file and block sizes: a bad
 * table is an error with the byte offset, never a crash. */
#ifndef MFS_TF_TABLE_H
#define MFS_TF_TABLE_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "core/src.h"

#define TF_TABLE_MAGIC 0xdb4775248b80fb57ull
#define TF_TABLE_FOOTER 48
/* Largest block (after snappy) accepted: TF writes 256 KiB blocks; a
 * block a thousand times larger is certainly not ours. */
#define TF_TABLE_MAX_BLOCK (256u << 20)

typedef struct tf_table tf_table;

/* Where a value lives (for V1 checkpoints that point into the table). */
struct tf_table_pos {
    uint64_t block_off;   /* file offset of the block (its handle) */
    uint64_t block_size;  /* stored size of the block */
    int compressed;       /* block is snappy: value offsets are in the
                             uncompressed block, not in the file */
    uint64_t value_off;   /* offset of the value inside the (uncompressed)
                             block */
};

/** tf_table_open() : reads the footer and index block of the table in
 *  @src (referenced by the table). @return MFS_OK with *@out set, or
 *  MFS_FATAL with @e set (what is wrong, at which byte). */
int tf_table_open(mfs_src *src, tf_table **out, mfs_err *e);

/** tf_table_free() : accepts NULL. */
void tf_table_free(tf_table *t);

/** Number of data blocks (index entries). */
size_t tf_table_nblocks(const tf_table *t);
/** 1 when some block of the table is snappy-compressed (known after the
 *  blocks were read by foreach/get; the index block counts too). */
int tf_table_has_snappy(const tf_table *t);

/* Called for each entry: key and value are valid during the call only.
 * Return MFS_OK to go on, anything < 0 to stop (forwarded). */
typedef int (*tf_table_visit)(void *ctx, const unsigned char *key, size_t klen,
                              const unsigned char *val, size_t vlen,
                              const struct tf_table_pos *pos, mfs_err *e);

/** tf_table_foreach() : visits every entry in order. @return MFS_OK, the
 *  visitor's status, or MFS_FATAL with @e set for a corrupt block
 *  (checksum, snappy, entry bounds, keys out of order). */
int tf_table_foreach(tf_table *t, tf_table_visit fn, void *ctx, mfs_err *e);

/** tf_table_get() : the value of @key, malloc'd into *@val (*@vlen set;
 *  caller frees). @return 1 found, 0 absent, or MFS_FATAL with @e set. */
int tf_table_get(tf_table *t, const void *key, size_t klen, unsigned char **val, size_t *vlen,
                 mfs_err *e);

/** tf_table_read_block() : the contents of the block at @handle_off with
 *  stored size @size, checked and uncompressed, malloc'd (*@len set).
 *  @return MFS_OK or MFS_FATAL with @e set. For readers that come back to
 *  a value after open (V1 checkpoints). */
int tf_table_read_block(tf_table *t, uint64_t handle_off, uint64_t size, unsigned char **out,
                        size_t *len, mfs_err *e);

/** tf_table_tail_ok() : 1 when the last 8 of @n bytes at @tail are the
 *  table magic (for bidders). */
int tf_table_tail_ok(const unsigned char *tail, size_t n);
#endif
