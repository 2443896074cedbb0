/* Unit tests of path component escaping (src/core/name.c). */
#include "mfs_test.h"
#include "core/name.h"

static void check(const char *raw, int slash, const char *want)
{
    char *got = mfs_name_escape(raw, strlen(raw), slash);
    MFS_ASSERT_STR(got, want);
    free(got);
}

MFS_TEST(test_name_escape)
{
    check("features.0.weight", 1, "features.0.weight");
    check("", 1, "%00");
    check(".", 1, "%2E");
    check("..", 1, "%2E%2E");
    check("...", 1, "...");
    check("a/b", 1, "a%2Fb");
    check("a/b", 0, "a/b");
    check("50%", 1, "50%25");
    check("new\nline", 1, "new%0Aline");
    check("kernel:0", 1, "kernel:0");
}
