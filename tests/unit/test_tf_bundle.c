/* test_tf_bundle.c: tensor bundles the test writes itself (index table via
 * test_tf_writer.h, entries packed with protobuf-c), mounted through the
 * public API: numeric and string tensors over two shards, CRC checks
 * (whole-tensor for small ones, piecewise in any order for large ones),
 * partitioned variables, big-endian bundles, object-graph naming with
 * optimizer slots, TF1 name-based slots, and malformed entries. */
#include "test_tf_writer.h"
#include "readers/tf_bundle.h"
#include "tf_trackable.pb-c.h"
#include <errno.h>
#include <stdio.h>

/* Data shards being written. */
struct shards {
    struct tw_buf d[2];
};

/* Appends @n bytes to shard @s; returns their offset and CRC. */
static uint64_t put(struct shards *sh, int s, const void *p, size_t n, uint32_t *crc)
{
    uint64_t off = sh->d[s].len;
    twb_put(&sh->d[s], p, n);
    *crc = mfs_crc32c(p, n);
    return off;
}

static void add_tensor(struct tw *w, struct shards *sh, const char *key, int dtype, int ndim,
                       const int64_t *shape, int s, const void *p, size_t n)
{
    uint32_t crc;
    uint64_t off = put(sh, s, p, n, &crc);
    tw_entry(w, key, strlen(key), dtype, ndim, shape, s, off, n, crc, NULL, 0);
}

/* A DT_STRING tensor in the bundle layout: varint lengths, masked CRC of
 * the lengths (as uint32 LE), the bytes; the entry CRC covers lengths,
 * the 4 checksum bytes and the bytes. */
static void add_strings_n(struct tw *w, struct shards *sh, const char *key, int ndim,
                          const int64_t *shape, int s, const char *const *v, const size_t *lens, int n)
{
    struct tw_buf b = {0};
    uint32_t crc = 0;
    for (int i = 0; i < n; i++) {
        uint32_t l = (uint32_t)lens[i];
        twb_varint(&b, l);
        unsigned char le[4] = {(unsigned char)l, (unsigned char)(l >> 8), (unsigned char)(l >> 16),
                               (unsigned char)(l >> 24)};
        crc = mfs_crc32c_extend(crc, le, 4);
    }
    uint32_t lm = mfs_crc32c_mask(crc);
    unsigned char lb[4] = {(unsigned char)lm, (unsigned char)(lm >> 8), (unsigned char)(lm >> 16),
                           (unsigned char)(lm >> 24)};
    twb_put(&b, lb, 4);
    crc = mfs_crc32c_extend(crc, lb, 4);
    for (int i = 0; i < n; i++) {
        twb_put(&b, v[i], lens[i]);
        crc = mfs_crc32c_extend(crc, v[i], lens[i]);
    }
    uint64_t off = sh->d[s].len;
    twb_put(&sh->d[s], b.p, b.len);
    tw_entry(w, key, strlen(key), 7, ndim, shape, s, off, b.len, crc, NULL, 0);
    free(b.p);
}

static void add_strings(struct tw *w, struct shards *sh, const char *key, int ndim,
                        const int64_t *shape, int s, const char *const *v, int n)
{
    size_t lens[16];
    for (int i = 0; i < n; i++) lens[i] = strlen(v[i]);
    add_strings_n(w, sh, key, ndim, shape, s, v, lens, n);
}

static void write_shards(struct shards *sh, const char *prefix, int n)
{
    for (int s = 0; s < n; s++) {
        char p[256];
        snprintf(p, sizeof p, "%s.data-%05d-of-%05d", prefix, s, n);
        mfs_test_write_file(p, sh->d[s].p ? (const char *)sh->d[s].p : "", sh->d[s].len);
        free(sh->d[s].p);
        sh->d[s].p = NULL;
        sh->d[s].len = sh->d[s].cap = 0;
    }
}

static mfs_model *open_ok(const char *path)
{
    mfs_model *m = NULL;
    mfs_err e = {0};
    if (mfs_model_open(path, NULL, &m, &e) < 0) {
        fprintf(stderr, "open %s: %s\n", path, e.msg);
        MFS_ASSERT(0);
    }
    return m;
}

static void expect_bytes(mfs_model *m, const char *path, const void *want, size_t n)
{
    int64_t len;
    int err;
    char *b = tw_read(m, path, &len, &err);
    if (len != (int64_t)n || memcmp(b, want, n)) {
        fprintf(stderr, "%s: %lld bytes (err %d), expected %zu\n", path, (long long)len, err, n);
        MFS_ASSERT(0);
    }
    free(b);
}

static void expect_text(mfs_model *m, const char *path, const char *want)
{
    expect_bytes(m, path, want, strlen(want));
}

MFS_TEST(test_tf_bundle_two_shards_and_strings)
{
    struct tw w;
    struct shards sh = {0};
    tw_init(&w, 16, 4096, 0);
    tw_header(&w, 2, 0);
    float k[6] = {1, 2, 3, 4, 5, 6};
    int64_t step = 42;
    double d[4] = {0.5, -1, 2.25, 1e300};
    const char *strs[2] = {"hello", "line\nbreak\x01"};
    /* keys in order */
    add_tensor(&w, &sh, "dense/bias", 2, 1, (int64_t[]){4}, 1, d, sizeof d);
    add_tensor(&w, &sh, "dense/kernel", 1, 2, (int64_t[]){2, 3}, 0, k, sizeof k);
    add_tensor(&w, &sh, "global_step", 9, 0, NULL, 1, &step, 8);
    add_strings(&w, &sh, "names", 1, (int64_t[]){2}, 0, strs, 2);
    add_strings(&w, &sh, "note", 0, NULL, 1, (const char *[]){"{\"a\": 1}"}, 1);
    tw_finish(&w, "ck.index");
    write_shards(&sh, "ck", 2);

    /* by prefix (not a file), and by the .index */
    const char *args[] = {"ck", "ck.index", "ck.data-00001-of-00002"};
    for (int a = 0; a < 3; a++) {
        mfs_model *m = open_ok(args[a]);
        MFS_ASSERT_STR(mfs_model_format(m), "tf-checkpoint");
        expect_bytes(m, "tensors/dense/kernel/data", k, sizeof k);
        expect_bytes(m, "tensors/dense/bias/data", d, sizeof d);
        expect_bytes(m, "tensors/global_step/data", &step, 8);
        expect_text(m, "tensors/dense/kernel/shape", "[2, 3]\n");
        expect_text(m, "tensors/global_step/dtype", "int64\n");
        expect_text(m, "layers/dense/kernel/dtype", "float32\n");
        expect_text(m, "metadata/global_step", "42\n");
        expect_text(m, "tensors/names/dtype", "string\n");
        expect_text(m, "tensors/names/values", "hello\nline\\nbreak\\x01\n");
        expect_text(m, "tensors/note/bytes", "{\"a\": 1}");
        expect_text(m, "summary", "float64 [4] 32 dense/bias\nfloat32 [2, 3] 24 dense/kernel\n"
                                  "int64 [] 8 global_step\n");
        int64_t len;
        char *info = tw_read(m, "tensors/dense/kernel/info.json", &len, NULL);
        MFS_ASSERT(strstr(info, "\"crc32c_check\": \"matched\""));
        MFS_ASSERT(strstr(info, "\"key\": \"dense/kernel\""));
        free(info);
        info = tw_read(m, "tensors/names/info.json", &len, NULL);
        MFS_ASSERT(strstr(info, "\"crc32c_check\": \"matched\""));
        free(info);
        mfs_model_close(m);
    }
}

/* Writes a bundle with one float32 tensor of @n elements; returns data. */
static float *one_tensor(const char *prefix, size_t n)
{
    struct tw w;
    struct shards sh = {0};
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = (float)i * 0.25f;
    tw_init(&w, 16, 4096, 0);
    tw_header(&w, 1, 0);
    add_tensor(&w, &sh, "w", 1, 1, (int64_t[]){(int64_t)n}, 0, v, n * sizeof *v);
    char p[256];
    snprintf(p, sizeof p, "%s.index", prefix);
    tw_finish(&w, p);
    write_shards(&sh, prefix, 1);
    return v;
}

static void corrupt(const char *path, size_t at)
{
    size_t len;
    char *d = mfs_test_read_file(path, &len);
    MFS_ASSERT(at < len);
    d[at] ^= 0x10;
    mfs_test_write_file(path, d, len);
    free(d);
}

static int64_t read_at(mfs_model *m, uint32_t id, uint64_t off, void *buf, size_t n, int *err)
{
    mfs_err e = {0};
    int64_t r = mfs_node_read(m, id, off, buf, n, &e);
    *err = r < 0 ? e.errnum : 0;
    return r;
}

MFS_TEST(test_tf_bundle_crc_small_tensor)
{
    /* <= 64 KiB: checked whole before any byte is returned */
    free(one_tensor("s", 1000));
    corrupt("s.data-00000-of-00001", 3000);
    mfs_model *m = open_ok("s");
    uint32_t id = mfs_node_resolve(m, "tensors/w/data");
    char buf[16];
    int err;
    MFS_ASSERT(read_at(m, id, 0, buf, 16, &err) < 0 && err == EIO);
    MFS_ASSERT(read_at(m, id, 0, buf, 16, &err) < 0 && err == EIO);
    int64_t len;
    char *info = tw_read(m, "tensors/w/info.json", &len, NULL);
    MFS_ASSERT(strstr(info, "\"crc32c_check\": \"corrupt\""));
    free(info);
    mfs_model_close(m);
}

MFS_TEST(test_tf_bundle_crc_large_tensor_any_order)
{
    size_t n = 100000; /* 400 KB: checked piecewise as it is read */
    float *v = one_tensor("l", n);
    mfs_model *m = open_ok("l");
    uint32_t id = mfs_node_resolve(m, "tensors/w/data");
    size_t chunk = 40000, nch = (n * 4 + chunk - 1) / chunk;
    char *buf = malloc(chunk);
    int err;
    /* a clean tensor read backwards, chunk by chunk, overlapping: no error */
    for (size_t c = nch; c-- > 0;) {
        uint64_t off = c * chunk;
        size_t want = off + chunk > n * 4 ? n * 4 - off : chunk;
        MFS_ASSERT(read_at(m, id, off, buf, want, &err) == (int64_t)want);
        MFS_ASSERT(!memcmp(buf, (char *)v + off, want));
        if (c == 3) MFS_ASSERT(read_at(m, id, off + 100, buf, 1000, &err) == 1000);
    }
    mfs_model_close(m);
    /* the same, corrupted: the read that completes the tensor fails, and
     * every read after it */
    corrupt("l.data-00000-of-00001", 123457);
    m = open_ok("l");
    id = mfs_node_resolve(m, "tensors/w/data");
    int failed_at = -1;
    size_t order[64];
    for (size_t c = 0; c < nch; c++) order[c] = (c * 7) % nch; /* a permutation (nch = 10) */
    for (size_t i = 0; i < nch; i++) {
        uint64_t off = order[i] * chunk;
        size_t want = off + chunk > n * 4 ? n * 4 - off : chunk;
        int64_t r = read_at(m, id, off, buf, want, &err);
        if (r < 0) {
            MFS_ASSERT(err == EIO);
            failed_at = (int)i;
            break;
        }
    }
    MFS_ASSERT_EQ_U(failed_at, nch - 1);
    MFS_ASSERT(read_at(m, id, 0, buf, 10, &err) < 0 && err == EIO);
    mfs_model_close(m);
    free(buf);
    free(v);
}

MFS_TEST(test_tf_bundle_slice_key_encoding)
{
    /* OrderedCode vectors from tensorflow/core/lib/strings/ordered_code.cc:
     * 0x424242 encodes as f0 42 42 42; -1 as 7f; 0 as 80; name "a\0\xff"
     * escapes to 61 00 ff ff 00 then 00 01 */
    size_t len;
    char *k = tf_ordered_slice_key("a", 1, (int64_t[]){0x424242}, (int64_t[]){-1}, &len);
    /* a whole dimension is written as start 0, length -1 */
    const unsigned char w1[] = {0x00, 'a', 0x00, 0x01, 0x01, 0x01, 0x80, 0x7f};
    MFS_ASSERT(len == sizeof w1 && !memcmp(k, w1, len));
    free(k);
    k = tf_ordered_slice_key("a", 2, (int64_t[]){0x424242, 5}, (int64_t[]){0x424242, 300}, &len);
    const unsigned char w2[] = {0x00, 'a', 0x00, 0x01, 0x01, 0x02, 0xf0, 0x42, 0x42, 0x42,
                                0xf0, 0x42, 0x42, 0x42, 0x85, 0xc1, 0x2c};
    MFS_ASSERT(len == sizeof w2 && !memcmp(k, w2, len));
    free(k);
}

MFS_TEST(test_tf_bundle_partitioned)
{
    /* full [6, 4] float32 in slices of rows [0,2) and [2,6); full [4, 6]
     * int32 in 3 tiles: rows [0,4) x cols [0,3); rows [0,1) x [3,6);
     * rows [1,4) x [3,6) */
    float a[6][4];
    int32_t b[4][6];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++) a[i][j] = (float)(i * 10 + j);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 6; j++) b[i][j] = i * 100 + j;
    struct tw w;
    struct shards sh = {0};
    tw_init(&w, 16, 4096, 0);
    struct {
        const char *name;
        struct tw_slice s;
        int dtype;
        int64_t shape[2];
    } sl[] = {
        {"part_a", {{0, 0}, {2, -1}}, 1, {2, 4}},
        {"part_a", {{2, 0}, {4, -1}}, 1, {4, 4}},
        {"part_b", {{0, 0}, {4, 3}}, 3, {4, 3}},
        {"part_b", {{0, 3}, {1, 3}}, 3, {1, 3}},
        {"part_b", {{1, 3}, {3, 3}}, 3, {3, 3}},
    };
    /* slice keys (binary, start with 0) sort before the names */
    struct {
        char *key;
        size_t klen;
        int i;
    } keys[5];
    for (int i = 0; i < 5; i++) {
        keys[i].key = tf_ordered_slice_key(sl[i].name, 2, sl[i].s.start, sl[i].s.len, &keys[i].klen);
        keys[i].i = i;
    }
    for (int i = 0; i < 5; i++) /* sort by key bytes */
        for (int j = i + 1; j < 5; j++) {
            size_t m = keys[i].klen < keys[j].klen ? keys[i].klen : keys[j].klen;
            int c = memcmp(keys[i].key, keys[j].key, m);
            if (c > 0 || (c == 0 && keys[i].klen > keys[j].klen)) {
                __typeof__(keys[0]) t = keys[i];
                keys[i] = keys[j];
                keys[j] = t;
            }
        }
    tw_header(&w, 1, 0);
    for (int q = 0; q < 5; q++) {
        int i = keys[q].i;
        /* the slice's own values, C order */
        unsigned char buf[256];
        size_t n = 0;
        int r0 = (int)sl[i].s.start[0], c0 = sl[i].s.len[1] < 0 ? 0 : (int)sl[i].s.start[1];
        for (int r = 0; r < sl[i].shape[0]; r++)
            for (int c = 0; c < sl[i].shape[1]; c++) {
                if (sl[i].dtype == 1) memcpy(buf + n, &a[r0 + r][c0 + c], 4);
                else memcpy(buf + n, &b[r0 + r][c0 + c], 4);
                n += 4;
            }
        uint32_t crc;
        uint64_t off = put(&sh, 0, buf, n, &crc);
        tw_entry(&w, keys[q].key, keys[q].klen, sl[i].dtype, 2, sl[i].shape, 0, off, n, crc, NULL, 0);
        free(keys[q].key);
    }
    struct tw_slice sa[2] = {sl[0].s, sl[1].s}, sb[3] = {sl[2].s, sl[3].s, sl[4].s};
    tw_entry(&w, "part_a", 6, 1, 2, (int64_t[]){6, 4}, 0, 0, 0, 0, sa, 2);
    tw_entry(&w, "part_b", 6, 3, 2, (int64_t[]){4, 6}, 0, 0, 0, 0, sb, 3);
    tw_finish(&w, "p.index");
    write_shards(&sh, "p", 1);
    mfs_model *m = open_ok("p");
    expect_bytes(m, "tensors/part_a/data", a, sizeof a);
    expect_bytes(m, "tensors/part_b/data", b, sizeof b);
    expect_text(m, "summary", "float32 [6, 4] 96 part_a\nint32 [4, 6] 96 part_b\n");
    /* partial reads across slice boundaries */
    uint32_t id = mfs_node_resolve(m, "tensors/part_b/data");
    for (size_t off = 0; off < sizeof b; off += 7) {
        char buf[13];
        int err;
        size_t want = off + 13 > sizeof b ? sizeof b - off : 13;
        MFS_ASSERT(read_at(m, id, off, buf, want, &err) == (int64_t)want);
        MFS_ASSERT(!memcmp(buf, (char *)b + off, want));
    }
    int64_t len;
    char *info = tw_read(m, "tensors/part_b/info.json", &len, NULL);
    MFS_ASSERT(strstr(info, "\"partitioned\": true") && strstr(info, "\"crc32c_check\": \"matched\""));
    free(info);
    mfs_model_close(m);
}

MFS_TEST(test_tf_bundle_big_endian)
{
    struct tw w;
    struct shards sh = {0};
    tw_init(&w, 16, 4096, 0);
    tw_header(&w, 1, 1);
    int32_t v[3] = {1, -2, 0x01020304};
    unsigned char be[12];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 4; k++) be[4 * i + k] = (unsigned char)((uint32_t)v[i] >> (24 - 8 * k));
    add_tensor(&w, &sh, "x", 3, 1, (int64_t[]){3}, 0, be, 12);
    tw_finish(&w, "be.index");
    write_shards(&sh, "be", 1);
    mfs_model *m = open_ok("be.index");
    expect_bytes(m, "tensors/x/data", v, sizeof v);
    mfs_model_close(m);
}

static unsigned char *pack_graph(size_t *len)
{
    /* root(0): model(1), optimizer(4), save_counter(6)
     * model(1): layer_with_weights-0(2)   layer(2): kernel(3)
     * optimizer(4): iter(5), slot m of kernel(3) = node 7 */
    typedef Tfpb__TrackableObjectGraph__TrackableObject O;
    typedef Tfpb__TrackableObjectGraph__TrackableObject__ObjectReference R;
    typedef Tfpb__TrackableObjectGraph__TrackableObject__SerializedTensor S;
    typedef Tfpb__TrackableObjectGraph__TrackableObject__SlotVariableReference V;
    O o[8];
    for (int i = 0; i < 8; i++) tfpb__trackable_object_graph__trackable_object__init(&o[i]);
    R r[6];
    for (int i = 0; i < 6; i++) tfpb__trackable_object_graph__trackable_object__object_reference__init(&r[i]);
    R *r0[3] = {&r[0], &r[1], &r[2]}, *r1[1] = {&r[3]}, *r2[1] = {&r[4]}, *r4[1] = {&r[5]};
    r[0].has_node_id = 1, r[0].node_id = 1, r[0].local_name = "model";
    r[1].has_node_id = 1, r[1].node_id = 4, r[1].local_name = "optimizer";
    r[2].has_node_id = 1, r[2].node_id = 6, r[2].local_name = "save_counter";
    r[3].has_node_id = 1, r[3].node_id = 2, r[3].local_name = "layer_with_weights-0";
    r[4].has_node_id = 1, r[4].node_id = 3, r[4].local_name = "kernel";
    r[5].has_node_id = 1, r[5].node_id = 5, r[5].local_name = "iter";
    o[0].n_children = 3, o[0].children = r0;
    o[1].n_children = 1, o[1].children = r1;
    o[2].n_children = 1, o[2].children = r2;
    o[4].n_children = 1, o[4].children = r4;
    S s[5];
    for (int i = 0; i < 5; i++) tfpb__trackable_object_graph__trackable_object__serialized_tensor__init(&s[i]);
    S *s2[1] = {&s[0]}, *s3[1] = {&s[1]}, *s5[1] = {&s[2]}, *s6[1] = {&s[3]}, *s7[1] = {&s[4]};
    s[0].name = "OBJECT_CONFIG_JSON", s[0].checkpoint_key = "model/layer_with_weights-0/.ATTRIBUTES/OBJECT_CONFIG_JSON";
    s[1].name = "VARIABLE_VALUE", s[1].full_name = "dense_7/kernel",
    s[1].checkpoint_key = "model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE";
    s[2].name = "VARIABLE_VALUE", s[2].checkpoint_key = "optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE";
    s[3].name = "VARIABLE_VALUE", s[3].checkpoint_key = "save_counter/.ATTRIBUTES/VARIABLE_VALUE";
    s[4].name = "VARIABLE_VALUE",
    s[4].checkpoint_key = "model/layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE";
    o[2].n_attributes = 1, o[2].attributes = s2;
    o[3].n_attributes = 1, o[3].attributes = s3;
    o[5].n_attributes = 1, o[5].attributes = s5;
    o[6].n_attributes = 1, o[6].attributes = s6;
    o[7].n_attributes = 1, o[7].attributes = s7;
    V v;
    tfpb__trackable_object_graph__trackable_object__slot_variable_reference__init(&v);
    V *vv[1] = {&v};
    v.has_original_variable_node_id = 1, v.original_variable_node_id = 3;
    v.slot_name = "m";
    v.has_slot_variable_node_id = 1, v.slot_variable_node_id = 7;
    o[4].n_slot_variables = 1, o[4].slot_variables = vv;
    O *op[8];
    for (int i = 0; i < 8; i++) op[i] = &o[i];
    Tfpb__TrackableObjectGraph g = TFPB__TRACKABLE_OBJECT_GRAPH__INIT;
    g.n_nodes = 8, g.nodes = op;
    *len = tfpb__trackable_object_graph__get_packed_size(&g);
    unsigned char *b = malloc(*len);
    tfpb__trackable_object_graph__pack(&g, b);
    return b;
}

MFS_TEST(test_tf_bundle_object_graph)
{
    struct tw w;
    struct shards sh = {0};
    tw_init(&w, 16, 4096, 0);
    tw_header(&w, 1, 0);
    size_t glen;
    unsigned char *g = pack_graph(&glen);
    float k[2] = {1.5f, -2}, mm[2] = {0.25f, 0.5f};
    int64_t it = 1234, sc = 3;
    /* keys in byte order: '_' (0x5f) sorts after the upper case and
     * before the lower case letters */
    add_strings_n(&w, &sh, "_CHECKPOINTABLE_OBJECT_GRAPH", 0, NULL, 0, (const char *[]){(char *)g},
                  &glen, 1);
    add_strings(&w, &sh, "model/layer_with_weights-0/.ATTRIBUTES/OBJECT_CONFIG_JSON", 0, NULL, 0,
                (const char *[]){"{\"class_name\": \"Dense\", \"config\": {\"name\": \"dense_head\"}}"}, 1);
    add_tensor(&w, &sh, "model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", 1, 1,
               (int64_t[]){2}, 0, k, 8);
    add_tensor(&w, &sh, "model/layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE",
               1, 1, (int64_t[]){2}, 0, mm, 8);
    add_tensor(&w, &sh, "optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE", 9, 0, NULL, 0, &it, 8);
    add_tensor(&w, &sh, "save_counter/.ATTRIBUTES/VARIABLE_VALUE", 9, 0, NULL, 0, &sc, 8);
    tw_finish(&w, "og.index");
    write_shards(&sh, "og", 1);
    free(g);
    mfs_model *m = open_ok("og");
    /* the layer shows its config name instead of layer_with_weights-0 */
    expect_bytes(m, "layers/model/dense_head/kernel/data", k, 8);
    expect_bytes(m, "optimizer/state/model/dense_head/kernel/m/data", mm, 8);
    expect_bytes(m, "optimizer/iter/data", &it, 8);
    expect_text(m, "optimizer/step", "1234\n");
    expect_text(m, "metadata/save_counter", "3\n");
    uint32_t cfg = mfs_node_resolve(m, "layers/model/dense_head/config.json");
    MFS_ASSERT(cfg);
    MFS_ASSERT(mfs_node_resolve(m, "raw/object_graph.json"));
    int64_t len;
    char *info = tw_read(m, "layers/model/dense_head/kernel/info.json", &len, NULL);
    MFS_ASSERT(strstr(info, "\"key\": \"model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE\""));
    free(info);
    mfs_model_close(m);
}

MFS_TEST(test_tf_bundle_name_based_slots)
{
    struct tw w;
    struct shards sh = {0};
    tw_init(&w, 16, 4096, 0);
    tw_header(&w, 1, 0);
    float v[2] = {1, 2}, a[2] = {3, 4}, a1[2] = {5, 6}, b1 = 0.9f;
    int64_t gs = 77;
    add_tensor(&w, &sh, "beta1_power", 1, 0, NULL, 0, &b1, 4);
    add_tensor(&w, &sh, "dense/kernel", 1, 1, (int64_t[]){2}, 0, v, 8);
    add_tensor(&w, &sh, "dense/kernel/Adam", 1, 1, (int64_t[]){2}, 0, a, 8);
    add_tensor(&w, &sh, "dense/kernel/Adam_1", 1, 1, (int64_t[]){2}, 0, a1, 8);
    add_tensor(&w, &sh, "global_step", 9, 0, NULL, 0, &gs, 8);
    tw_finish(&w, "tf1.index");
    write_shards(&sh, "tf1", 1);
    mfs_model *m = open_ok("tf1");
    expect_bytes(m, "layers/dense/kernel/data", v, 8);
    expect_bytes(m, "optimizer/state/dense/kernel/Adam/data", a, 8);
    expect_bytes(m, "optimizer/state/dense/kernel/Adam_1/data", a1, 8);
    expect_bytes(m, "optimizer/beta1_power/data", &b1, 4);
    expect_text(m, "metadata/global_step", "77\n");
    expect_text(m, "optimizer/step", "77\n");
    /* the slots are not layer weights: layers/dense holds only kernel, a
     * symlink to the variable's directory in tensors/ */
    uint32_t layer = mfs_node_resolve(m, "layers/dense");
    MFS_ASSERT(layer && mfs_dir_count(m, layer) == 1);
    MFS_ASSERT(mfs_node_link(m, mfs_node_lookup(m, layer, "kernel")) != NULL);
    mfs_model_close(m);
}

static void expect_open_fails(const char *path, const char *what)
{
    mfs_model *m = NULL;
    mfs_err e = {0};
    MFS_ASSERT(mfs_model_open(path, NULL, &m, &e) < 0 && !m);
    if (!strstr(e.msg, what)) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", e.msg, what);
        MFS_ASSERT(0);
    }
}

MFS_TEST(test_tf_bundle_bad_entries)
{
    float v[4] = {0};
    struct tw w;
    struct shards sh = {0};
    /* an entry past the end of its shard (a truncated data file) */
    tw_init(&w, 16, 4096, 0);
    tw_header(&w, 1, 0);
    tw_entry(&w, "x", 1, 1, 1, (int64_t[]){4}, 0, 8, 16, 0, NULL, 0);
    twb_put(&sh.d[0], v, 16);
    tw_finish(&w, "a.index");
    write_shards(&sh, "a", 1);
    expect_open_fails("a", "beyond the end");
    /* size that does not match the shape */
    tw_init(&w, 16, 4096, 0);
    tw_header(&w, 1, 0);
    tw_entry(&w, "x", 1, 1, 1, (int64_t[]){4}, 0, 0, 12, 0, NULL, 0);
    twb_put(&sh.d[0], v, 16);
    tw_finish(&w, "b.index");
    write_shards(&sh, "b", 1);
    expect_open_fails("b", "need 16");
    /* a shard that does not exist */
    tw_init(&w, 16, 4096, 0);
    tw_header(&w, 2, 0);
    tw_entry(&w, "x", 1, 1, 1, (int64_t[]){4}, 1, 0, 16, 0, NULL, 0);
    tw_finish(&w, "c.index");
    twb_put(&sh.d[0], v, 16);
    write_shards(&sh, "c", 1);
    expect_open_fails("c", "cannot be opened");
    /* a shard id beyond num_shards; a negative dimension */
    tw_init(&w, 16, 4096, 0);
    tw_header(&w, 1, 0);
    tw_entry(&w, "x", 1, 1, 1, (int64_t[]){4}, 5, 0, 16, 0, NULL, 0);
    tw_finish(&w, "d.index");
    expect_open_fails("d", "shard 5");
    tw_init(&w, 16, 4096, 0);
    tw_header(&w, 1, 0);
    tw_entry(&w, "x", 1, 1, 1, (int64_t[]){-3}, 0, 0, 16, 0, NULL, 0);
    tw_finish(&w, "e.index");
    expect_open_fails("e", "dimension 0 is -3");
    /* an entry that is not a BundleEntryProto */
    tw_init(&w, 16, 4096, 0);
    tw_header(&w, 1, 0);
    tw_add(&w, "x", 1, "\xff\xff\xff", 3);
    tw_finish(&w, "f.index");
    expect_open_fails("f", "does not decode");
    /* a partitioned entry whose slice is missing */
    tw_init(&w, 16, 4096, 0);
    tw_header(&w, 1, 0);
    struct tw_slice s1[1] = {{{0}, {2, -1}}};
    tw_entry(&w, "p", 1, 1, 2, (int64_t[]){4, 2}, 0, 0, 0, 0, s1, 1);
    tw_finish(&w, "g.index");
    expect_open_fails("g", "slice 0 is missing");
}

MFS_TEST(test_tf_bundle_info_size_does_not_read)
{
    /* info.json's size (getattr, readdirplus) must not verify the tensor:
     * the size is taken while the CRC state is unknown, then reading the
     * content runs the check, and both agree in length */
    size_t n = 100000;
    free(one_tensor("z", n));
    corrupt("z.data-00000-of-00001", 5000);
    mfs_model *m = open_ok("z");
    uint32_t info = mfs_node_resolve(m, "tensors/w/info.json");
    uint64_t size = mfs_node_size(m, info);
    /* sizing did not read: a first partial data read still succeeds */
    uint32_t id = mfs_node_resolve(m, "tensors/w/data");
    char buf[64];
    int err;
    MFS_ASSERT(read_at(m, id, 0, buf, 64, &err) == 64);
    int64_t len;
    char *txt = tw_read(m, "tensors/w/info.json", &len, NULL);
    MFS_ASSERT_EQ_U(len, size);
    MFS_ASSERT(strstr(txt, "\"crc32c_check\": \"corrupt\""));
    free(txt);
    /* now known: every data read fails */
    MFS_ASSERT(read_at(m, id, 0, buf, 64, &err) < 0 && err == EIO);
    mfs_model_close(m);
}
