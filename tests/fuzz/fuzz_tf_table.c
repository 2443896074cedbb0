/* libFuzzer target: the LevelDB table reader of TF checkpoints (footer,
 * index and data blocks, restart arrays, snappy, CRCs, seeks), then the
 * readers that take a table or a protobuf as a single file: V1
 * checkpoints (SavedTensorSlices) and GraphDef constants, each walked
 * through every view. */
#include "fuzz_common.h"
#include "readers/tf_table.h"
#include <string.h>

static int visit(void *ctx, const unsigned char *k, size_t kl, const unsigned char *v, size_t vl,
                 const struct tf_table_pos *pos, mfs_err *e)
{
    (void)v, (void)vl, (void)pos, (void)e;
    size_t *n = ctx;
    *n += kl;
    return MFS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mfs_log_set_quiet(1);
    mfs_src *src = mfs_src_new_mem(data, size, 0, "fuzz.index");
    if (!src) return 0;
    tf_table *t = NULL;
    mfs_err e;
    if (tf_table_open(src, &t, &e) == MFS_OK) {
        size_t n = 0;
        tf_table_foreach(t, visit, &n, &e);
        static const char *const keys[] = {"", "_CHECKPOINTABLE_OBJECT_GRAPH", "a", "zzzz"};
        for (int i = 0; i < 4; i++) {
            unsigned char *v = NULL;
            size_t vl;
            if (tf_table_get(t, keys[i], strlen(keys[i]), &v, &vl, &e) == 1) free(v);
        }
        tf_table_free(t);
    }
    mfs_src_unref(src);
    mfs_fuzz_one(data, size, "fuzz.ckpt", "tf-checkpoint-v1");
    mfs_fuzz_one(data, size, "fuzz.pb", "tf-graphdef");
    return 0;
}
