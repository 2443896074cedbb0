/* test_tf_table.c: the LevelDB table reader and CRC-32C, on tables the
 * test writes itself (test_tf_writer.h): restart points, prefix
 * compression, multi-block tables, snappy blocks, corrupted checksums,
 * restart arrays and truncations. */
#include "test_tf_writer.h"
#include "readers/tf_crc32c.h"
#include "readers/tf_table.h"
#include <stdio.h>

struct seen {
    int n;
    char keys[512][64];
    char vals[512][64];
};

static int collect(void *ctx, const unsigned char *k, size_t kl, const unsigned char *v, size_t vl,
                   const struct tf_table_pos *pos, mfs_err *e)
{
    (void)pos, (void)e;
    struct seen *s = ctx;
    MFS_ASSERT(s->n < 512 && kl < 64 && vl < 64);
    memcpy(s->keys[s->n], k, kl);
    s->keys[s->n][kl] = 0;
    memcpy(s->vals[s->n], v, vl);
    s->vals[s->n][vl] = 0;
    s->n++;
    return MFS_OK;
}

/* Keys with long shared prefixes (45 of 49 bytes). */
static void key_of(int i, char *k) { snprintf(k, 64, "model/layer_with_weights/kernel/.ATTRIBUTES/%04dx", i); }

static void write_table(const char *path, int n, int interval, size_t block_size, int snappy)
{
    struct tw w;
    tw_init(&w, interval, block_size, snappy);
    for (int i = 0; i < n; i++) {
        char k[64], v[64];
        key_of(i, k);
        snprintf(v, sizeof v, "value-%d", i * 7);
        tw_add(&w, k, strlen(k), v, strlen(v));
    }
    tw_finish(&w, path);
}

static tf_table *open_table(const char *path, mfs_src **src)
{
    mfs_err e = {0};
    *src = mfs_src_new_file(path, &e);
    MFS_ASSERT(*src);
    tf_table *t = NULL;
    if (tf_table_open(*src, &t, &e) != MFS_OK) {
        fprintf(stderr, "open: %s\n", e.msg);
        MFS_ASSERT(0);
    }
    return t;
}

static void check_all(const char *path, int n, int expect_snappy)
{
    mfs_src *src;
    tf_table *t = open_table(path, &src);
    struct seen s = {0};
    mfs_err e = {0};
    MFS_ASSERT(tf_table_foreach(t, collect, &s, &e) == MFS_OK);
    MFS_ASSERT_EQ_U(s.n, n);
    for (int i = 0; i < n; i++) {
        char k[64], v[64];
        key_of(i, k);
        snprintf(v, sizeof v, "value-%d", i * 7);
        MFS_ASSERT_STR(s.keys[i], k);
        MFS_ASSERT_STR(s.vals[i], v);
        /* seek through the index and the restart points */
        unsigned char *val;
        size_t vl;
        MFS_ASSERT(tf_table_get(t, k, strlen(k), &val, &vl, &e) == 1);
        MFS_ASSERT(vl == strlen(v) && !memcmp(val, v, vl));
        free(val);
        /* a key between two keys, and one past the end, are absent */
        k[strlen(k) - 1] = 'w';
        MFS_ASSERT(tf_table_get(t, k, strlen(k), &val, &vl, &e) == 0);
    }
    unsigned char *val;
    size_t vl;
    MFS_ASSERT(tf_table_get(t, "zzz", 3, &val, &vl, &e) == 0);
    MFS_ASSERT(tf_table_get(t, "", 0, &val, &vl, &e) == 0);
    MFS_ASSERT_EQ_U(tf_table_has_snappy(t), expect_snappy);
    tf_table_free(t);
    mfs_src_unref(src);
}

MFS_TEST(test_tf_table_restart_points)
{
    /* restart every 3 entries, one block: the seek binary-searches the
     * restart array and decodes forward from the restart point */
    write_table("t.index", 100, 3, 1 << 20, 0);
    check_all("t.index", 100, 0);
    /* restart every entry (the index block's layout) and every 16 (TF's) */
    write_table("t1.index", 50, 1, 1 << 20, 0);
    check_all("t1.index", 50, 0);
    write_table("t16.index", 200, 16, 1 << 20, 0);
    check_all("t16.index", 200, 0);
}

MFS_TEST(test_tf_table_prefix_compression)
{
    /* the writer shares every common prefix; the file must be much
     * smaller than the keys, and every key must come back whole */
    write_table("p.index", 300, 16, 1 << 20, 0);
    size_t len;
    free(mfs_test_read_file("p.index", &len));
    MFS_ASSERT(len < 300 * 24); /* keys alone are 49 bytes each */
    check_all("p.index", 300, 0);
}

MFS_TEST(test_tf_table_many_blocks)
{
    /* small blocks: many index entries, keys shared across blocks */
    write_table("m.index", 400, 4, 200, 0);
    mfs_src *src;
    tf_table *t = open_table("m.index", &src);
    MFS_ASSERT(tf_table_nblocks(t) > 20);
    tf_table_free(t);
    mfs_src_unref(src);
    check_all("m.index", 400, 0);
}

MFS_TEST(test_tf_table_snappy)
{
    write_table("s.index", 300, 16, 1000, 1);
    check_all("s.index", 300, 1);
}

MFS_TEST(test_tf_table_snappy_corpus)
{
    /* TF Serving's half_plus_two: a real index with snappy blocks */
    const char *p = mfs_test_corpus("public/saved_model/tfserving_half_plus_two_tf2_cpu/00000123/"
                                    "variables/variables.index");
    mfs_src *src;
    tf_table *t = open_table(p, &src);
    struct seen s = {0};
    mfs_err e = {0};
    MFS_ASSERT(tf_table_foreach(t, collect, &s, &e) == MFS_OK);
    MFS_ASSERT_EQ_U(s.n, 5);
    MFS_ASSERT_STR(s.keys[0], "");
    MFS_ASSERT_STR(s.keys[1], "_CHECKPOINTABLE_OBJECT_GRAPH");
    MFS_ASSERT_STR(s.keys[4], "c/.ATTRIBUTES/VARIABLE_VALUE");
    MFS_ASSERT(tf_table_has_snappy(t));
    tf_table_free(t);
    mfs_src_unref(src);
}

/* Opens @path and walks it; returns the status and the message. */
static int try_table(const char *path, char *msg)
{
    mfs_err e = {0};
    mfs_src *src = mfs_src_new_file(path, &e);
    MFS_ASSERT(src);
    tf_table *t = NULL;
    int rc = tf_table_open(src, &t, &e);
    if (rc == MFS_OK) rc = tf_table_foreach(t, collect, &(struct seen){0}, &e);
    if (rc == MFS_OK) {
        unsigned char *v;
        size_t vl;
        char k[64];
        key_of(5, k);
        int g = tf_table_get(t, k, strlen(k), &v, &vl, &e);
        if (g == 1) free(v);
        if (g < 0) rc = g;
    }
    tf_table_free(t);
    mfs_src_unref(src);
    strcpy(msg, e.msg);
    return rc;
}

MFS_TEST(test_tf_table_corrupted_crc)
{
    write_table("c.index", 100, 16, 500, 0);
    size_t len;
    char *d = mfs_test_read_file("c.index", &len);
    char msg[600];
    /* a flipped byte in the first data block */
    d[10] ^= 0x40;
    mfs_test_write_file("bad.index", d, len);
    MFS_ASSERT(try_table("bad.index", msg) == MFS_FATAL);
    MFS_ASSERT(strstr(msg, "crc32c mismatch"));
    d[10] ^= 0x40;
    /* the same in a snappy table: the CRC covers the compressed bytes */
    write_table("cs.index", 100, 16, 500, 1);
    free(d);
    d = mfs_test_read_file("cs.index", &len);
    d[12] ^= 0x01;
    mfs_test_write_file("bads.index", d, len);
    MFS_ASSERT(try_table("bads.index", msg) == MFS_FATAL);
    MFS_ASSERT(strstr(msg, "crc32c mismatch"));
    free(d);
}

MFS_TEST(test_tf_table_bad_footer_and_truncation)
{
    write_table("f.index", 60, 16, 300, 0);
    size_t len;
    char *d = mfs_test_read_file("f.index", &len);
    char msg[600];
    d[len - 1] ^= 1; /* magic */
    mfs_test_write_file("bad.index", d, len);
    MFS_ASSERT(try_table("bad.index", msg) == MFS_FATAL);
    MFS_ASSERT(strstr(msg, "magic"));
    d[len - 1] ^= 1;
    /* every truncation fails cleanly (none is a valid table) */
    for (size_t n = 0; n < len; n += (n < 64 ? 1 : 37)) {
        mfs_test_write_file("trunc.index", d, n);
        MFS_ASSERT(try_table("trunc.index", msg) == MFS_FATAL);
        MFS_ASSERT(msg[0]);
    }
    /* the footer's handles pointing past the file */
    memset(d + len - 48, 0x7f, 8);
    mfs_test_write_file("bad2.index", d, len);
    MFS_ASSERT(try_table("bad2.index", msg) == MFS_FATAL);
    free(d);
}

MFS_TEST(test_tf_table_bad_restarts)
{
    /* a block whose restart count is absurd, with a valid CRC: the
     * reader must check the restart array, not trust the checksum */
    struct tw w;
    tw_init(&w, 2, 1 << 20, 0);
    for (int i = 0; i < 10; i++) {
        char k[64];
        key_of(i, k);
        tw_add(&w, k, strlen(k), "v", 1);
    }
    tw_finish(&w, "r.index");
    size_t len;
    unsigned char *d = (unsigned char *)mfs_test_read_file("r.index", &len);
    /* the first block runs from 0; its size is in the index handle, which
     * we find from the layout: entries, restarts, count, trailer(5) */
    mfs_src *src;
    tf_table *t = open_table("r.index", &src);
    tf_table_free(t);
    mfs_src_unref(src);
    /* locate the first block's trailer by scanning for a valid CRC */
    size_t bsize = 0;
    for (size_t n = 8; n + 5 <= len; n++) {
        uint32_t c = mfs_crc32c_mask(mfs_crc32c(d, n + 1));
        uint32_t s = (uint32_t)d[n + 1] | (uint32_t)d[n + 2] << 8 | (uint32_t)d[n + 3] << 16 |
                     (uint32_t)d[n + 4] << 24;
        if (d[n] == 0 && c == s) {
            bsize = n;
            break;
        }
    }
    MFS_ASSERT(bsize > 0);
    char msg[600];
    /* restart count = 1000000 */
    d[bsize - 4] = 0x40, d[bsize - 3] = 0x42, d[bsize - 2] = 0x0f, d[bsize - 1] = 0;
    uint32_t c = mfs_crc32c_mask(mfs_crc32c(d, bsize + 1));
    for (int i = 0; i < 4; i++) d[bsize + 1 + i] = (unsigned char)(c >> (8 * i));
    mfs_test_write_file("bad.index", d, len);
    MFS_ASSERT(try_table("bad.index", msg) == MFS_FATAL);
    MFS_ASSERT(strstr(msg, "restart"));
    /* restart count 2 with offsets out of order */
    d[bsize - 4] = 2, d[bsize - 3] = d[bsize - 2] = d[bsize - 1] = 0;
    c = mfs_crc32c_mask(mfs_crc32c(d, bsize + 1));
    for (int i = 0; i < 4; i++) d[bsize + 1 + i] = (unsigned char)(c >> (8 * i));
    mfs_test_write_file("bad2.index", d, len);
    MFS_ASSERT(try_table("bad2.index", msg) == MFS_FATAL);
    free(d);
}

MFS_TEST(test_tf_crc32c_vectors)
{
    /* RFC 3720 / leveldb crc32c_test.cc */
    MFS_ASSERT_EQ_U(mfs_crc32c("123456789", 9), 0xe3069283u);
    unsigned char z[32] = {0}, ff[32];
    memset(ff, 0xff, sizeof ff);
    MFS_ASSERT_EQ_U(mfs_crc32c(z, 32), 0x8a9136aau);
    MFS_ASSERT_EQ_U(mfs_crc32c(ff, 32), 0x62a8ab43u);
    unsigned char inc[32];
    for (int i = 0; i < 32; i++) inc[i] = (unsigned char)i;
    MFS_ASSERT_EQ_U(mfs_crc32c(inc, 32), 0x46dd794eu);
    MFS_ASSERT_EQ_U(mfs_crc32c_extend(mfs_crc32c("hello ", 6), "world", 5),
                    mfs_crc32c("hello world", 11));
    uint32_t c = mfs_crc32c("foo", 3);
    MFS_ASSERT(mfs_crc32c_mask(c) != c);
    MFS_ASSERT_EQ_U(mfs_crc32c_unmask(mfs_crc32c_mask(c)), c);
    MFS_ASSERT_EQ_U(mfs_crc32c_unmask(mfs_crc32c_mask(mfs_crc32c_mask(c))), mfs_crc32c_mask(c));
}

MFS_TEST(test_tf_crc32c_hw_matches_table)
{
    size_t n = 300000;
    unsigned char *b = malloc(n + 64);
    srand(7);
    for (size_t i = 0; i < n + 64; i++) b[i] = (unsigned char)rand();
    for (int t = 0; t < 300; t++) {
        size_t off = (size_t)rand() % 16, len = t < 100 ? (size_t)t : (size_t)rand() % n;
        mfs_crc32c_force_table(1);
        uint32_t a = mfs_crc32c(b + off, len);
        mfs_crc32c_force_table(0);
        uint32_t h = mfs_crc32c(b + off, len);
        MFS_ASSERT_EQ_U(a, h);
        /* combining the CRCs of two halves gives the whole */
        size_t k = len ? (size_t)rand() % len : 0;
        MFS_ASSERT_EQ_U(mfs_crc32c_combine(mfs_crc32c(b + off, k), mfs_crc32c(b + off + k, len - k),
                                           len - k), h);
    }
    fprintf(stderr, "crc32c implementation: %s\n", mfs_crc32c_impl());
    free(b);
}
