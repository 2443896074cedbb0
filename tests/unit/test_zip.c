/* test_zip.c: src/core/zip.c: listing and data offsets (stored, deflated,
 * zip64), member sources (stored windows, the inflater with restart
 * points), whole-member reads with CRC checks, and damaged archives.
 * Archives are made by /usr/bin/python3's zipfile in the test's temp dir,
 * next to the expected member bytes (<name>.bin), so every check compares
 * with an independent writer. */
#include "mfs_test.h"
#include "core/zip.h"
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

/* Test hook of zip.c (not in zip.h): bytes a deflated member source has
 * inflated over its lifetime. */
uint64_t mfs_zip__inflated_bytes(mfs_src *s);

static void python(const char *script)
{
    const char *py = getenv("PYTHON");
    char cmd[512];
    mfs_test_write_file("gen.py", script, strlen(script));
    snprintf(cmd, sizeof cmd, "%s gen.py", py && *py ? py : "/usr/bin/python3");
    if (system(cmd) != 0) MFS_SKIP("python3 with zipfile could not write the test archive");
}

/* Members a.bin (stored, text), b.bin (deflated, 300 KB of mixed bytes),
 * dir/ (a directory) and dir/c.bin (deflated, empty). */
static const char *GEN_SMALL =
    "import zipfile, random\n"
    "r = random.Random(1)\n"
    "a = b'hello zip ' * 1000\n"
    "b = bytes(r.randrange(40) for _ in range(300000))\n"
    "open('a.bin','wb').write(a); open('b.bin','wb').write(b)\n"
    "with zipfile.ZipFile('t.zip', 'w') as z:\n"
    "    z.writestr(zipfile.ZipInfo('a.bin'), a)\n"
    "    z.writestr('b.bin', b, compress_type=zipfile.ZIP_DEFLATED)\n"
    "    z.writestr('dir/', b'')\n"
    "    z.writestr('dir/c.bin', b'', compress_type=zipfile.ZIP_DEFLATED)\n";

static struct mfs_zip *open_zip(const char *path, mfs_src **srcp)
{
    mfs_err e = {0};
    mfs_src *s = mfs_src_new_file(path, &e);
    MFS_ASSERT(s);
    struct mfs_zip *z = mfs_zip_open(s, &e);
    if (!z) fprintf(stderr, "mfs_zip_open: %s\n", e.msg);
    MFS_ASSERT(z);
    *srcp = s;
    return z;
}

/* Reads all of member @name through its source, in odd-sized slices and
 * backwards, and compares with the file <name>.bin. */
static void check_member_src(struct mfs_zip *z, const char *name, const char *expect_file)
{
    size_t n;
    char *want = mfs_test_read_file(expect_file, &n);
    long i = mfs_zip_find(z, name);
    MFS_ASSERT(i >= 0);
    MFS_ASSERT_EQ_U(z->m[i].size, n);
    mfs_err e = {0};
    mfs_src *ms = mfs_zip_member_src(z, (size_t)i, &e);
    MFS_ASSERT(ms);
    MFS_ASSERT_EQ_U(ms->size, n);
    char *got = malloc(n + 1);
    size_t step = 7919;
    for (size_t off = n; off > 0;) {
        size_t len = off < step ? off : step;
        off -= len;
        MFS_ASSERT(mfs_src_read_exact(ms, got + off, len, off, &e) == MFS_OK);
    }
    MFS_ASSERT(memcmp(got, want, n) == 0);
    /* a read past the end is short, not an error */
    if (n) MFS_ASSERT_EQ_U(mfs_src_read(ms, got, 100, n - 1, &e), 1);
    MFS_ASSERT_EQ_U(mfs_src_read(ms, got, 100, n, &e), 0);
    mfs_src_unref(ms);
    void *whole = mfs_zip_read_member(z, (size_t)i, n, &e);
    MFS_ASSERT(whole);
    MFS_ASSERT(memcmp(whole, want, n) == 0);
    MFS_ASSERT(((char *)whole)[n] == 0);
    free(whole);
    free(got);
    free(want);
}

MFS_TEST(test_zip_listing)
{
    python(GEN_SMALL);
    mfs_src *s;
    struct mfs_zip *z = open_zip("t.zip", &s);
    MFS_ASSERT_EQ_U(z->count, 4);
    MFS_ASSERT_STR(z->m[0].name, "a.bin");
    MFS_ASSERT_EQ_U(z->m[0].method, 0);
    MFS_ASSERT_EQ_U(z->m[1].method, 8);
    MFS_ASSERT(z->m[1].comp_size < z->m[1].size);
    MFS_ASSERT(z->m[2].is_dir);
    MFS_ASSERT(!z->m[0].is_dir && !z->m[3].is_dir);
    MFS_ASSERT_EQ_U(mfs_zip_find(z, "dir/c.bin"), 3);
    MFS_ASSERT(mfs_zip_find(z, "nope") == -1);
    /* the stored member's bytes are at data_offset in the file */
    char buf[10];
    mfs_err e = {0};
    MFS_ASSERT(mfs_src_read_exact(s, buf, 10, z->m[0].data_offset, &e) == MFS_OK);
    MFS_ASSERT(memcmp(buf, "hello zip ", 10) == 0);
    mfs_zip_free(z);
    mfs_zip_free(NULL);
    mfs_src_unref(s);
}

MFS_TEST(test_zip_stored_and_deflated)
{
    python(GEN_SMALL);
    mfs_src *s;
    struct mfs_zip *z = open_zip("t.zip", &s);
    check_member_src(z, "a.bin", "a.bin");
    check_member_src(z, "b.bin", "b.bin");
    mfs_test_write_file("empty.bin", "", 0);
    check_member_src(z, "dir/c.bin", "empty.bin");
    /* the limit of read_member is enforced */
    mfs_err e = {0};
    MFS_ASSERT(mfs_zip_read_member(z, 1, 1000, &e) == NULL);
    MFS_ASSERT(e.status < 0 && strstr(e.msg, "limit"));
    mfs_zip_free(z);
    mfs_src_unref(s);
}

/* A memory source works the same (zip.c goes through mfs_src only). */
MFS_TEST(test_zip_memory_source)
{
    python(GEN_SMALL);
    size_t n;
    char *bytes = mfs_test_read_file("t.zip", &n);
    mfs_src *s = mfs_src_new_mem(bytes, n, 0, "t.zip");
    mfs_err e = {0};
    struct mfs_zip *z = mfs_zip_open(s, &e);
    MFS_ASSERT(z);
    check_member_src(z, "b.bin", "b.bin");
    mfs_zip_free(z);
    mfs_src_unref(s);
    free(bytes);
}

/* ZIP64: with zipfile.ZIP64_LIMIT lowered, sizes and offsets above it go
 * to the zip64 extra field of the central directory and the archive ends
 * with a zip64 end record and locator, as for >4 GiB archives. */
MFS_TEST(test_zip_zip64)
{
    python("import zipfile, random\n"
           "zipfile.ZIP64_LIMIT = 100\n"
           "r = random.Random(2)\n"
           "x = bytes(r.randrange(256) for _ in range(5000))\n"
           "y = bytes(r.randrange(8) for _ in range(70000))\n"
           "open('x.bin','wb').write(x); open('y.bin','wb').write(y)\n"
           "with zipfile.ZipFile('t.zip', 'w') as z:\n"
           "    z.writestr('x.bin', x)\n"
           "    z.writestr('y.bin', y, compress_type=zipfile.ZIP_DEFLATED)\n"
           "d = open('t.zip','rb').read()\n"
           "assert b'PK\\x06\\x06' in d and b'PK\\x06\\x07' in d, 'no zip64 end record'\n"
           "assert d.count(b'\\xff\\xff\\xff\\xff') >= 2, 'no zip64 extra fields'\n");
    mfs_src *s;
    struct mfs_zip *z = open_zip("t.zip", &s);
    MFS_ASSERT_EQ_U(z->count, 2);
    check_member_src(z, "x.bin", "x.bin");
    check_member_src(z, "y.bin", "y.bin");
    mfs_zip_free(z);
    mfs_src_unref(s);
}

/* numpy-style members: force_zip64 puts a zip64 extra in the local header
 * only, which changes the data offset. */
MFS_TEST(test_zip_local_zip64_extra)
{
    python("import zipfile\n"
           "x = b'0123456789' * 50\n"
           "open('x.bin','wb').write(x)\n"
           "with zipfile.ZipFile('t.zip', 'w') as z:\n"
           "    with z.open('x.bin', 'w', force_zip64=True) as f: f.write(x)\n"
           "    with z.open('y.bin', 'w', force_zip64=True) as f: f.write(x)\n");
    mfs_src *s;
    struct mfs_zip *z = open_zip("t.zip", &s);
    MFS_ASSERT(z->m[0].data_offset == 30 + 5 + 20); /* header + name + zip64 extra */
    check_member_src(z, "x.bin", "x.bin");
    check_member_src(z, "y.bin", "x.bin");
    mfs_zip_free(z);
    mfs_src_unref(s);
}

static const char *GEN_BIG =
    "import zipfile, random\n"
    "r = random.Random(3)\n"
    "pat = bytes(r.randrange(60) for _ in range(1 << 16))\n"
    "big = bytearray()\n"
    "for i in range(320): big += pat[i:] + pat[:i]\n" /* 20 MiB */
    "open('big.bin','wb').write(big)\n"
    "with zipfile.ZipFile('big.zip', 'w') as z:\n"
    "    z.writestr('big.bin', bytes(big), compress_type=zipfile.ZIP_DEFLATED)\n";

/* The restart points: after one full pass, a small read at the end does
 * not inflate the member from the start again. */
MFS_TEST(test_zip_restart_points)
{
    python(GEN_BIG);
    size_t n;
    unsigned char *want = (unsigned char *)mfs_test_read_file("big.bin", &n);
    MFS_ASSERT_EQ_U(n, 20u << 20);
    mfs_src *s;
    struct mfs_zip *z = open_zip("big.zip", &s);
    mfs_err e = {0};
    mfs_src *ms = mfs_zip_member_src(z, 0, &e);
    MFS_ASSERT(ms);
    unsigned char buf[100];
    MFS_ASSERT(mfs_src_read_exact(ms, buf, 100, n - 100, &e) == MFS_OK);
    MFS_ASSERT(memcmp(buf, want + n - 100, 100) == 0);
    uint64_t first = mfs_zip__inflated_bytes(ms);
    MFS_ASSERT(first >= n - 100); /* the first time the stream is decoded through */
    /* move the decoder elsewhere, so the end is no longer in its window */
    MFS_ASSERT(mfs_src_read_exact(ms, buf, 100, 0, &e) == MFS_OK);
    MFS_ASSERT(memcmp(buf, want, 100) == 0);
    MFS_ASSERT(mfs_src_read_exact(ms, buf, 100, n / 2, &e) == MFS_OK);
    MFS_ASSERT(memcmp(buf, want + n / 2, 100) == 0);
    uint64_t mid = mfs_zip__inflated_bytes(ms);
    MFS_ASSERT(mfs_src_read_exact(ms, buf, 100, n - 100, &e) == MFS_OK);
    MFS_ASSERT(memcmp(buf, want + n - 100, 100) == 0);
    uint64_t second = mfs_zip__inflated_bytes(ms) - mid;
    fprintf(stderr, "first tail read inflated %llu bytes, second %llu\n",
            (unsigned long long)first, (unsigned long long)second);
    MFS_ASSERT(second < (2u << 20)); /* at most about one span (1 MiB), not 20 MiB */
    /* again: served from the window, nothing inflated */
    uint64_t before = mfs_zip__inflated_bytes(ms);
    MFS_ASSERT(mfs_src_read_exact(ms, buf, 100, n - 100, &e) == MFS_OK);
    MFS_ASSERT_EQ_U(mfs_zip__inflated_bytes(ms), before);
    /* sequential reads in 128 KiB slices inflate the member about once */
    mfs_src_unref(ms);
    ms = mfs_zip_member_src(z, 0, &e);
    unsigned char *chunk = malloc(128 << 10);
    for (size_t off = 0; off < n; off += 128 << 10) {
        MFS_ASSERT(mfs_src_read_exact(ms, chunk, 128 << 10, off, &e) == MFS_OK);
        MFS_ASSERT(memcmp(chunk, want + off, 128 << 10) == 0);
    }
    MFS_ASSERT(mfs_zip__inflated_bytes(ms) < n + (64u << 10));
    free(chunk);
    mfs_src_unref(ms);
    mfs_zip_free(z);
    mfs_src_unref(s);
    free(want);
}

struct thr {
    mfs_src *ms;
    const unsigned char *want;
    size_t n;
    unsigned seed;
    int bad;
};

static void *reader_thread(void *arg)
{
    struct thr *t = arg;
    unsigned char buf[4096];
    for (int k = 0; k < 60; k++) {
        size_t off = (size_t)rand_r(&t->seed) % t->n, len = 1 + (size_t)rand_r(&t->seed) % 4096;
        if (len > t->n - off) len = t->n - off;
        mfs_err e = {0};
        if (mfs_src_read_exact(t->ms, buf, len, off, &e) != MFS_OK ||
            memcmp(buf, t->want + off, len) != 0)
            t->bad = 1;
    }
    return NULL;
}

/* Many threads reading random ranges of one deflated member. */
MFS_TEST(test_zip_threads)
{
    python(GEN_BIG);
    size_t n;
    unsigned char *want = (unsigned char *)mfs_test_read_file("big.bin", &n);
    mfs_src *s;
    struct mfs_zip *z = open_zip("big.zip", &s);
    mfs_err e = {0};
    mfs_src *ms = mfs_zip_member_src(z, 0, &e);
    pthread_t th[6];
    struct thr t[6];
    for (int i = 0; i < 6; i++) {
        t[i] = (struct thr){ms, want, n, (unsigned)i * 7 + 1, 0};
        pthread_create(&th[i], NULL, reader_thread, &t[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        MFS_ASSERT(!t[i].bad);
    }
    mfs_src_unref(ms);
    mfs_zip_free(z);
    mfs_src_unref(s);
    free(want);
}

/* A wrong CRC (patched in both headers, so the listing is consistent) and
 * corrupt deflate data give errors, never wrong bytes or a crash. */
MFS_TEST(test_zip_corrupt_member)
{
    python("import zipfile, random, struct\n"
           "r = random.Random(4)\n"
           "b = bytes(r.randrange(30) for _ in range(200000))\n"
           "with zipfile.ZipFile('t.zip', 'w') as z:\n"
           "    z.writestr('s.bin', b[:1000])\n"
           "    z.writestr('d.bin', b, compress_type=zipfile.ZIP_DEFLATED)\n"
           "d = bytearray(open('t.zip','rb').read())\n"
           "crc = bytearray(d)\n"
           "for sig, at in ((b'PK\\x03\\x04', 14), (b'PK\\x01\\x02', 16)):\n"
           "    i = -1\n"
           "    while True:\n"
           "        i = d.find(sig, i + 1)\n"
           "        if i < 0: break\n"
           "        crc[i + at] ^= 0xff\n"
           "open('crc.zip','wb').write(crc)\n"
           "z = zipfile.ZipFile('t.zip'); info = z.getinfo('d.bin')\n"
           "off = info.header_offset + 30 + len(info.filename) + len(info.extra)\n"
           "for k in range(40): d[off + info.compress_size // 2 + k] ^= 0x5a\n"
           "open('bad.zip','wb').write(d)\n");
    mfs_src *s;
    mfs_err e = {0};
    struct mfs_zip *z = open_zip("crc.zip", &s);
    MFS_ASSERT(mfs_zip_read_member(z, 0, 1 << 20, &e) == NULL);
    MFS_ASSERT(strstr(e.msg, "CRC"));
    memset(&e, 0, sizeof e);
    MFS_ASSERT(mfs_zip_read_member(z, 1, 1 << 20, &e) == NULL);
    MFS_ASSERT(strstr(e.msg, "CRC"));
    MFS_ASSERT_EQ_U(e.errnum, EIO);
    mfs_zip_free(z);
    mfs_src_unref(s);

    z = open_zip("bad.zip", &s);
    memset(&e, 0, sizeof e);
    MFS_ASSERT(mfs_zip_read_member(z, 1, 1 << 20, &e) == NULL);
    MFS_ASSERT(e.status == MFS_FAILED && e.errnum == EIO);
    mfs_src *ms = mfs_zip_member_src(z, 1, &e);
    MFS_ASSERT(ms);
    char buf[1000];
    /* the start decodes; the end cannot (twice: the error is repeatable) */
    MFS_ASSERT(mfs_src_read_exact(ms, buf, 100, 0, &e) == MFS_OK);
    MFS_ASSERT(mfs_src_read(ms, buf, 1000, ms->size - 1000, &e) < 0);
    MFS_ASSERT(mfs_src_read(ms, buf, 1000, ms->size - 1000, &e) < 0);
    MFS_ASSERT(mfs_src_read_exact(ms, buf, 100, 0, &e) == MFS_OK);
    mfs_src_unref(ms);
    mfs_zip_free(z);
    mfs_src_unref(s);
}

/* Not a zip, truncated archives, lying offsets: NULL with a message. */
MFS_TEST(test_zip_bad_archives)
{
    python(GEN_SMALL);
    size_t n;
    char *d = mfs_test_read_file("t.zip", &n);
    mfs_err e;
    size_t cuts[] = {0, 3, 21, 22, 100, n / 2, n - 23, n - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        mfs_src *s = mfs_src_new_mem(d, cuts[k], 0, "cut");
        memset(&e, 0, sizeof e);
        MFS_ASSERT(mfs_zip_open(s, &e) == NULL);
        MFS_ASSERT(e.status == MFS_FATAL && e.msg[0]);
        mfs_src_unref(s);
    }
    /* garbage */
    char junk[5000];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(i * 31 + 7);
    mfs_src *s = mfs_src_new_mem(junk, sizeof junk, 0, "junk");
    MFS_ASSERT(mfs_zip_open(s, &e) == NULL);
    MFS_ASSERT(strstr(e.msg, "not a zip"));
    mfs_src_unref(s);
    /* a central directory entry whose local header offset is wrong */
    char *bad = malloc(n);
    memcpy(bad, d, n);
    char *cd = memmem(bad, n, "PK\x01\x02", 4);
    MFS_ASSERT(cd);
    cd[42] = 0x77, cd[43] = 0x77; /* local header offset */
    s = mfs_src_new_mem(bad, n, 0, "bad");
    memset(&e, 0, sizeof e);
    MFS_ASSERT(mfs_zip_open(s, &e) == NULL);
    MFS_ASSERT(strstr(e.msg, "local header"));
    mfs_src_unref(s);
    /* a compressed size running past the end of the file */
    memcpy(bad, d, n);
    cd = memmem(bad, n, "PK\x01\x02", 4);
    cd[20] = (char)0xff, cd[21] = (char)0xff, cd[22] = 0x7f;
    s = mfs_src_new_mem(bad, n, 0, "bad");
    memset(&e, 0, sizeof e);
    MFS_ASSERT(mfs_zip_open(s, &e) == NULL);
    MFS_ASSERT(e.status == MFS_FATAL);
    mfs_src_unref(s);
    free(bad);
    free(d);
}

/* Members whose method is neither stored nor deflate are refused by
 * mfs_zip_member_src with a message (here bzip2). */
MFS_TEST(test_zip_unsupported_method)
{
    python("import zipfile\n"
           "with zipfile.ZipFile('t.zip', 'w') as z:\n"
           "    z.writestr('x.bin', b'abc' * 1000, compress_type=zipfile.ZIP_BZIP2)\n");
    mfs_src *s;
    struct mfs_zip *z = open_zip("t.zip", &s);
    MFS_ASSERT_EQ_U(z->m[0].method, 12);
    mfs_err e = {0};
    MFS_ASSERT(mfs_zip_member_src(z, 0, &e) == NULL);
    MFS_ASSERT(strstr(e.msg, "method 12"));
    MFS_ASSERT(mfs_zip_read_member(z, 0, 1 << 20, &e) == NULL);
    mfs_zip_free(z);
    mfs_src_unref(s);
}

/* A source over a file that counts its reads. */
struct counting { mfs_src *file; int reads; };
static int64_t counting_pread(mfs_src *s, void *buf, size_t len, uint64_t off, mfs_err *e)
{
    struct counting *c = s->ctx;
    __atomic_add_fetch(&c->reads, 1, __ATOMIC_RELAXED);
    return mfs_src_read(c->file, buf, len, off, e);
}
static void counting_close(mfs_src *s) { mfs_src_unref(((struct counting *)s->ctx)->file); }
static const struct mfs_src_ops counting_ops = {counting_pread, counting_close};

/* 3,000 members with long names: a central directory far larger than
 * libzip's read-ahead, which it then reads entry by entry. The listing is
 * complete and right, and the archive is read about once per member (its
 * local header), not three times. */
MFS_TEST(test_zip_big_central_directory)
{
    python("import zipfile\n"
           "with zipfile.ZipFile('big.zip', 'w') as z:\n"
           "    for i in range(3000):\n"
           "        z.writestr(zipfile.ZipInfo('archive/data/%05d_' % i + 'x' * 60), b'%d' % i)\n");
    mfs_err e = {0};
    struct counting c = {mfs_src_new_file("big.zip", &e), 0};
    MFS_ASSERT(c.file);
    mfs_src *s = mfs_src_new_custom(&counting_ops, &c, c.file->size, "big.zip");
    MFS_ASSERT(s);
    struct mfs_zip *z = mfs_zip_open(s, &e);
    if (!z) fprintf(stderr, "mfs_zip_open: %s\n", e.msg);
    MFS_ASSERT(z && z->count == 3000);
    MFS_ASSERT(c.reads < 3000 + 50);
    char want[16], got[16];
    for (size_t i = 0; i < 3000; i += 999) {
        snprintf(want, sizeof want, "%zu", i);
        MFS_ASSERT(strncmp(z->m[i].name + 18, "_xxx", 4) == 0);
        MFS_ASSERT(mfs_src_read_exact(s, got, strlen(want), z->m[i].data_offset, &e) == MFS_OK);
        MFS_ASSERT(memcmp(got, want, strlen(want)) == 0);
    }
    mfs_zip_free(z);
    mfs_src_unref(s);
}
