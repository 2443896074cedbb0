/* Unit tests of the HDF5 reader's read path, on files written here with
 * the HDF5 C API: byte ranges of chunked/compressed/converted datasets
 * against the bytes written, reads that must touch only the chunks they
 * need (counted at the byte source), concurrent readers, and opening
 * HDF5 bytes that are not a file (memory source, the .keras case). */
#include "mfs_test.h"
#include "core/model.h"
#include "core/src.h"
#include "modelfs/modelfs.h"
#include <hdf5.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

/* deterministic pseudo-random bytes */
static uint64_t rs = 88172645463325252ull;
static uint64_t xr(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static void *read_all(mfs_model *m, const char *path, size_t *n)
{
    uint32_t id = mfs_node_resolve(m, path);
    MFS_ASSERT(id);
    uint64_t size = mfs_node_size(m, id);
    char *b = malloc((size_t)size + 1);
    mfs_err e;
    MFS_ASSERT(mfs_node_read(m, id, 0, b, (size_t)size, &e) == (int64_t)size);
    *n = (size_t)size;
    return b;
}

/* Writes dataset @name: @ftype in the file, @mtype/@buf in memory. */
static void put(hid_t f, const char *name, hid_t ftype, hid_t mtype, int nd, const hsize_t *dims,
                const hsize_t *chunks, int gzip, const void *buf)
{
    hid_t sp = nd ? H5Screate_simple(nd, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunks) {
        H5Pset_chunk(dcpl, nd, chunks);
        if (gzip) {
            H5Pset_shuffle(dcpl);
            H5Pset_deflate(dcpl, gzip);
        }
    }
    hid_t d = H5Dcreate2(f, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    MFS_ASSERT(d >= 0);
    MFS_ASSERT(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
}

/* The datasets of test.h5 and their canonical (LE) bytes. */
struct ds {
    const char *path;
    unsigned char *bytes;
    size_t n;
};
static struct ds dsets[6];
static size_t ndsets;

static void make_file(const char *path)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    MFS_ASSERT(f >= 0);
    ndsets = 0;
    { /* 2-D int32, chunks that do not divide the shape, gzip+shuffle */
        hsize_t dims[2] = {97, 53}, ch[2] = {10, 7};
        int32_t *v = malloc(97 * 53 * 4);
        for (size_t i = 0; i < 97 * 53; i++) v[i] = (int32_t)(xr() % 1000) - 500;
        put(f, "i32_gzip", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, dims, ch, 4, v);
        dsets[ndsets++] = (struct ds){"i32_gzip", (unsigned char *)v, 97 * 53 * 4};
    }
    { /* 3-D float64 stored big-endian, chunked: HDF5 converts */
        hsize_t dims[3] = {5, 11, 13}, ch[3] = {2, 3, 4};
        double *v = malloc(5 * 11 * 13 * 8);
        for (size_t i = 0; i < 5 * 11 * 13; i++) v[i] = (double)(int64_t)xr() / 1e9;
        put(f, "f64_be", H5T_IEEE_F64BE, H5T_NATIVE_DOUBLE, 3, dims, ch, 0, v);
        dsets[ndsets++] = (struct ds){"f64_be", (unsigned char *)v, 5 * 11 * 13 * 8};
    }
    { /* complex64 as h5py writes it (compound r, i), big-endian: 8-byte
       * elements with 4-byte parts, so reads of odd ranges split elements */
        hid_t be = H5Tcreate(H5T_COMPOUND, 8), le = H5Tcreate(H5T_COMPOUND, 8);
        H5Tinsert(be, "r", 0, H5T_IEEE_F32BE);
        H5Tinsert(be, "i", 4, H5T_IEEE_F32BE);
        H5Tinsert(le, "r", 0, H5T_NATIVE_FLOAT);
        H5Tinsert(le, "i", 4, H5T_NATIVE_FLOAT);
        hsize_t dims[1] = {301}, ch[1] = {17};
        float *v = malloc(301 * 8);
        for (size_t i = 0; i < 602; i++) v[i] = (float)(int32_t)xr() / 7.0f;
        put(f, "c64_be", be, le, 1, dims, ch, 6, v);
        H5Tclose(be);
        H5Tclose(le);
        dsets[ndsets++] = (struct ds){"c64_be", (unsigned char *)v, 301 * 8};
    }
    { /* contiguous big-endian int16: a BYTESWAP locator */
        hsize_t dims[2] = {33, 3};
        int16_t *v = malloc(99 * 2);
        for (size_t i = 0; i < 99; i++) v[i] = (int16_t)xr();
        put(f, "i16_be", H5T_STD_I16BE, H5T_NATIVE_INT16, 2, dims, NULL, 0, v);
        dsets[ndsets++] = (struct ds){"i16_be", (unsigned char *)v, 99 * 2};
    }
    { /* scalar */
        double *v = malloc(8);
        *v = -2.5;
        put(f, "scalar", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, NULL, NULL, 0, v);
        dsets[ndsets++] = (struct ds){"scalar", (unsigned char *)v, 8};
    }
    H5Fclose(f);
}

static void free_dsets(void)
{
    for (size_t i = 0; i < ndsets; i++) free(dsets[i].bytes);
    ndsets = 0;
}

MFS_TEST(test_h5_byte_ranges)
{
    make_file("test.h5");
    mfs_model *m;
    mfs_err e;
    MFS_ASSERT(mfs_model_open("test.h5", NULL, &m, &e) >= 0);
    MFS_ASSERT_STR(mfs_model_format(m), "hdf5");
    for (size_t k = 0; k < ndsets; k++) {
        char p[256];
        snprintf(p, sizeof p, "raw/%s/data", dsets[k].path);
        size_t n;
        unsigned char *all = read_all(m, p, &n);
        MFS_ASSERT_EQ_U(n, dsets[k].n);
        MFS_ASSERT(memcmp(all, dsets[k].bytes, n) == 0);
        free(all);
        uint32_t id = mfs_node_resolve(m, p);
        unsigned char buf[4096];
        for (int r = 0; r < 400; r++) {
            uint64_t off = xr() % n, len = 1 + xr() % (r % 4 == 0 ? sizeof buf : 40);
            if (off + len > n) len = n - off;
            MFS_ASSERT(mfs_node_read(m, id, off, buf, (size_t)len, &e) == (int64_t)len);
            if (memcmp(buf, dsets[k].bytes + off, (size_t)len) != 0) {
                fprintf(stderr, "%s: [%llu, +%llu) differs\n", p, (unsigned long long)off,
                        (unsigned long long)len);
                MFS_ASSERT(0);
            }
        }
    }
    mfs_model_close(m);
    free_dsets();
}

/* A file source counting the bytes read through it. */
static atomic_ullong counted;
static int64_t count_pread(mfs_src *s, void *buf, size_t len, uint64_t off, mfs_err *e)
{
    (void)e;
    ssize_t r = pread(*(int *)s->ctx, buf, len, (off_t)off);
    if (r > 0) counted += (unsigned long long)r;
    return r;
}
static void count_close(mfs_src *s)
{
    close(*(int *)s->ctx);
    free(s->ctx);
}
static const struct mfs_src_ops count_ops = {count_pread, count_close};

MFS_TEST(test_h5_reads_touch_only_needed_chunks)
{
    /* 4 Mi float32 in 256 chunks of 16 Ki elements (64 KiB), gzip of
     * hard-to-compress data: about 4 MiB of compressed chunks */
    enum { N = 1 << 22, CH = 1 << 14 };
    float *v = malloc((size_t)N * 4);
    for (size_t i = 0; i < N; i++) v[i] = (float)(int32_t)xr();
    hid_t f = H5Fcreate("big.h5", H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[1] = {N}, ch[1] = {CH};
    put(f, "x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, dims, ch, 1, v);
    H5Fclose(f);
    int *fd = malloc(sizeof *fd);
    *fd = open("big.h5", O_RDONLY);
    MFS_ASSERT(*fd >= 0);
    off_t size = lseek(*fd, 0, SEEK_END);
    MFS_ASSERT(size > 3 * 1024 * 1024);
    mfs_src *src = mfs_src_new_custom(&count_ops, fd, (uint64_t)size, "big.h5");
    mfs_model *m;
    mfs_err e;
    MFS_ASSERT(mfs_model_open_src(src, "big.h5", NULL, &m, &e) >= 0);
    uint32_t id = mfs_node_resolve(m, "raw/x/data");
    MFS_ASSERT(id);
    /* 100 bytes in the middle: one chunk (+ the chunk index, metadata) */
    counted = 0;
    unsigned char buf[100];
    uint64_t off = (uint64_t)N * 2 + 12345;
    MFS_ASSERT(mfs_node_read(m, id, off, buf, sizeof buf, &e) == 100);
    MFS_ASSERT(memcmp(buf, (unsigned char *)v + off, 100) == 0);
    unsigned long long first = counted;
    fprintf(stderr, "100-byte read touched %llu of %lld bytes\n", first, (long long)size);
    MFS_ASSERT(first < 3 * CH * 4); /* about one compressed chunk, not the file */
    /* a read across a chunk boundary touches two chunks at most */
    counted = 0;
    off = (uint64_t)CH * 4 * 100 - 50;
    MFS_ASSERT(mfs_node_read(m, id, off, buf, sizeof buf, &e) == 100);
    MFS_ASSERT(memcmp(buf, (unsigned char *)v + off, 100) == 0);
    MFS_ASSERT(counted < 4 * CH * 4);
    /* the same range again: the dataset's chunk cache answers */
    counted = 0;
    MFS_ASSERT(mfs_node_read(m, id, off, buf, sizeof buf, &e) == 100);
    MFS_ASSERT(counted < CH);
    mfs_model_close(m);
    mfs_src_unref(src);
    free(v);
}

struct job {
    mfs_model *m;
    int seed;
    int bad;
};

static void *reader(void *arg)
{
    struct job *j = arg;
    uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(j->seed + 1);
    unsigned char buf[8192];
    for (int r = 0; r < 300; r++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        struct ds *d = &dsets[s % 3]; /* the CUSTOM (locked) ones */
        char p[256];
        snprintf(p, sizeof p, "raw/%s/data", d->path);
        uint32_t id = mfs_node_resolve(j->m, p);
        uint64_t off = (s >> 8) % d->n, len = 1 + (s >> 20) % sizeof buf;
        if (off + len > d->n) len = d->n - off;
        mfs_err e;
        if (mfs_node_read(j->m, id, off, buf, (size_t)len, &e) != (int64_t)len ||
            memcmp(buf, d->bytes + off, (size_t)len) != 0)
            j->bad++;
    }
    return NULL;
}

MFS_TEST(test_h5_concurrent_reads)
{
    make_file("test.h5");
    mfs_model *m;
    mfs_err e;
    MFS_ASSERT(mfs_model_open("test.h5", NULL, &m, &e) >= 0);
    pthread_t th[8];
    struct job jobs[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = (struct job){m, i, 0};
        MFS_ASSERT(pthread_create(&th[i], NULL, reader, &jobs[i]) == 0);
    }
    int bad = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        bad += jobs[i].bad;
    }
    MFS_ASSERT_EQ_U(bad, 0);
    mfs_model_close(m);
    free_dsets();
}

MFS_TEST(test_h5_from_memory)
{
    make_file("test.h5");
    size_t n;
    char *bytes = mfs_test_read_file("test.h5", &n);
    /* with a leading junk prefix, as a zip member would sit in an archive:
     * the source is a window, HDF5 sees offset 0 */
    mfs_src *src = mfs_src_new_mem(bytes, n, 1, "mem.h5");
    free(bytes);
    mfs_model *m;
    mfs_err e;
    MFS_ASSERT(mfs_model_open_src(src, "mem.h5", NULL, &m, &e) >= 0);
    size_t got;
    unsigned char *all = read_all(m, "tensors/i32_gzip/data", &got);
    MFS_ASSERT(got == dsets[0].n && memcmp(all, dsets[0].bytes, got) == 0);
    free(all);
    mfs_model_close(m);
    mfs_src_unref(src);
    free_dsets();
}

MFS_TEST(test_h5_refuses_garbage_after_signature)
{
    unsigned char junk[4096];
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)xr();
    memcpy(junk, sig, 8);
    mfs_test_write_file("junk.h5", junk, sizeof junk);
    mfs_model *m = NULL;
    mfs_err e;
    MFS_ASSERT(mfs_model_open("junk.h5", NULL, &m, &e) == MFS_FATAL);
    MFS_ASSERT(m == NULL);
    fprintf(stderr, "message: %s\n", e.msg);
    MFS_ASSERT(strstr(e.msg, "junk.h5") && strstr(e.msg, "HDF5"));
}

MFS_TEST(test_h5_partly_written_chunks)
{
    /* 10x10 int32, chunks 5x5, gzip, fill value 7; only the chunk at
     * (5, 0) is written: reads mix decoded chunks and the fill value */
    hid_t f = H5Fcreate("partial.h5", H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {10, 10}, ch[2] = {5, 5}, start[2] = {5, 0}, cnt[2] = {5, 5};
    hid_t sp = H5Screate_simple(2, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int fill = 7;
    H5Pset_chunk(dcpl, 2, ch);
    H5Pset_deflate(dcpl, 6);
    H5Pset_fill_value(dcpl, H5T_NATIVE_INT32, &fill);
    hid_t d = H5Dcreate2(f, "x", H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int32_t part[25], want[100];
    for (int i = 0; i < 25; i++) part[i] = 1000 + i;
    hid_t ms = H5Screate_simple(2, cnt, NULL);
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, cnt, NULL);
    MFS_ASSERT(H5Dwrite(d, H5T_NATIVE_INT32, ms, sp, H5P_DEFAULT, part) >= 0);
    H5Sclose(ms), H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp), H5Fclose(f);
    for (int r = 0; r < 10; r++)
        for (int c = 0; c < 10; c++) want[r * 10 + c] = (r >= 5 && c < 5) ? 1000 + (r - 5) * 5 + c : 7;
    mfs_model *m;
    mfs_err e;
    MFS_ASSERT(mfs_model_open("partial.h5", NULL, &m, &e) >= 0);
    size_t n;
    unsigned char *all = read_all(m, "raw/x/data", &n);
    MFS_ASSERT(n == sizeof want && memcmp(all, want, n) == 0);
    free(all);
    uint32_t id = mfs_node_resolve(m, "raw/x/data");
    unsigned char buf[400];
    for (int r = 0; r < 300; r++) {
        uint64_t off = xr() % sizeof want, len = 1 + xr() % 120;
        if (off + len > sizeof want) len = sizeof want - off;
        MFS_ASSERT(mfs_node_read(m, id, off, buf, (size_t)len, &e) == (int64_t)len);
        MFS_ASSERT(memcmp(buf, (unsigned char *)want + off, (size_t)len) == 0);
    }
    mfs_model_close(m);
}

MFS_TEST(test_h5_no_open_objects)
{
    /* every HDF5 id the readers open is closed again with the model (the
     * sanitizer builds suppress leaks allocated inside libhdf5, whose
     * error paths leak on corrupt files; this is what keeps ours honest) */
    make_file("test.h5");
    mfs_model *m;
    mfs_err e;
    MFS_ASSERT(mfs_model_open("test.h5", NULL, &m, &e) >= 0);
    for (size_t k = 0; k < ndsets; k++) {
        char p[256];
        size_t n;
        snprintf(p, sizeof p, "raw/%s/data", dsets[k].path);
        free(read_all(m, p, &n));
    }
    MFS_ASSERT(H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL) > 0);
    mfs_model_close(m);
    ssize_t left = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (left) fprintf(stderr, "%zd HDF5 objects still open\n", left);
    MFS_ASSERT_EQ_U(left, 0);
    free_dsets();
}
