/* runner.c: main() of every unit-test executable: runs the one test named
 * by argv[1] (or all, without arguments) in a fresh temp directory. */
#include "mfs_test.h"
#include <unistd.h>
#include <sys/stat.h>

#define X(n) void n(void);
#include MFS_TEST_LIST
#undef X

static const struct { const char *name; void (*fn)(void); } tests[] = {
#define X(n) {#n, n},
#include MFS_TEST_LIST
#undef X
    {NULL, NULL}};

void mfs_test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

char *mfs_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) { perror(path); exit(1); }
    fclose(f);
    b[n] = 0;
    if (len) *len = (size_t)n;
    return b;
}

const char *mfs_test_corpus(const char *rel)
{
    static char buf[4096];
    const char *dir = getenv("MFS_SHARED");
    snprintf(buf, sizeof buf, "%s/corpus/%s", dir ? dir : MFS_SHARED_DIR, rel);
    struct stat st;
    if (stat(buf, &st) != 0) {
        fprintf(stderr, "skipped: corpus file %s is absent\n", buf);
        exit(77);
    }
    return buf;
}

static int run_one(void (*fn)(void))
{
    char tmpl[] = "/tmp/mfs-unit-XXXXXX";
    char cwd[4096];
    if (!mkdtemp(tmpl) || !getcwd(cwd, sizeof cwd) || chdir(tmpl) != 0) {
        perror("temp dir");
        return 1;
    }
    fn();
    if (chdir(cwd) != 0) return 1;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
    return system(cmd) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    int fails = 0;
    for (size_t i = 0; tests[i].name; i++) {
        if (argc > 1 && strcmp(argv[1], tests[i].name) != 0) continue;
        if (argc > 1) return run_one(tests[i].fn);
        fails += run_one(tests[i].fn) != 0;
    }
    if (argc > 1) {
        fprintf(stderr, "no test named %s\n", argv[1]);
        return 2;
    }
    return fails ? 1 : 0;
}
