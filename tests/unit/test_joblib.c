/* test_joblib.c: the joblib / pickle readers on pickles built byte by byte
 * here (so each case is exactly the layout it names), plus laziness.
 *
 * A small opcode writer makes joblib NumpyArrayWrapper streams (with and
 * without alignment padding), numpy _reconstruct and _frombuffer forms,
 * and hostile variants: absurd shapes, data past the end, a padding byte
 * pointing past the end, negative sizes, a dtype that is not a dtype,
 * wrong payload lengths, deep nesting and cycles. Models are opened from a
 * counting byte source (mfs_model_open_src) to check that opening reads
 * the pickle only, never array bytes, and that a read of a slice touches
 * only that slice. */
#include "mfs_test.h"
#include "modelfs/modelfs.h"
#include "core/model.h"
#include "core/decomp.h"
#include <zlib.h>
#include <stdint.h>

/* ---- a pickle writer ---- */

struct pb {
    unsigned char *b;
    size_t n, cap;
};

static void put(struct pb *p, const void *d, size_t n)
{
    if (p->n + n > p->cap) {
        p->cap = (p->n + n) * 2 + 1024;
        p->b = realloc(p->b, p->cap);
        MFS_ASSERT(p->b);
    }
    memcpy(p->b + p->n, d, n);
    p->n += n;
}
static void op(struct pb *p, int c)
{
    unsigned char ch = (unsigned char)c;
    put(p, &ch, 1);
}
static void ustr(struct pb *p, const char *s)
{
    op(p, 0x8c);
    op(p, (int)strlen(s));
    put(p, s, strlen(s));
}
static void global(struct pb *p, const char *mod, const char *name)
{
    op(p, 'c');
    put(p, mod, strlen(mod));
    op(p, '\n');
    put(p, name, strlen(name));
    op(p, '\n');
}
static void bint(struct pb *p, int32_t v)
{
    op(p, 'J');
    uint32_t u = (uint32_t)v;
    for (int i = 0; i < 4; i++) op(p, (int)((u >> (8 * i)) & 0xFF));
}
static void long8(struct pb *p, int64_t v) /* LONG1 of 8 bytes */
{
    op(p, 0x8a);
    op(p, 8);
    for (int i = 0; i < 8; i++) op(p, (int)(((uint64_t)v >> (8 * i)) & 0xFF));
}
static void bbytes(struct pb *p, const void *d, uint32_t n) /* BINBYTES */
{
    op(p, 'B');
    for (int i = 0; i < 4; i++) op(p, (int)((n >> (8 * i)) & 0xFF));
    put(p, d, n);
}
/* numpy.dtype(descr, False, True) + BUILD (3, order, None, None, None, -1, -1, 0) */
static void dtype(struct pb *p, const char *descr, const char *order)
{
    global(p, "numpy", "dtype");
    ustr(p, descr);
    op(p, 0x89);
    op(p, 0x88);
    op(p, 0x87);
    op(p, 'R');
    op(p, '(');
    op(p, 'K'); op(p, 3);
    ustr(p, order);
    op(p, 'N'); op(p, 'N'); op(p, 'N');
    bint(p, -1);
    bint(p, -1);
    op(p, 'K'); op(p, 0);
    op(p, 't');
    op(p, 'b');
}
static void shape_tuple(struct pb *p, int nd, const int64_t *shape)
{
    op(p, '(');
    for (int i = 0; i < nd; i++) long8(p, shape[i]);
    op(p, 't');
}
/* A NumpyArrayWrapper and its data; @align 1: with alignment (padding
 * byte + padding written), 2: alignment declared, padding left to the
 * caller. */
static void jb_array(struct pb *p, int nd, const int64_t *shape, const char *descr, const char *order,
                     int fortran, int align, const void *data, size_t n)
{
    global(p, "joblib.numpy_pickle", "NumpyArrayWrapper");
    op(p, ')');
    op(p, 0x81);
    op(p, '}');
    op(p, '(');
    ustr(p, "subclass"); global(p, "numpy", "ndarray");
    ustr(p, "shape"); shape_tuple(p, nd, shape);
    ustr(p, "order"); ustr(p, fortran ? "F" : "C");
    ustr(p, "dtype"); dtype(p, descr, order);
    ustr(p, "allow_mmap"); op(p, 0x88);
    if (align) { ustr(p, "numpy_array_alignment_bytes"); op(p, 'K'); op(p, 16); }
    op(p, 'u');
    op(p, 'b');
    if (align == 1) {
        size_t after = p->n + 1, pad = 16 - after % 16;
        op(p, (int)pad);
        for (size_t i = 0; i < pad; i++) op(p, 0xFF);
    }
    put(p, data, n);
}
/* numpy _reconstruct(ndarray, (0,), b'b') + BUILD (1, shape, dtype, fortran, bytes) */
static void np_recon(struct pb *p, int nd, const int64_t *shape, const char *descr, const char *order,
                     int fortran, const void *data, uint32_t n)
{
    global(p, "numpy.core.multiarray", "_reconstruct");
    global(p, "numpy", "ndarray");
    op(p, 'K'); op(p, 0); op(p, 0x85);
    op(p, 'C'); op(p, 1); op(p, 'b');
    op(p, 0x87);
    op(p, 'R');
    op(p, '(');
    op(p, 'K'); op(p, 1);
    shape_tuple(p, nd, shape);
    dtype(p, descr, order);
    op(p, fortran ? 0x88 : 0x89);
    bbytes(p, data, n);
    op(p, 't');
    op(p, 'b');
}
static void start(struct pb *p) { op(p, 0x80); op(p, 4); }
static void stop(struct pb *p) { op(p, '.'); }

/* ---- a counting source ---- */

struct counting {
    const unsigned char *b;
    size_t n;
    uint64_t bytes, max_off;
};

static int64_t cnt_pread(mfs_src *s, void *buf, size_t len, uint64_t off, mfs_err *e)
{
    (void)e;
    struct counting *c = s->ctx;
    if (off >= c->n) return 0;
    if (len > c->n - off) len = c->n - off;
    memcpy(buf, c->b + off, len);
    __atomic_add_fetch(&c->bytes, len, __ATOMIC_SEQ_CST);
    return (int64_t)len;
}
static void cnt_close(mfs_src *s) { (void)s; }
static const struct mfs_src_ops cnt_ops = {cnt_pread, cnt_close};

static mfs_model *open_buf(const struct pb *p, const char *name, struct counting *c, mfs_err *e)
{
    memset(c, 0, sizeof *c);
    c->b = p->b;
    c->n = p->n;
    mfs_src *s = mfs_src_new_custom(&cnt_ops, c, p->n, name);
    MFS_ASSERT(s);
    mfs_model *m = NULL;
    mfs_err_clear(e);
    mfs_model_open_src(s, name, NULL, &m, e);
    mfs_src_unref(s);
    return m;
}

static char *cat(mfs_model *m, const char *path, size_t *len)
{
    uint32_t id = mfs_node_resolve(m, path);
    if (!id) {
        fprintf(stderr, "no %s\n", path);
        MFS_ASSERT(id);
    }
    uint64_t n = mfs_node_size(m, id);
    char *b = malloc(n + 1);
    mfs_err e;
    MFS_ASSERT_EQ_U(mfs_node_read(m, id, 0, b, n, &e), n);
    b[n] = 0;
    if (len) *len = n;
    return b;
}

static void expect_text(mfs_model *m, const char *path, const char *want)
{
    char *t = cat(m, path, NULL);
    MFS_ASSERT_STR(t, want);
    free(t);
}

/* ---- tests ---- */

MFS_TEST(test_joblib_wrapper_aligned)
{
    double d[6] = {1, 2, 3, 4, 5, 6};
    int32_t be[4] = {(int32_t)0x01000000, (int32_t)0x02000000, (int32_t)0x03000000, (int32_t)0x04000000};
    int64_t s23[2] = {2, 3}, s4[1] = {4};
    struct pb p = {0};
    start(&p);
    op(&p, '}');
    op(&p, '(');
    ustr(&p, "w");
    jb_array(&p, 2, s23, "f8", "<", 0, 1, d, sizeof d);
    ustr(&p, "be");
    jb_array(&p, 1, s4, "i4", ">", 0, 1, be, sizeof be);
    ustr(&p, "fortran");
    jb_array(&p, 2, s23, "f8", "<", 1, 0, d, sizeof d);
    op(&p, 'u');
    stop(&p);
    struct counting c;
    mfs_err e;
    mfs_model *m = open_buf(&p, "w.joblib", &c, &e);
    if (!m) fprintf(stderr, "%s\n", e.msg);
    MFS_ASSERT(m);
    expect_text(m, "format", "joblib\n");
    expect_text(m, "tensors/w/shape", "[2, 3]\n");
    expect_text(m, "tensors/be/dtype", "int32\n");
    size_t n;
    char *b = cat(m, "tensors/w/data", &n);
    MFS_ASSERT(n == sizeof d && memcmp(b, d, n) == 0);
    free(b);
    b = cat(m, "tensors/be/data", &n);
    int32_t want_be[4] = {1, 2, 3, 4};
    MFS_ASSERT(n == 16 && memcmp(b, want_be, 16) == 0);
    free(b);
    /* Fortran order: stored column-major, served row-major */
    b = cat(m, "tensors/fortran/data", &n);
    double want_f[6] = {1, 3, 5, 2, 4, 6};
    MFS_ASSERT(n == sizeof want_f && memcmp(b, want_f, n) == 0);
    free(b);
    MFS_ASSERT(mfs_node_resolve(m, "raw/w/data") != 0);
    MFS_ASSERT(mfs_node_resolve(m, "security/summary") != 0);
    mfs_model_close(m);
    free(p.b);
}

/* Opening reads the pickle, not the 8 MiB of array bytes; a read of 100
 * bytes in the middle of the array reads about that much. */
MFS_TEST(test_joblib_lazy)
{
    size_t nel = 1u << 20;
    double *d = malloc(nel * sizeof *d);
    for (size_t i = 0; i < nel; i++) d[i] = (double)i;
    int64_t s[1] = {(int64_t)nel};
    struct pb p = {0};
    start(&p);
    op(&p, ']');
    op(&p, '(');
    jb_array(&p, 1, s, "f8", "<", 0, 1, d, nel * sizeof *d);
    jb_array(&p, 1, s, "f8", "<", 0, 1, d, nel * sizeof *d);
    op(&p, 'e');
    stop(&p);
    struct counting c;
    mfs_err e;
    mfs_model *m = open_buf(&p, "lazy.pkl", &c, &e);
    MFS_ASSERT(m);
    fprintf(stderr, "open read %llu of %zu bytes\n", (unsigned long long)c.bytes, p.n);
    MFS_ASSERT(c.bytes < 256 * 1024);
    uint64_t before = c.bytes;
    uint32_t id = mfs_node_resolve(m, "tensors/1/data");
    MFS_ASSERT(id);
    double got[4];
    MFS_ASSERT_EQ_U(mfs_node_read(m, id, 4000 * 8, got, sizeof got, &e), sizeof got);
    MFS_ASSERT(got[0] == 4000 && got[3] == 4003);
    MFS_ASSERT(c.bytes - before < 64 * 1024);
    mfs_model_close(m);
    free(p.b);
    free(d);
}

/* The same stream zlib-compressed: opens (one decompression pass), same data. */
MFS_TEST(test_joblib_compressed)
{
    float d[5] = {0.5f, 1.5f, 2.5f, 3.5f, 4.5f};
    int64_t s[1] = {5};
    struct pb p = {0};
    start(&p);
    jb_array(&p, 1, s, "f4", "<", 0, 1, d, sizeof d);
    stop(&p);
    uLongf zn = compressBound(p.n);
    struct pb z = {0};
    z.b = malloc(zn);
    MFS_ASSERT(compress2(z.b, &zn, p.b, p.n, 6) == Z_OK);
    z.n = zn;
    struct counting c;
    mfs_err e;
    mfs_model *m = open_buf(&z, "c.joblib.z", &c, &e);
    if (!m) fprintf(stderr, "%s\n", e.msg);
    MFS_ASSERT(m);
    expect_text(m, "format", "joblib\n");
    expect_text(m, "metadata/compression", "zlib\n");
    size_t n;
    char *b = cat(m, "tensors/c/data", &n);
    MFS_ASSERT(n == sizeof d && memcmp(b, d, n) == 0);
    free(b);
    mfs_model_close(m);
    /* truncated: a clear error, no model */
    z.n /= 2;
    m = open_buf(&z, "c.joblib.z", &c, &e);
    MFS_ASSERT(!m);
    fprintf(stderr, "truncated: %s\n", e.msg);
    MFS_ASSERT(strstr(e.msg, "zlib") != NULL);
    free(z.b);
    free(p.b);
}

/* Hostile wrappers: each must fail to open with a message, never crash. */
static void expect_fatal(struct pb *p, const char *needle)
{
    struct counting c;
    mfs_err e;
    mfs_model *m = open_buf(p, "bad.joblib", &c, &e);
    if (m) fprintf(stderr, "opened, expected an error with '%s'\n", needle);
    MFS_ASSERT(!m);
    fprintf(stderr, "error: %s\n", e.msg);
    MFS_ASSERT(strstr(e.msg, needle) != NULL);
}

MFS_TEST(test_joblib_hostile_wrappers)
{
    double d[2] = {1, 2};
    int64_t huge[2] = {INT64_C(1) << 30, INT64_C(1) << 20}, two[1] = {2}, neg[1] = {-3},
            over[3] = {INT64_C(1) << 40, INT64_C(1) << 40, INT64_C(1) << 40};
    struct pb p = {0};
    start(&p); jb_array(&p, 2, huge, "f8", "<", 0, 1, d, sizeof d); stop(&p);
    expect_fatal(&p, "past the end");
    p.n = 0;
    start(&p); jb_array(&p, 3, over, "f8", "<", 0, 0, d, sizeof d); stop(&p);
    expect_fatal(&p, "overflow");
    p.n = 0;
    start(&p); jb_array(&p, 1, neg, "f8", "<", 0, 0, d, sizeof d); stop(&p);
    expect_fatal(&p, "negative");
    p.n = 0;
    start(&p); jb_array(&p, 1, two, "f8", "<", 0, 1, d, sizeof d); /* no STOP */
    expect_fatal(&p, "pickle");
    p.n = 0;
    start(&p); jb_array(&p, 1, two, "f8", "<", 0, 1, d, 8); /* data truncated */
    expect_fatal(&p, "past the end");
    /* a padding byte that points past the end */
    p.n = 0;
    start(&p); jb_array(&p, 1, two, "f8", "<", 0, 2, d, 0);
    op(&p, 0xFF);
    expect_fatal(&p, "past the end");
    /* the dtype is not a dtype */
    p.n = 0;
    start(&p);
    global(&p, "joblib.numpy_pickle", "NumpyArrayWrapper");
    op(&p, ')'); op(&p, 0x81); op(&p, '}'); op(&p, '(');
    ustr(&p, "shape"); shape_tuple(&p, 1, two);
    ustr(&p, "dtype"); ustr(&p, "f8");
    op(&p, 'u'); op(&p, 'b');
    put(&p, d, sizeof d);
    stop(&p);
    expect_fatal(&p, "dtype");
    free(p.b);
}

/* numpy's own forms: _reconstruct with the right and wrong lengths,
 * big-endian complex, plus a cycle and deep nesting: mounts, skips what is
 * wrong (WARN), never loops. */
MFS_TEST(test_joblib_reconstruct_forms)
{
    double d[4] = {1.25, -2, 3, 4};
    unsigned char bec[16] = {0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0}; /* 1+2j big-endian */
    int64_t s4[1] = {4}, s1[1] = {1}, s5[1] = {5};
    struct pb p = {0};
    start(&p);
    op(&p, '}');
    op(&p, 0x94); /* memoize the dict as 0 */
    op(&p, '(');
    ustr(&p, "good"); np_recon(&p, 1, s4, "f8", "<", 0, d, sizeof d);
    ustr(&p, "short"); np_recon(&p, 1, s5, "f8", "<", 0, d, sizeof d);
    ustr(&p, "cplx"); np_recon(&p, 1, s1, "c16", ">", 0, bec, 16);
    ustr(&p, "self"); op(&p, 'h'); op(&p, 0); /* the dict itself: a cycle */
    ustr(&p, "deep");
    for (int i = 0; i < 300; i++) op(&p, ']');
    for (int i = 0; i < 299; i++) op(&p, 'a');
    op(&p, 'u');
    stop(&p);
    struct counting c;
    mfs_err e;
    mfs_model *m = open_buf(&p, "np.pkl", &c, &e);
    if (!m) fprintf(stderr, "%s\n", e.msg);
    MFS_ASSERT(m);
    expect_text(m, "format", "pickle\n");
    size_t n;
    char *b = cat(m, "tensors/good/data", &n);
    MFS_ASSERT(n == sizeof d && memcmp(b, d, n) == 0);
    free(b);
    MFS_ASSERT(mfs_node_resolve(m, "tensors/short") == 0);
    b = cat(m, "tensors/cplx/data", &n);
    double want[2] = {1, 2};
    MFS_ASSERT(n == 16 && memcmp(b, want, 16) == 0);
    free(b);
    expect_text(m, "tensors/cplx/dtype", "complex128\n");
    mfs_model_close(m);
    free(p.b);
}

/* Detection of what the joblib bid peeks at. */
MFS_TEST(test_joblib_detect_prefixes)
{
    MFS_ASSERT_EQ_U(mfs_decomp_detect("x^", 2), MFS_DECOMP_ZLIB); /* joblib 0.10's "x^" */
    MFS_ASSERT_EQ_U(mfs_decomp_detect("\x80\x04\x95", 3), MFS_DECOMP_NONE);
    /* a text file that starts like zlib is not taken for a joblib file */
    struct pb p = {0};
    put(&p, "x^ this is text, not deflate\n", 29);
    struct counting c;
    mfs_err e;
    mfs_model *m = open_buf(&p, "notes.txt", &c, &e);
    MFS_ASSERT(!m || strcmp(mfs_model_format(m), "joblib") != 0);
    mfs_model_close(m);
    free(p.b);
}
