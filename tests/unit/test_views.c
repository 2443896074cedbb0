/* Unit tests of the tensor views (src/views): exact sizes, npy header,
 * values arithmetic and partial reads, stats on nan/inf/empty/scalar. */
#include "mfs_test.h"
#include "views/view.h"
#include <math.h>

struct fx {
    mfs_tree *t;
    mfs_src *s;
};

/* A tensor of @dt/@shape over a copy of @bytes, placed at tensors/x. */
static mfs_tensor *fixture(struct fx *f, mfs_dtype dt, int nd, const uint64_t *shape,
                           const void *bytes, size_t n)
{
    mfs_err e;
    f->t = mfs_tree_new();
    f->s = mfs_src_new_mem(bytes, n, 1, "mem");
    mfs_tensor *x = mfs_tree_tensor_new(f->t);
    x->dtype = dt;
    MFS_ASSERT(mfs_tensor_set_shape(x, nd, shape, &e) == MFS_OK);
    MFS_ASSERT(mfs_tensor_set_plain(x, f->s, 0, 0, &e) == MFS_OK);
    MFS_ASSERT(mfs_tree_add_model_tensor(f->t, "x", x));
    MFS_ASSERT(mfs_tree_finalize(f->t, "test", "", &e) == MFS_OK);
    return x;
}

static void fx_free(struct fx *f)
{
    mfs_tree_free(f->t);
    mfs_src_unref(f->s);
}

static const struct mfs_node *view(struct fx *f, const char *name)
{
    uint32_t id = mfs_tree_lookup_path(f->t, MFS_ROOT, name);
    MFS_ASSERT(id);
    return &f->t->n[id];
}

/* Whole content of a view, checked against its announced size. */
static char *slurp(struct fx *f, const char *name, size_t *len)
{
    const struct mfs_node *n = view(f, name);
    uint64_t size = mfs_view_size(f->t, n);
    char *b = calloc(1, (size_t)size + 1);
    mfs_err e;
    MFS_ASSERT(mfs_view_read(f->t, n, 0, b, (size_t)size + 10, &e) == (int64_t)size);
    *len = (size_t)size;
    return b;
}

MFS_TEST(test_views_npy_header)
{
    struct fx f;
    float v[6] = {1, 2, 3, 4, 5, 6};
    uint64_t sh[2] = {2, 3};
    fixture(&f, MFS_DT_F32, 2, sh, v, sizeof v);
    size_t len;
    char *b = slurp(&f, "tensors/x/data.npy", &len);
    MFS_ASSERT_EQ_U(len, 128 + 24); /* data starts at a multiple of 64, as numpy writes */
    MFS_ASSERT(!memcmp(b, "\x93NUMPY\x01\x00", 8));
    MFS_ASSERT_EQ_U((unsigned char)b[8] | (unsigned char)b[9] << 8, 118);
    MFS_ASSERT(strstr(b + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") == b + 10);
    MFS_ASSERT(b[127] == '\n' && b[126] == ' ');
    MFS_ASSERT(!memcmp(b + 128, v, 24));
    free(b);
    fx_free(&f);
    /* 1-D shapes need the trailing comma, scalars are () */
    uint64_t one[1] = {6};
    fixture(&f, MFS_DT_I8, 1, one, v, 6);
    b = slurp(&f, "tensors/x/data.npy", &len);
    MFS_ASSERT(strstr(b + 10, "'shape': (6,), }") && strstr(b + 10, "'|i1'"));
    free(b);
    fx_free(&f);
    fixture(&f, MFS_DT_F64, 0, NULL, v, 8);
    b = slurp(&f, "tensors/x/data.npy", &len);
    MFS_ASSERT(strstr(b + 10, "'shape': (), }"));
    MFS_ASSERT_EQ_U(len % 64, 8);
    free(b);
    fx_free(&f);
}

MFS_TEST(test_views_values_layout)
{
    struct fx f;
    int32_t v[6] = {1, -2, 3, 40, 500, -6000};
    uint64_t sh[2] = {2, 3};
    fixture(&f, MFS_DT_I32, 2, sh, v, sizeof v);
    size_t len;
    char *b = slurp(&f, "tensors/x/values", &len);
    MFS_ASSERT_EQ_U(len, 6 * 12);
    MFS_ASSERT_STR(b, "          1          -2           3\n"
                      "         40         500       -6000\n");
    /* any window reads the same bytes as the whole */
    const struct mfs_node *n = view(&f, "tensors/x/values");
    mfs_err e;
    for (size_t a = 0; a < len; a += 5)
        for (size_t l = 1; a + l <= len; l += 7) {
            char w[128];
            MFS_ASSERT(mfs_view_read(f.t, n, a, w, l, &e) == (int64_t)l);
            MFS_ASSERT(!memcmp(w, b + a, l));
        }
    free(b);
    fx_free(&f);
}

MFS_TEST(test_views_values_scalar_empty_opaque)
{
    struct fx f;
    double d = 2.5;
    fixture(&f, MFS_DT_F64, 0, NULL, &d, 8);
    size_t len;
    char *b = slurp(&f, "tensors/x/values", &len);
    MFS_ASSERT_STR(b, " +2.5000000000000000e+00\n");
    free(b);
    fx_free(&f);
    uint64_t sh[2] = {3, 0};
    fixture(&f, MFS_DT_F32, 2, sh, &d, 0);
    b = slurp(&f, "tensors/x/values", &len);
    MFS_ASSERT_EQ_U(len, 0);
    free(b);
    fx_free(&f);
    unsigned char q[34] = {0};
    uint64_t qs[1] = {32};
    fixture(&f, MFS_DT_Q8_0, 1, qs, q, sizeof q);
    b = slurp(&f, "tensors/x/values", &len);
    MFS_ASSERT(strstr(b, "not shown for q8_0"));
    free(b);
    b = slurp(&f, "tensors/x/data.npy", &len);
    MFS_ASSERT(strstr(b + 10, "'|u1'") && strstr(b + 10, "(34,)"));
    free(b);
    fx_free(&f);
}

static double stat_of(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    MFS_ASSERT(p);
    return strtod(p + 8, NULL);
}

MFS_TEST(test_views_stats_nan_inf)
{
    struct fx f;
    float v[6] = {1, -3, NAN, INFINITY, 0, 2};
    uint64_t sh[1] = {6};
    fixture(&f, MFS_DT_F32, 1, sh, v, sizeof v);
    size_t len;
    char *b = slurp(&f, "tensors/x/stats", &len);
    MFS_ASSERT_EQ_U(len, 8 * 33);
    MFS_ASSERT(stat_of(b, "min ") == -3);
    MFS_ASSERT(stat_of(b, "max ") == 2);
    MFS_ASSERT(stat_of(b, "mean") == 0);
    MFS_ASSERT(fabs(stat_of(b, "std ") - sqrt(14.0 / 4)) < 1e-12);
    MFS_ASSERT(stat_of(b, "absmax") == 3);
    MFS_ASSERT(stat_of(b, "nonzero") == 5); /* nan and inf are nonzero */
    MFS_ASSERT(stat_of(b, "\nnan") == 1);
    MFS_ASSERT(stat_of(b, "\ninf") == 1);
    free(b);
    fx_free(&f);
}

MFS_TEST(test_views_stats_empty_scalar_int)
{
    struct fx f;
    uint64_t sh[1] = {0};
    float none = 0;
    fixture(&f, MFS_DT_F32, 1, sh, &none, 0);
    size_t len;
    char *b = slurp(&f, "tensors/x/stats", &len);
    MFS_ASSERT(isnan(stat_of(b, "min ")) && isnan(stat_of(b, "mean")));
    MFS_ASSERT(stat_of(b, "nonzero") == 0);
    free(b);
    fx_free(&f);
    int64_t big[2] = {INT64_MIN, INT64_MAX};
    uint64_t s2[1] = {2};
    fixture(&f, MFS_DT_I64, 1, s2, big, sizeof big);
    b = slurp(&f, "tensors/x/stats", &len);
    MFS_ASSERT(strstr(b, "-9223372036854775808\n") && strstr(b, "9223372036854775807\n"));
    free(b);
    fx_free(&f);
    double d = -7;
    fixture(&f, MFS_DT_F64, 0, NULL, &d, 8);
    b = slurp(&f, "tensors/x/stats", &len);
    MFS_ASSERT(stat_of(b, "min ") == -7 && stat_of(b, "std ") == 0);
    free(b);
    fx_free(&f);
}

MFS_TEST(test_views_sums_and_small_files)
{
    struct fx f;
    unsigned char abc[3] = {'a', 'b', 'c'};
    uint64_t sh[1] = {3};
    fixture(&f, MFS_DT_U8, 1, sh, abc, 3);
    size_t len;
    char *b = slurp(&f, "SHA256SUMS", &len);
    MFS_ASSERT_STR(b, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  x/data\n");
    free(b);
    b = slurp(&f, "tensors/x/dtype", &len);
    MFS_ASSERT_STR(b, "uint8\n");
    free(b);
    b = slurp(&f, "tensors/x/shape", &len);
    MFS_ASSERT_STR(b, "[3]\n");
    free(b);
    b = slurp(&f, "tensors/x/info.json", &len);
    json_t *j = json_loads(b, 0, NULL);
    MFS_ASSERT(j && json_integer_value(json_object_get(j, "nbytes")) == 3);
    MFS_ASSERT_STR(json_string_value(json_object_get(j, "encoding")), "plain");
    json_decref(j);
    free(b);
    fx_free(&f);
}
