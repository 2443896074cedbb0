/* test_tf_writer.h: a tiny LevelDB-table and tensor-bundle writer for the
 * TF unit tests, written from the format description (FORMATS.md section
 * 5.2, leveldb table_format.md), independently of the reader: blocks with
 * prefix-compressed keys and a restart point every @restart entries,
 * optional snappy blocks, masked CRC-32C trailers, an index block, an
 * empty metaindex block and the 48-byte footer. Bundle entries are packed
 * with protobuf-c from the project's tf_bundle.proto. Everything aborts
 * on error (tests only). */
#ifndef TEST_TF_WRITER_H
#define TEST_TF_WRITER_H
#include "mfs_test.h"
#include "readers/tf_crc32c.h"
#include "tf_bundle.pb-c.h"
#include <snappy-c.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct tw_buf {
    unsigned char *p;
    size_t len, cap;
};

static void twb_put(struct tw_buf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        MFS_ASSERT(b->p);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void twb_varint(struct tw_buf *b, uint64_t v)
{
    unsigned char t[10];
    int n = 0;
    do {
        t[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    twb_put(b, t, (size_t)n);
}

static void twb_u32(struct tw_buf *b, uint32_t v)
{
    unsigned char t[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    twb_put(b, t, 4);
}

struct tw_block {
    struct tw_buf b;
    uint32_t restarts[4096];
    int nrest, since, interval;
    unsigned char last[1024];
    size_t lastlen;
    int entries;
};

static void twblk_reset(struct tw_block *k, int interval)
{
    free(k->b.p);
    memset(k, 0, sizeof *k);
    k->interval = interval;
}

static void twblk_add(struct tw_block *k, const void *key, size_t klen, const void *val, size_t vlen)
{
    size_t shared = 0;
    MFS_ASSERT(klen < sizeof k->last);
    if (k->since < k->interval && k->entries) {
        while (shared < klen && shared < k->lastlen && ((const unsigned char *)key)[shared] == k->last[shared])
            shared++;
    } else {
        MFS_ASSERT(k->nrest < 4096);
        k->restarts[k->nrest++] = (uint32_t)k->b.len;
        k->since = 0;
    }
    twb_varint(&k->b, shared);
    twb_varint(&k->b, klen - shared);
    twb_varint(&k->b, vlen);
    twb_put(&k->b, (const unsigned char *)key + shared, klen - shared);
    twb_put(&k->b, val, vlen);
    memcpy(k->last, key, klen);
    k->lastlen = klen;
    k->since++;
    k->entries++;
}

/* Appends the finished block (+ trailer) to @file; returns its handle. */
static void twblk_flush(struct tw_block *k, struct tw_buf *file, int snappy, uint64_t *off, uint64_t *size)
{
    if (k->nrest == 0) k->restarts[k->nrest++] = 0;
    for (int i = 0; i < k->nrest; i++) twb_u32(&k->b, k->restarts[i]);
    twb_u32(&k->b, (uint32_t)k->nrest);
    unsigned char type = 0;
    unsigned char *body = k->b.p;
    size_t blen = k->b.len;
    char *comp = NULL;
    if (snappy) {
        size_t cl = snappy_max_compressed_length(blen);
        comp = malloc(cl);
        MFS_ASSERT(comp && snappy_compress((const char *)body, blen, comp, &cl) == SNAPPY_OK);
        body = (unsigned char *)comp;
        blen = cl;
        type = 1;
    }
    *off = file->len;
    *size = blen;
    twb_put(file, body, blen);
    twb_put(file, &type, 1);
    uint32_t crc = mfs_crc32c_extend(mfs_crc32c(body, blen), &type, 1);
    twb_u32(file, mfs_crc32c_mask(crc));
    free(comp);
}

struct tw {
    struct tw_buf file;
    struct tw_block data, index;
    size_t block_size;
    int snappy, interval;
    unsigned char pending[1024]; /* last key of the current data block */
    size_t pendlen;
};

static void tw_init(struct tw *w, int interval, size_t block_size, int snappy)
{
    memset(w, 0, sizeof *w);
    w->interval = interval;
    w->block_size = block_size;
    w->snappy = snappy;
    twblk_reset(&w->data, interval);
    twblk_reset(&w->index, 1);
}

static void tw_flush_data(struct tw *w)
{
    if (!w->data.entries) return;
    uint64_t off, size;
    twblk_flush(&w->data, &w->file, w->snappy, &off, &size);
    struct tw_buf h = {0};
    twb_varint(&h, off);
    twb_varint(&h, size);
    twblk_add(&w->index, w->data.last, w->data.lastlen, h.p, h.len);
    free(h.p);
    twblk_reset(&w->data, w->interval);
}

/* Keys must come in increasing order. */
static void tw_add(struct tw *w, const void *key, size_t klen, const void *val, size_t vlen)
{
    twblk_add(&w->data, key, klen, val, vlen);
    if (w->data.b.len >= w->block_size) tw_flush_data(w);
}

/* Writes the table to @path (also returned in *@out/@outlen if given). */
static void tw_finish(struct tw *w, const char *path)
{
    tw_flush_data(w);
    struct tw_block meta;
    memset(&meta, 0, sizeof meta);
    meta.interval = 1;
    uint64_t moff, msize, ioff, isize;
    twblk_flush(&meta, &w->file, 0, &moff, &msize);
    twblk_flush(&w->index, &w->file, w->snappy, &ioff, &isize);
    struct tw_buf f = {0};
    twb_varint(&f, moff);
    twb_varint(&f, msize);
    twb_varint(&f, ioff);
    twb_varint(&f, isize);
    while (f.len < 40) twb_put(&f, "", 1);
    static const unsigned char magic[8] = {0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb};
    twb_put(&f, magic, 8);
    twb_put(&w->file, f.p, f.len);
    free(f.p);
    free(meta.b.p);
    mfs_test_write_file(path, w->file.p, w->file.len);
    free(w->file.p);
    free(w->data.b.p);
    free(w->index.b.p);
}

/* ---- bundle entries ---- */

__attribute__((unused)) static void tw_header(struct tw *w, int num_shards, int big_endian)
{
    Tfpb__BundleHeaderProto h = TFPB__BUNDLE_HEADER_PROTO__INIT;
    Tfpb__VersionDef v = TFPB__VERSION_DEF__INIT;
    v.has_producer = 1;
    v.producer = 1;
    h.has_num_shards = 1;
    h.num_shards = num_shards;
    h.has_endianness = big_endian;
    h.endianness = big_endian;
    h.version = &v;
    size_t n = tfpb__bundle_header_proto__get_packed_size(&h);
    unsigned char *b = malloc(n + 1);
    tfpb__bundle_header_proto__pack(&h, b);
    tw_add(w, "", 0, b, n);
    free(b);
}

struct tw_slice {
    int64_t start[4], len[4]; /* len -1: whole dimension */
};

/* An entry: @shape of @ndim dims; slices (if @nslices) describe a
 * partitioned tensor (shard/offset/size/crc then unused). */
__attribute__((unused)) static void tw_entry(struct tw *w, const void *key, size_t klen, int dtype, int ndim,
                     const int64_t *shape, int shard, uint64_t off, uint64_t size, uint32_t crc,
                     const struct tw_slice *sl, int nslices)
{
    Tfpb__BundleEntryProto e = TFPB__BUNDLE_ENTRY_PROTO__INIT;
    Tfpb__TensorShapeProto sp = TFPB__TENSOR_SHAPE_PROTO__INIT;
    Tfpb__TensorShapeProto__Dim dims[8], *dp[8];
    for (int d = 0; d < ndim; d++) {
        tfpb__tensor_shape_proto__dim__init(&dims[d]);
        dims[d].has_size = 1;
        dims[d].size = shape[d];
        dp[d] = &dims[d];
    }
    sp.n_dim = (size_t)ndim;
    sp.dim = dp;
    e.has_dtype = 1;
    e.dtype = dtype;
    e.shape = &sp;
    e.has_shard_id = shard != 0;
    e.shard_id = shard;
    e.has_offset = off != 0;
    e.offset = (int64_t)off;
    e.has_size = 1;
    e.size = (int64_t)size;
    e.has_crc32c = 1;
    e.crc32c = mfs_crc32c_mask(crc);
    Tfpb__TensorSliceProto sps[8], *spp[8];
    Tfpb__TensorSliceProto__Extent ex[8][4], *exp_[8][4];
    for (int s = 0; s < nslices; s++) {
        tfpb__tensor_slice_proto__init(&sps[s]);
        for (int d = 0; d < ndim; d++) {
            tfpb__tensor_slice_proto__extent__init(&ex[s][d]);
            if (sl[s].len[d] >= 0) {
                ex[s][d].has_start = 1;
                ex[s][d].start = sl[s].start[d];
                ex[s][d].has_length = 1;
                ex[s][d].length = sl[s].len[d];
            }
            exp_[s][d] = &ex[s][d];
        }
        sps[s].n_extent = (size_t)ndim;
        sps[s].extent = exp_[s];
        spp[s] = &sps[s];
    }
    e.n_slices = (size_t)nslices;
    e.slices = spp;
    size_t n = tfpb__bundle_entry_proto__get_packed_size(&e);
    unsigned char *b = malloc(n + 1);
    tfpb__bundle_entry_proto__pack(&e, b);
    tw_add(w, key, klen, b, n);
    free(b);
}

/* Reads file @path of model @m whole (NULL-terminated, malloc'd); -1 in
 * *@len when the read fails (errno-like value in *@err). */
#include "modelfs/modelfs.h"
__attribute__((unused)) static char *tw_read(mfs_model *m, const char *path, int64_t *len, int *err)
{
    uint32_t id = mfs_node_resolve(m, path);
    if (!id) {
        fprintf(stderr, "no such path in the tree: %s\n", path);
        MFS_ASSERT(id);
    }
    uint64_t size = mfs_node_size(m, id);
    char *buf = malloc(size + 1);
    MFS_ASSERT(buf);
    mfs_err e = {0};
    int64_t got = mfs_node_read(m, id, 0, buf, size, &e);
    *len = got;
    if (err) *err = got < 0 ? e.errnum : 0;
    if (got >= 0) buf[got] = 0;
    return buf;
}
#endif
