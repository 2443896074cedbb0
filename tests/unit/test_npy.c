/* test_npy.c: the .npy header parser (readers/npy_header.c), the npy and
 * npz bidders, and whole models opened through the public API: Fortran
 * order, big-endian, scalars, empty arrays, format versions 2.0/3.0,
 * truncated data, npz stored and deflated members. .npy files are written
 * here byte by byte (so the expected bytes are known without numpy);
 * the npz test uses /usr/bin/python3's numpy. */
#include "mfs_test.h"
#include "modelfs/modelfs.h"
#include "readers/npy_header.h"
#include "readers/reader.h"
#include <stdint.h>

extern const struct mfs_reader mfs_reader_npy, mfs_reader_npz;

/* --------------------------------------------------------------- helpers */

static int parse(const char *dict, struct mfs_npy_header *h, mfs_err *e)
{
    memset(h, 0, sizeof *h);
    memset(e, 0, sizeof *e);
    return mfs_npy_parse_dict(dict, strlen(dict), 10, h, e);
}

/* Writes a .npy: magic, version @major.0, @dict padded with spaces and
 * '\n' to a multiple of 64 as numpy does, then @n bytes of @data. */
static void write_npy(const char *path, int major, const char *dict, const void *data, size_t n)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64, hl = total - pre;
    unsigned char *b = malloc(total + n);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    b[8] = hl & 0xff;
    b[9] = (hl >> 8) & 0xff;
    if (major > 1) b[10] = (hl >> 16) & 0xff, b[11] = (hl >> 24) & 0xff;
    memcpy(b + pre, dict, dl);
    memset(b + pre + dl, ' ', hl - dl - 1);
    b[total - 1] = '\n';
    if (n) memcpy(b + total, data, n);
    mfs_test_write_file(path, b, total + n);
    free(b);
}

static mfs_model *open_model(const char *path)
{
    mfs_model *m = NULL;
    mfs_err e = {0};
    int rc = mfs_model_open(path, NULL, &m, &e);
    if (rc < 0) fprintf(stderr, "open %s: %s\n", path, e.msg);
    MFS_ASSERT(rc >= 0 && m);
    return m;
}

/* Whole file @path of the model into a malloc'd buffer (+NUL); *n set. */
static char *cat(mfs_model *m, const char *path, size_t *n)
{
    uint32_t id = mfs_node_resolve(m, path);
    if (!id) fprintf(stderr, "no node %s\n", path);
    MFS_ASSERT(id);
    uint64_t sz = mfs_node_size(m, id);
    char *b = malloc(sz + 1);
    mfs_err e = {0};
    int64_t got = mfs_node_read(m, id, 0, b, sz, &e);
    if (got < 0) fprintf(stderr, "read %s: %s\n", path, e.msg);
    MFS_ASSERT_EQ_U(got, sz);
    b[sz] = 0;
    if (n) *n = sz;
    return b;
}

static void expect_text(mfs_model *m, const char *path, const char *want)
{
    char *got = cat(m, path, NULL);
    MFS_ASSERT_STR(got, want);
    free(got);
}

static void expect_bytes(mfs_model *m, const char *path, const void *want, size_t n)
{
    size_t got_n;
    char *got = cat(m, path, &got_n);
    MFS_ASSERT_EQ_U(got_n, n);
    MFS_ASSERT(memcmp(got, want, n) == 0);
    free(got);
}

/* ---------------------------------------------------------- the parser */

MFS_TEST(test_npy_header_basic)
{
    struct mfs_npy_header h;
    mfs_err e;
    MFS_ASSERT(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", &h, &e) == MFS_OK);
    MFS_ASSERT_EQ_U(h.dtype, MFS_DT_F32);
    MFS_ASSERT_STR(h.descr, "<f4");
    MFS_ASSERT_EQ_U(h.fortran, 0);
    MFS_ASSERT_EQ_U(h.swap, 0);
    MFS_ASSERT_EQ_U(h.ndim, 2);
    MFS_ASSERT_EQ_U(h.shape[0], 3);
    MFS_ASSERT_EQ_U(h.shape[1], 4);
    MFS_ASSERT_EQ_U(h.nelems, 12);
    MFS_ASSERT_EQ_U(h.nbytes, 48);
    MFS_ASSERT(parse("{'descr': '<c16', 'fortran_order': True, 'shape': (7,), }", &h, &e) == MFS_OK);
    MFS_ASSERT_EQ_U(h.dtype, MFS_DT_C128);
    MFS_ASSERT_EQ_U(h.fortran, 1);
    MFS_ASSERT_EQ_U(h.ndim, 1);
    MFS_ASSERT_EQ_U(h.nbytes, 112);
}

/* Spellings other writers use: double quotes, no spaces, other key order,
 * Python 2 longs, lists, u'' strings, extra keys, NUL padding. */
MFS_TEST(test_npy_header_variants)
{
    struct mfs_npy_header h;
    mfs_err e;
    const char *ok[] = {
        "{\"descr\":\"<i8\",\"fortran_order\":false,\"shape\":(2,3)}",
        "{'shape': (2L, 3L), 'fortran_order': False, 'descr': '<i8'}",
        "{u'descr': u'<i8', u'fortran_order': False, u'shape': [2, 3]}",
        "  {'descr': '<i8', 'fortran_order': 0, 'shape': (2, 3,), 'extra': {'a': (1, 'x')}}  \n",
        "{'descr':'<i8','fortran_order':False,'shape':(2,3)}\n\0\0\0",
        "{'descr': '=i8', 'fortran_order': False, 'shape': (2, 3)}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t len = strlen(ok[i]) + (i == 4 ? 3 : 0);
        memset(&e, 0, sizeof e);
        int rc = mfs_npy_parse_dict(ok[i], len, 0, &h, &e);
        if (rc != MFS_OK) fprintf(stderr, "variant %zu: %s\n", i, e.msg);
        MFS_ASSERT(rc == MFS_OK);
        MFS_ASSERT_EQ_U(h.dtype, MFS_DT_I64);
        MFS_ASSERT_EQ_U(h.ndim, 2);
        MFS_ASSERT_EQ_U(h.shape[0], 2);
        MFS_ASSERT_EQ_U(h.shape[1], 3);
        MFS_ASSERT_EQ_U(h.fortran, 0);
    }
}

MFS_TEST(test_npy_header_scalar_empty)
{
    struct mfs_npy_header h;
    mfs_err e;
    MFS_ASSERT(parse("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", &h, &e) == MFS_OK);
    MFS_ASSERT_EQ_U(h.ndim, 0);
    MFS_ASSERT_EQ_U(h.nelems, 1);
    MFS_ASSERT_EQ_U(h.nbytes, 8);
    MFS_ASSERT(parse("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 5), }", &h, &e) == MFS_OK);
    MFS_ASSERT_EQ_U(h.ndim, 2);
    MFS_ASSERT_EQ_U(h.nelems, 0);
    MFS_ASSERT_EQ_U(h.nbytes, 0);
}

MFS_TEST(test_npy_header_dtypes)
{
    static const struct { const char *d; mfs_dtype dt; int swap; } c[] = {
        {"|b1", MFS_DT_BOOL, 0}, {"|u1", MFS_DT_U8, 0}, {"|i1", MFS_DT_I8, 0},
        {"<u2", MFS_DT_U16, 0}, {">i2", MFS_DT_I16, 1}, {"<f2", MFS_DT_F16, 0},
        {">f2", MFS_DT_F16, 1}, {">i4", MFS_DT_I32, 1}, {"<u8", MFS_DT_U64, 0},
        {">f8", MFS_DT_F64, 1}, {"<c8", MFS_DT_C64, 0}, {">c16", MFS_DT_C128, 1},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        char dict[128];
        struct mfs_npy_header h;
        mfs_err e;
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2,), }", c[i].d);
        MFS_ASSERT(parse(dict, &h, &e) == MFS_OK);
        MFS_ASSERT_EQ_U(h.dtype, c[i].dt);
        MFS_ASSERT_EQ_U(h.swap, c[i].swap);
    }
}

/* Unsupported dtypes fail at open with a message that says what they are. */
MFS_TEST(test_npy_header_unsupported)
{
    static const struct { const char *dict, *want; } c[] = {
        {"{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (2,)}", "structured"},
        {"{'descr': '<U10', 'fortran_order': False, 'shape': (2,)}", "unicode"},
        {"{'descr': '|S5', 'fortran_order': False, 'shape': (2,)}", "byte strings"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (2,)}", "objects"},
        {"{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (2,)}", "datetime64"},
        {"{'descr': '|V8', 'fortran_order': False, 'shape': (2,)}", "void"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        struct mfs_npy_header h;
        mfs_err e;
        MFS_ASSERT(parse(c[i].dict, &h, &e) == MFS_FATAL);
        if (!strstr(e.msg, c[i].want)) fprintf(stderr, "case %zu: %s\n", i, e.msg);
        MFS_ASSERT(strstr(e.msg, c[i].want));
        MFS_ASSERT(strstr(e.msg, "not supported"));
    }
}

MFS_TEST(test_npy_header_malformed)
{
    static const char *bad[] = {
        "",
        "[]",
        "{'descr': '<f4', 'fortran_order': False}",                     /* no shape */
        "{'descr': '<f4', 'shape': (2,)}",                              /* no fortran_order */
        "{'fortran_order': False, 'shape': (2,)}",                      /* no descr */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",       /* unterminated */
        "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}",       /* quote */
        "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': 2, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': ('2',)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
        "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1)}",                           /* 33 dims */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x",    /* trailing junk */
        "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",       /* missing comma */
        "{'descr': 5, 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '', 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': ((((((((((((((((((((()))))))))))))))))))))}",
        "{(1,2): '<f4'}",
        "{'descr': '<q9', 'fortran_order': False, 'shape': (2,)}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct mfs_npy_header h;
        mfs_err e;
        int rc = parse(bad[i], &h, &e);
        if (rc != MFS_FATAL) fprintf(stderr, "bad header %zu was accepted\n", i);
        MFS_ASSERT(rc == MFS_FATAL);
        MFS_ASSERT(strstr(e.msg, "npy header"));
        MFS_ASSERT(e.offset >= 10); /* offsets are from the start of the input */
    }
}

MFS_TEST(test_npy_prelude)
{
    struct mfs_npy_header h;
    mfs_err e = {0};
    const unsigned char v1[] = "\x93NUMPY\x01\x00\x76\x00";
    MFS_ASSERT(mfs_npy_parse_prelude(v1, 10, 0, &h, &e) == MFS_OK);
    MFS_ASSERT_EQ_U(h.major, 1);
    MFS_ASSERT_EQ_U(h.header_len, 118);
    MFS_ASSERT_EQ_U(h.data_offset, 128);
    const unsigned char v2[] = "\x93NUMPY\x02\x00\x74\x00\x01\x00";
    MFS_ASSERT(mfs_npy_parse_prelude(v2, 12, 0, &h, &e) == MFS_OK);
    MFS_ASSERT_EQ_U(h.major, 2);
    MFS_ASSERT_EQ_U(h.header_len, 65536 + 116);
    MFS_ASSERT_EQ_U(h.data_offset, 65536 + 128);
    const unsigned char v3[] = "\x93NUMPY\x03\x00\x74\x00\x00\x00";
    MFS_ASSERT(mfs_npy_parse_prelude(v3, 12, 0, &h, &e) == MFS_OK);
    MFS_ASSERT_EQ_U(h.major, 3);
    MFS_ASSERT_EQ_U(h.data_offset, 128);
    /* bad magic, unknown versions, truncation, absurd header length */
    const unsigned char *bad[] = {
        (const unsigned char *)"\x93NUMPZ\x01\x00\x76\x00\x00\x00",
        (const unsigned char *)"\x93NUMPY\x04\x00\x76\x00\x00\x00",
        (const unsigned char *)"\x93NUMPY\x01\x01\x76\x00\x00\x00",
        (const unsigned char *)"\x93NUMPY\x00\x00\x76\x00\x00\x00",
        (const unsigned char *)"\x93NUMPY\x02\x00\x00\x00\x00\x7f",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&e, 0, sizeof e);
        MFS_ASSERT(mfs_npy_parse_prelude(bad[i], 12, 0, &h, &e) == MFS_FATAL);
        MFS_ASSERT(e.msg[0]);
    }
    MFS_ASSERT(mfs_npy_parse_prelude(v1, 9, 0, &h, &e) == MFS_FATAL);
    MFS_ASSERT(mfs_npy_parse_prelude(v2, 11, 0, &h, &e) == MFS_FATAL);
}

/* ------------------------------------------------------------- bidding */

MFS_TEST(test_npy_bid)
{
    unsigned char head[64] = "\x93NUMPY\x01\x00\x76\x00{'descr'";
    struct mfs_probe p = {0};
    p.exists = 1;
    p.head = head;
    p.head_len = sizeof head;
    p.size = 1000;
    MFS_ASSERT_STR(mfs_reader_npy.name, "npy");
    MFS_ASSERT_EQ_U(mfs_reader_npy.bid(&p, -1), 64);
    MFS_ASSERT(mfs_reader_npy.bid(&p, 64) == -1); /* cannot beat a better bid */
    head[6] = 3;
    MFS_ASSERT_EQ_U(mfs_reader_npy.bid(&p, -1), 64);
    head[6] = 9; /* claims it, so open can say "unsupported version" */
    MFS_ASSERT_EQ_U(mfs_reader_npy.bid(&p, -1), 48);
    head[1] = 'n';
    MFS_ASSERT(mfs_reader_npy.bid(&p, -1) == -1);
    p.head_len = 5;
    MFS_ASSERT(mfs_reader_npy.bid(&p, -1) == -1);
    /* the npz bidder needs a zip */
    MFS_ASSERT_STR(mfs_reader_npz.name, "npz");
    p.head_len = sizeof head;
    MFS_ASSERT(mfs_reader_npz.bid(&p, -1) == -1);
}

/* ----------------------------------------------------- whole .npy models */

/* Fortran order: the stored bytes are column-major; data is row-major. */
MFS_TEST(test_npy_model_fortran)
{
    int32_t c[3][4], f[12];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) c[i][j] = i * 10 + j, f[j * 3 + i] = i * 10 + j;
    write_npy("mat.npy", 1, "{'descr': '<i4', 'fortran_order': True, 'shape': (3, 4), }", f, sizeof f);
    mfs_model *m = open_model("mat.npy");
    expect_text(m, "format", "npy\n");
    expect_text(m, "tensors/mat/dtype", "int32\n");
    expect_text(m, "tensors/mat/shape", "[3, 4]\n");
    expect_bytes(m, "tensors/mat/data", c, sizeof c);
    expect_text(m, "metadata/fortran_order", "true\n");
    expect_text(m, "metadata/npy_version", "1.0\n");
    expect_text(m, "metadata/descr", "<i4\n");
    expect_bytes(m, "raw/data", f, sizeof f); /* as stored */
    mfs_model_close(m);
}

static void be64(unsigned char *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    for (int k = 0; k < 8; k++) p[k] = (unsigned char)(u >> (56 - 8 * k));
}

MFS_TEST(test_npy_model_bigendian)
{
    double want[2][3] = {{1.5, -2, 3e10}, {0, 1e-300, -7.25}};
    unsigned char stored[48];
    for (int k = 0; k < 6; k++) be64(stored + 8 * k, (&want[0][0])[k]);
    write_npy("be.npy", 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }", stored, 48);
    mfs_model *m = open_model("be.npy");
    expect_text(m, "tensors/be/dtype", "float64\n");
    expect_bytes(m, "tensors/be/data", want, sizeof want);
    mfs_model_close(m);
}

/* Big-endian and Fortran order together: a strided view with a swap. */
MFS_TEST(test_npy_model_bigendian_fortran)
{
    int32_t want[2][3];
    unsigned char stored[24];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            int32_t v = (i + 1) * 0x01020304 + j;
            want[i][j] = v;
            unsigned char *p = stored + 4 * (j * 2 + i);
            p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
            p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
        }
    write_npy("bef.npy", 1, "{'descr': '>i4', 'fortran_order': True, 'shape': (2, 3), }", stored, 24);
    mfs_model *m = open_model("bef.npy");
    expect_bytes(m, "tensors/bef/data", want, sizeof want);
    mfs_model_close(m);
}

/* Big-endian complex: the real and imaginary halves swap separately. */
MFS_TEST(test_npy_model_bigendian_complex)
{
    float want[2][3][2]; /* (2, 3) complex64, C order */
    unsigned char c_order[48], f_order[48];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++) {
                float v = (float)(i * 100 + j * 10 + k) + 0.5f;
                uint32_t u;
                want[i][j][k] = v;
                memcpy(&u, &v, 4);
                unsigned char b[4] = {(unsigned char)(u >> 24), (unsigned char)(u >> 16),
                                      (unsigned char)(u >> 8), (unsigned char)u};
                memcpy(c_order + 8 * (i * 3 + j) + 4 * k, b, 4);
                memcpy(f_order + 8 * (j * 2 + i) + 4 * k, b, 4);
            }
    write_npy("bc.npy", 1, "{'descr': '>c8', 'fortran_order': False, 'shape': (2, 3), }", c_order, 48);
    write_npy("bcf.npy", 1, "{'descr': '>c8', 'fortran_order': True, 'shape': (2, 3), }", f_order, 48);
    mfs_model *m = open_model("bc.npy");
    expect_text(m, "tensors/bc/dtype", "complex64\n");
    expect_bytes(m, "tensors/bc/data", want, sizeof want);
    mfs_model_close(m);
    m = open_model("bcf.npy");
    expect_text(m, "tensors/bcf/shape", "[2, 3]\n");
    expect_bytes(m, "tensors/bcf/data", want, sizeof want);
    mfs_model_close(m);
}

MFS_TEST(test_npy_model_scalar_and_empty)
{
    double v = 42.5;
    write_npy("s.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", &v, 8);
    mfs_model *m = open_model("s.npy");
    expect_text(m, "tensors/s/shape", "[]\n");
    expect_bytes(m, "tensors/s/data", &v, 8);
    mfs_model_close(m);
    write_npy("e.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (0, 5), }", NULL, 0);
    m = open_model("e.npy");
    expect_text(m, "tensors/e/shape", "[0, 5]\n");
    expect_bytes(m, "tensors/e/data", "", 0);
    mfs_model_close(m);
}

/* Versions 2.0 (u32 header length, here > 65535) and 3.0 (UTF-8). */
MFS_TEST(test_npy_model_v2_v3)
{
    uint16_t d[4] = {1, 2, 3, 65535};
    char *dict = malloc(70000 + 100);
    strcpy(dict, "{'descr': '<u2', 'fortran_order': False, 'shape': (4,), 'pad': '");
    size_t l = strlen(dict);
    memset(dict + l, 'x', 70000);
    strcpy(dict + l + 70000, "'}");
    write_npy("v2.npy", 2, dict, d, sizeof d);
    free(dict);
    mfs_model *m = open_model("v2.npy");
    expect_bytes(m, "tensors/v2/data", d, sizeof d);
    expect_text(m, "metadata/npy_version", "2.0\n");
    mfs_model_close(m);
    write_npy("v3.npy", 3, "{'descr': '<u2', 'fortran_order': False, 'shape': (4,), 'n\xc3\xa9': 1}", d,
              sizeof d);
    m = open_model("v3.npy");
    expect_bytes(m, "tensors/v3/data", d, sizeof d);
    expect_text(m, "metadata/npy_version", "3.0\n");
    mfs_model_close(m);
}

/* Data shorter than the shape says, or a header past the end: no model,
 * a one-line message. */
MFS_TEST(test_npy_model_truncated)
{
    float d[5] = {0};
    write_npy("t.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", d, sizeof d);
    mfs_model *m = NULL;
    mfs_err e = {0};
    MFS_ASSERT(mfs_model_open("t.npy", NULL, &m, &e) == MFS_FATAL);
    MFS_ASSERT(!m);
    MFS_ASSERT(strstr(e.msg, "t.npy") && strstr(e.msg, "24 bytes"));
    MFS_ASSERT(!strchr(e.msg, '\n'));
    mfs_test_write_file("h.npy", "\x93NUMPY\x01\x00\xff\x00{'descr'", 17);
    memset(&e, 0, sizeof e);
    MFS_ASSERT(mfs_model_open("h.npy", NULL, &m, &e) == MFS_FATAL);
    MFS_ASSERT(strstr(e.msg, "header"));
    write_npy("u.npy", 1, "{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", "a\0\0\0b\0\0\0c\0\0\0", 12);
    memset(&e, 0, sizeof e);
    MFS_ASSERT(mfs_model_open("u.npy", NULL, &m, &e) == MFS_FATAL);
    MFS_ASSERT(strstr(e.msg, "<U3") && strstr(e.msg, "not supported"));
}

/* ------------------------------------------------------------------ npz */

MFS_TEST(test_npz_model_members)
{
    const char *py = getenv("PYTHON");
    char cmd[256];
    const char *script =
        "import numpy as np\n"
        "a = np.arange(12, dtype='<f4').reshape(3, 4)\n"
        "b = np.asfortranarray(np.arange(6, dtype='>i8').reshape(2, 3))\n"
        "c = np.random.default_rng(0).integers(0, 9, size=300000).astype('<i2')\n"
        "for f, fn in (('s.npz', np.savez), ('c.npz', np.savez_compressed)):\n"
        "    fn(f, a=a, **{'sub/b': b, 'c': c})\n"
        "open('a.bin','wb').write(a.tobytes()); open('b.bin','wb').write(b.astype('<i8').tobytes())\n"
        "open('c.bin','wb').write(c.tobytes())\n";
    mfs_test_write_file("gen.py", script, strlen(script));
    snprintf(cmd, sizeof cmd, "%s gen.py", py && *py ? py : "/usr/bin/python3");
    if (system(cmd) != 0) MFS_SKIP("/usr/bin/python3 with numpy is needed");
    const char *files[] = {"s.npz", "c.npz"};
    for (int k = 0; k < 2; k++) {
        mfs_model *m = open_model(files[k]);
        expect_text(m, "format", "npz\n");
        const char *names[] = {"a", "sub/b", "c"};
        const char *bins[] = {"a.bin", "b.bin", "c.bin"};
        for (int i = 0; i < 3; i++) {
            size_t n;
            char *want = mfs_test_read_file(bins[i], &n), path[64];
            snprintf(path, sizeof path, "tensors/%s/data", names[i]);
            expect_bytes(m, path, want, n);
            free(want);
        }
        expect_text(m, "tensors/sub/b/shape", "[2, 3]\n");
        expect_text(m, "metadata/compression", k ? "deflate\n" : "stored\n");
        char *info = cat(m, "tensors/c/info.json", NULL);
        MFS_ASSERT(strstr(info, "\"member\": \"c.npy\""));
        MFS_ASSERT(!k || strstr(info, "\"compression\": \"deflate\""));
        free(info);
        mfs_model_close(m);
    }
}
