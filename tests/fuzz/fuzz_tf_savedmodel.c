/* libFuzzer target: the SavedModel reader (saved_model.pb walked to its
 * meta graphs, signatures, SavedObjectGraph naming hints) together with
 * the variables bundle it names (index, entries, string tensors, object
 * graph, CRC-checked reads).
 *
 * Input layout, so that one input mutates all three files:
 *   u32 LE n1, n1 bytes saved_model.pb, u32 LE n2, n2 bytes
 *   variables/variables.index, the rest variables.data-00000-of-00001.
 * Lengths past the end are clamped. The files are written into a
 * directory made once per process, then the directory is mounted (open,
 * walk every node, read every file's ends) and closed. */
#include "fuzz_common.h"
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void put(const char *name, const uint8_t *p, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

static size_t take(const uint8_t **p, size_t *left)
{
    if (*left < 4) {
        size_t n = *left;
        *p += n;
        *left = 0;
        return 0;
    }
    size_t n = (size_t)(*p)[0] | (size_t)(*p)[1] << 8 | (size_t)(*p)[2] << 16 | (size_t)(*p)[3] << 24;
    *p += 4;
    *left -= 4;
    return n < *left ? n : *left;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mfs_log_set_quiet(1);
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/mfs-fuzz-sm.XXXXXX");
        if (!mkdtemp(dir)) abort();
        char v[96];
        snprintf(v, sizeof v, "%s/variables", dir);
        mkdir(v, 0755);
    }
    const uint8_t *p = data;
    size_t left = size;
    size_t n1 = take(&p, &left);
    put("saved_model.pb", p, n1);
    p += n1, left -= n1;
    size_t n2 = take(&p, &left);
    put("variables/variables.index", p, n2);
    p += n2, left -= n2;
    put("variables/variables.data-00000-of-00001", p, left);
    mfs_open_opts o = {.format = "tf-savedmodel"};
    mfs_model *m = NULL;
    mfs_err e;
    if (mfs_model_open(dir, &o, &m, &e) >= 0) {
        mfs_fuzz_walk(m);
        mfs_model_close(m);
    }
    return 0;
}
