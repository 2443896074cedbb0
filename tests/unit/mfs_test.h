/* mfs_test.h: the tiny unit-test harness.
 * A test is `MFS_TEST(test_area_case) { ... }` in tests/unit/test_area.c;
 * CMake registers each one as its own ctest. MFS_ASSERT* print file:line
 * and fail the test; MFS_SKIP(msg) exits 77 (ctest "skipped"). Each test
 * runs in a fresh temp directory (cwd), removed afterwards. */
#ifndef MFS_TEST_H
#define MFS_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MFS_TEST(name) void name(void)

#define MFS_ASSERT(c)                                                          \
    do {                                                                       \
        if (!(c)) {                                                            \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__,         \
                    __LINE__, #c);                                             \
            exit(1);                                                           \
        }                                                                      \
    } while (0)
#define MFS_ASSERT_EQ_U(a, b)                                                  \
    do {                                                                       \
        unsigned long long mfs_a = (unsigned long long)(a),                    \
                           mfs_b = (unsigned long long)(b);                    \
        if (mfs_a != mfs_b) {                                                  \
            fprintf(stderr, "%s:%d: %s == %llu, expected %s == %llu\n",        \
                    __FILE__, __LINE__, #a, mfs_a, #b, mfs_b);                 \
            exit(1);                                                           \
        }                                                                      \
    } while (0)
#define MFS_ASSERT_STR(a, b)                                                   \
    do {                                                                       \
        const char *mfs_a = (a), *mfs_b = (b);                                 \
        if (!mfs_a || !mfs_b || strcmp(mfs_a, mfs_b) != 0) {                   \
            fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n",          \
                    __FILE__, __LINE__, #a, mfs_a ? mfs_a : "(null)",          \
                    mfs_b ? mfs_b : "(null)");                                 \
            exit(1);                                                           \
        }                                                                      \
    } while (0)
#define MFS_SKIP(msg)                                                          \
    do {                                                                       \
        fprintf(stderr, "skipped: %s\n", msg);                                 \
        exit(77);                                                              \
    } while (0)

/* Helpers from runner.c. */
/* Writes @len bytes to file @path (in the test's temp dir); aborts on error. */
void mfs_test_write_file(const char *path, const void *data, size_t len);
/* Reads a whole file into a malloc'd NUL-terminated buffer; *len set. */
char *mfs_test_read_file(const char *path, size_t *len);
/* Path of a corpus file (../shared/corpus/<rel>) in a static buffer, or
 * skips the test when the corpus is absent. */
const char *mfs_test_corpus(const char *rel);
#endif
