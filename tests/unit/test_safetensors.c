/* Unit tests of the safetensors readers, on files the test writes, and
 * of the public API (bidding, -o format, walk, read, xattrs) through them. */
#include "mfs_test.h"
#include "modelfs/modelfs.h"
#include <errno.h>
#include <sys/stat.h>

/* Writes a safetensors file: header JSON @hdr, then @n data bytes. */
static void write_st(const char *path, const char *hdr, const void *data, size_t n)
{
    size_t hl = strlen(hdr);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    FILE *f = fopen(path, "wb");
    MFS_ASSERT(f);
    fwrite(len, 1, 8, f);
    fwrite(hdr, 1, hl, f);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static const char *HDR =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"b.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
    "\"a\":{\"dtype\":\"I16\",\"shape\":[],\"data_offsets\":[16,18]},"
    "\"e\":{\"dtype\":\"BF16\",\"shape\":[0,3],\"data_offsets\":[18,18]}}";

static char *cat(mfs_model *m, const char *path, size_t *len)
{
    uint32_t id = mfs_node_resolve(m, path);
    MFS_ASSERT(id && mfs_node_is_dir(m, id) == 0);
    uint64_t size = mfs_node_size(m, id);
    char *b = calloc(1, (size_t)size + 1);
    mfs_err e;
    MFS_ASSERT(mfs_node_read(m, id, 0, b, (size_t)size + 1, &e) == (int64_t)size);
    if (len) *len = (size_t)size;
    return b;
}

MFS_TEST(test_safetensors_tree)
{
    float w[4] = {1, 2, 3, 4};
    unsigned char data[18];
    memcpy(data, w, 16);
    data[16] = 0xfe;
    data[17] = 0xff; /* int16 -2 */
    write_st("m.safetensors", HDR, data, sizeof data);
    mfs_model *m;
    mfs_err e;
    MFS_ASSERT(mfs_model_open("m.safetensors", NULL, &m, &e) == MFS_OK);
    MFS_ASSERT_STR(mfs_model_format(m), "safetensors");
    char *s = cat(m, "format", NULL);
    MFS_ASSERT_STR(s, "safetensors\n");
    free(s);
    s = cat(m, "summary", NULL);
    MFS_ASSERT_STR(s, "float32 [2, 2] 16 b.weight\nint16 [] 2 a\nbfloat16 [0, 3] 0 e\n");
    free(s);
    size_t n;
    s = cat(m, "tensors/b.weight/data", &n);
    MFS_ASSERT(n == 16 && !memcmp(s, w, 16));
    free(s);
    s = cat(m, "layers/b/weight/shape", NULL);
    MFS_ASSERT_STR(s, "[2, 2]\n");
    free(s);
    s = cat(m, "layers/_model/a/values", NULL);
    MFS_ASSERT_STR(s, "    -2\n");
    free(s);
    s = cat(m, "metadata/format", NULL);
    MFS_ASSERT_STR(s, "pt\n");
    free(s);
    MFS_ASSERT(mfs_node_resolve(m, "raw/header.json"));
    /* xattrs on the tensor dir and its data file only */
    char v[64];
    uint32_t dir = mfs_node_resolve(m, "tensors/b.weight");
    int64_t l = mfs_node_xattr_get(m, dir, "user.shape", v, sizeof v);
    MFS_ASSERT(l == 6 && !memcmp(v, "[2, 2]", 6));
    l = mfs_node_xattr_get(m, mfs_node_resolve(m, "tensors/b.weight/data"), "user.nbytes", v, sizeof v);
    MFS_ASSERT(l == 2 && !memcmp(v, "16", 2));
    MFS_ASSERT(mfs_node_xattr_get(m, mfs_node_resolve(m, "tensors/b.weight/shape"), "user.dtype", v, 64) == -1);
    MFS_ASSERT(mfs_node_xattr_list(m, dir, NULL, 0) == sizeof "user.dtype" + sizeof "user.shape" + sizeof "user.nbytes");
    /* walking: lookup, parent, readdir order */
    uint32_t tensors = mfs_node_resolve(m, "tensors");
    MFS_ASSERT_EQ_U(mfs_dir_count(m, tensors), 3);
    MFS_ASSERT_STR(mfs_node_name(m, mfs_dir_child(m, tensors, 1)), "a");
    MFS_ASSERT_EQ_U(mfs_node_parent(m, tensors), MFS_ROOT);
    MFS_ASSERT_EQ_U(mfs_node_lookup(m, tensors, "nope"), 0);
    MFS_ASSERT_EQ_U(mfs_node_resolve(m, "tensors/b.weight/data/x"), 0);
    mfs_err re;
    MFS_ASSERT(mfs_node_read(m, tensors, 0, v, 1, &re) == -1 && re.errnum == EISDIR);
    /* layers/<layer>/<weight> is a symlink into tensors/: no views of its
     * own, no xattrs, unreadable as a file; paths through it resolve */
    uint32_t layer = mfs_node_resolve(m, "layers/b");
    uint32_t link = mfs_node_lookup(m, layer, "weight");
    MFS_ASSERT_STR(mfs_node_link(m, link), "../../tensors/b.weight");
    MFS_ASSERT(mfs_node_is_dir(m, link) == 0);
    MFS_ASSERT_EQ_U(mfs_node_size(m, link), strlen("../../tensors/b.weight"));
    MFS_ASSERT(mfs_node_read(m, link, 0, v, 1, &re) == -1 && re.errnum == EINVAL);
    MFS_ASSERT(mfs_node_xattr_list(m, link, NULL, 0) == 0);
    MFS_ASSERT_EQ_U(mfs_node_resolve(m, "layers/b/weight"), dir);
    MFS_ASSERT_EQ_U(mfs_node_resolve(m, "layers/b/weight/data"), mfs_node_resolve(m, "tensors/b.weight/data"));
    MFS_ASSERT(mfs_node_link(m, dir) == NULL && mfs_node_link(m, 0) == NULL);
    mfs_model_close(m);
}

/* Every corruption is refused at open with a message naming the problem. */
MFS_TEST(test_safetensors_bad_headers)
{
    static const struct { const char *hdr; size_t data; const char *want; } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "need 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "beyond"},
        {"{\"a\":{\"dtype\":\"X9\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "bad data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "lacks"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", 4, "overlap"},
        {"{\"a\":1,\"a\":2}", 0, "duplicate"},
        {"{\"a\": [1, 2", 0, "JSON"},
        {"{\"__metadata__\": 5}", 0, "__metadata__"},
    };
    unsigned char zero[8] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_st("bad.safetensors", cases[i].hdr, zero, cases[i].data);
        mfs_model *m;
        mfs_err e;
        mfs_open_opts o = {.format = "safetensors"};
        MFS_ASSERT(mfs_model_open("bad.safetensors", &o, &m, &e) == MFS_FATAL && m == NULL);
        if (!strstr(e.msg, cases[i].want)) {
            fprintf(stderr, "case %zu: message \"%s\" lacks \"%s\"\n", i, e.msg, cases[i].want);
            exit(1);
        }
        MFS_ASSERT(strstr(e.msg, "bad.safetensors: safetensors: ") == e.msg);
        MFS_ASSERT(!strchr(e.msg, '\n'));
    }
    /* header length beyond the file */
    unsigned char big[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    mfs_test_write_file("len.safetensors", big, sizeof big);
    mfs_model *m;
    mfs_err e;
    mfs_open_opts o = {.format = "safetensors"};
    MFS_ASSERT(mfs_model_open("len.safetensors", &o, &m, &e) == MFS_FATAL);
    MFS_ASSERT(strstr(e.msg, "exceeds the file size"));
}

MFS_TEST(test_safetensors_bidding_and_errors)
{
    mfs_model *m;
    mfs_err e;
    /* not a model: clear message with the first bytes */
    mfs_test_write_file("junk.bin", "hello world", 11);
    MFS_ASSERT(mfs_model_open("junk.bin", NULL, &m, &e) == MFS_FATAL);
    MFS_ASSERT(strstr(e.msg, "no reader recognises") && strstr(e.msg, "68 65 6c"));
    MFS_ASSERT(mfs_model_open("missing.bin", NULL, &m, &e) == MFS_FATAL);
    MFS_ASSERT(strstr(e.msg, "No such file"));
    mfs_test_write_file("empty.bin", "", 0);
    MFS_ASSERT(mfs_model_open("empty.bin", NULL, &m, &e) == MFS_FATAL);
    /* -o format=ID skips bidding, unknown ids are refused */
    mfs_open_opts o = {.format = "no-such-format"};
    MFS_ASSERT(mfs_model_open("junk.bin", &o, &m, &e) == MFS_FATAL);
    MFS_ASSERT(strstr(e.msg, "unknown format"));
    /* the registry lists safetensors once, with a description */
    int found = 0;
    for (size_t i = 0; i < mfs_reader_count(); i++)
        if (!strcmp(mfs_reader_id(i), "safetensors")) found += mfs_reader_description(i) != NULL;
    MFS_ASSERT_EQ_U(found, 1);
}

MFS_TEST(test_safetensors_sharded_dir)
{
    MFS_ASSERT(mkdir("d", 0755) == 0);
    float a[2] = {1, 2}, b[3] = {3, 4, 5};
    write_st("d/model-00001-of-00002.safetensors",
             "{\"x.weight\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", a, 8);
    write_st("d/model-00002-of-00002.safetensors",
             "{\"y.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", b, 12);
    const char *idx = "{\"metadata\":{\"total_size\":20},\"weight_map\":{"
                      "\"y.bias\":\"model-00002-of-00002.safetensors\","
                      "\"x.weight\":\"model-00001-of-00002.safetensors\"}}";
    mfs_test_write_file("d/model.safetensors.index.json", idx, strlen(idx));
    mfs_test_write_file("d/config.json", "{\"model_type\":\"t\"}", 18);
    mfs_model *m;
    mfs_err e;
    MFS_ASSERT(mfs_model_open("d", NULL, &m, &e) == MFS_OK);
    MFS_ASSERT_STR(mfs_model_format(m), "safetensors-sharded");
    char *s = cat(m, "summary", NULL);
    MFS_ASSERT_STR(s, "float32 [3] 12 y.bias\nfloat32 [2] 8 x.weight\n"); /* weight_map order */
    free(s);
    s = cat(m, "tensors/y.bias/data", NULL);
    MFS_ASSERT(!memcmp(s, b, 12));
    free(s);
    s = cat(m, "metadata/total_size", NULL);
    MFS_ASSERT_STR(s, "20\n");
    free(s);
    s = cat(m, "metadata/config.json", NULL);
    MFS_ASSERT(strstr(s, "\"model_type\": \"t\""));
    free(s);
    s = cat(m, "tensors/x.weight/info.json", NULL);
    MFS_ASSERT(strstr(s, "\"shard\": \"model-00001-of-00002.safetensors\""));
    free(s);
    mfs_model_close(m);
    /* the index file itself mounts the same model */
    MFS_ASSERT(mfs_model_open("d/model.safetensors.index.json", NULL, &m, &e) == MFS_OK);
    MFS_ASSERT(mfs_node_resolve(m, "tensors/x.weight/data"));
    mfs_model_close(m);
    /* a weight_map naming a missing shard fails at open */
    const char *bad = "{\"weight_map\":{\"z\":\"gone.safetensors\"}}";
    mfs_test_write_file("d/model.safetensors.index.json", bad, strlen(bad));
    MFS_ASSERT(mfs_model_open("d", NULL, &m, &e) == MFS_FATAL);
    MFS_ASSERT(strstr(e.msg, "gone.safetensors"));
}
