/* tf_bundle.h: TensorFlow tensor bundles ("V2" checkpoints) (private to
 * src/).
 *
 * A bundle is `<prefix>.index` (a table, tf_table.h, mapping "" to a
 * BundleHeaderProto and every tensor key to a BundleEntryProto) and the
 * data shards `<prefix>.data-NNNNN-of-MMMMM` holding the tensor bytes at
 * the entries' offsets. tf_bundle_open() reads and checks the whole index
 * (never the data); tf_bundle_tensor() makes a lazily read tensor for one
 * entry whose reads check the entry's CRC-32C; tf_bundle_strings()
 * decodes a string tensor.
 *
 * Checksums: every fixed-size tensor stores the masked CRC-32C of its
 * bytes. The read callback feeds every byte range it reads into the
 * tensor's checksum state: ranges that arrive in any order are combined
 * (mfs_crc32c_combine) until they cover the tensor, then compared; tiny
 * tensors (<= TF_VERIFY_WHOLE bytes) are checked whole on their first
 * read. A mismatch fails that read and every later one with EIO and logs
 * one line. tf_tensor_verify() checks a whole tensor on demand (info.json).
 *
 * Partitioned variables: an entry with `slices` has no bytes of its own;
 * each slice is stored as its own entry under a binary key
 * (EncodeTensorNameSlice: OrderedCode of 0, the name, the rank, then
 * start/length of each dimension, length -1 for "whole"). The tensor of
 * the full entry reads through the slices (each with its own checksum). */
#ifndef MFS_TF_BUNDLE_H
#define MFS_TF_BUNDLE_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "core/tree.h"
#include <pthread.h>

#define TF_VERIFY_WHOLE 65536
#define TF_MAX_SHARDS 100000
#define TF_MAX_STRING_TENSOR (64u << 20) /* string tensors decoded at mount */

struct tf_slice_ref;

struct tf_entry {
    char *key;             /* NUL-terminated copy; slice keys hold NULs */
    size_t klen;
    int dtype;             /* TF DataType code */
    int ndim;
    uint64_t *shape;       /* ndim dims, malloc'd (NULL for scalars) */
    uint64_t nelems;
    int shard;
    uint64_t offset, size;
    uint32_t crc;          /* unmasked stored CRC-32C */
    int is_slice;          /* stored slice of another entry (key starts with 0) */
    size_t nslices;        /* > 0: partitioned; the slices below */
    struct tf_slice_ref *slices;
};

struct tf_slice_ref {
    size_t entry;          /* index of the slice's own entry */
    int64_t start[32];
    int64_t len[32];       /* -1 = whole dimension */
};

typedef struct tf_bundle {
    char *prefix;          /* as given (no .index) */
    char *index_path;
    int num_shards;
    int big_endian;
    int producer;          /* header version.producer */
    int snappy;            /* the index has snappy blocks */
    struct tf_entry *ents; /* in key order; ents[0] is not the header */
    size_t n;
    struct mfs_src **shards; /* opened on open for every referenced shard */
    pthread_mutex_t keep_mu; /* guards keep: */
    void **keep;           /* memory of tensors made lazily (tf_bundle_keep) */
    size_t nkeep, capkeep;
} tf_bundle;

/** tf_bundle_keep() : hands @p (malloc'd) to the bundle, which frees it in
 *  tf_bundle_free: per-tensor state allocated by a read, long after the
 *  tree was built. Thread-safe. @return 0, or -1 on OOM (@p not taken). */
int tf_bundle_keep(tf_bundle *b, void *p);

/** tf_bundle_open() : reads `<prefix>.index` and checks every entry
 *  against the header and the data shard sizes (shards are opened, not
 *  read). @return MFS_OK with *@out set, or MFS_FATAL with @e set (which
 *  file, which entry, what is wrong). */
int tf_bundle_open(const char *prefix, tf_bundle **out, mfs_err *e);

/** tf_bundle_free() : accepts NULL. Tensors made from the bundle must be
 *  freed first (they point into it). */
void tf_bundle_free(tf_bundle *b);

/** tf_bundle_find() : index of the entry with key @key (@klen bytes), or
 *  -1. Binary search (entries are in key order). */
long tf_bundle_find(const tf_bundle *b, const char *key, size_t klen);

/** tf_bundle_shard_path() : "<prefix>.data-%05d-of-%05d" malloc'd. */
char *tf_bundle_shard_path(const tf_bundle *b, int shard);

/** tf_bundle_tensor() : a tree-owned tensor for fixed-size entry @i (not a
 *  string, not a stored slice), read lazily with CRC checks; info.json
 *  says key, shard, offset and stored crc32c. @return MFS_OK with *@out,
 *  MFS_WARN with *@out NULL for a dtype modelfs cannot show as numbers
 *  (resource, variant, int4 ...), MFS_FATAL on OOM or a bad shape. */
int tf_bundle_tensor(tf_bundle *b, mfs_tree *t, size_t i, mfs_tensor **out, mfs_err *e);

/* A decoded string tensor. */
struct tf_strings {
    size_t n;              /* elements */
    unsigned char *buf;    /* all bytes, malloc'd */
    uint64_t *off, *len;   /* element i = buf[off[i], off[i]+len[i]) */
    int crc_ok;            /* 1 matched, 0 mismatch */
};

/** tf_bundle_strings() : reads and decodes string entry @i (at most
 *  TF_MAX_STRING_TENSOR bytes) and checks its CRC (crc_ok says).
 *  @return MFS_OK, or MFS_FAILED with @e set (unreadable, malformed or too
 *  large); free with tf_strings_free. */
int tf_bundle_strings(tf_bundle *b, size_t i, struct tf_strings *out, mfs_err *e);
void tf_strings_free(struct tf_strings *s);

/** tf_tensor_verify() : checks the CRC of a tensor made by
 *  tf_bundle_tensor over all its bytes now (unless already known).
 *  @return 1 matched, 0 mismatch, -1 when the bytes could not be read. */
int tf_tensor_verify(const mfs_tensor *t);

/** tf_tensor_crc_status() : what is known without reading: 1 matched,
 *  0 mismatch, -1 not verified yet. */
int tf_tensor_crc_status(const mfs_tensor *t);

/** tf_ordered_slice_key() : EncodeTensorNameSlice(@name, slice) into a
 *  malloc'd buffer (*@len set): exposed for the tests' writers. NULL on
 *  OOM. */
char *tf_ordered_slice_key(const char *name, int ndim, const int64_t *start, const int64_t *len,
                           size_t *outlen);
#endif
