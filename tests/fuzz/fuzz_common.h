/* fuzz_common.h: the body every libFuzzer target shares: open the input
 * (from memory) as a model with a given reader, or by bidding when
 * @format is NULL, then walk the whole tree and read the start and end of
 * every file (bounded), so every view and every reader read path runs on
 * the mutated input. Nothing may crash, leak, hang or read out of bounds. */
#ifndef MFS_FUZZ_COMMON_H
#define MFS_FUZZ_COMMON_H
#include "core/log.h"
#include "core/model.h"
#include "modelfs/modelfs.h"
#include <stdint.h>
#include <stdlib.h>

static inline void mfs_fuzz_walk(mfs_model *m)
{
    static char buf[8192];
    uint64_t budget = 4u << 20; /* bytes read per input, to keep runs fast */
    uint32_t n = mfs_node_count(m);
    for (uint32_t id = 1; id <= n; id++) {
        if (mfs_node_is_dir(m, id) != 0) {
            char x[256];
            mfs_node_xattr_list(m, id, x, sizeof x);
            continue;
        }
        uint64_t size = mfs_node_size(m, id);
        if (size > budget) size = budget;
        mfs_err e;
        mfs_node_read(m, id, 0, buf, sizeof buf, &e);
        if (size > sizeof buf) mfs_node_read(m, id, size - sizeof buf / 2, buf, sizeof buf, &e);
        budget -= size < budget ? size : budget;
        if (!budget) break;
    }
}

static inline int mfs_fuzz_one(const uint8_t *data, size_t size, const char *name,
                               const char *format)
{
    mfs_log_set_quiet(1);
    mfs_src *src = mfs_src_new_mem(data, size, 0, name);
    if (!src) return 0;
    mfs_open_opts o = {.format = format};
    mfs_model *m = NULL;
    mfs_err e;
    if (mfs_model_open_src(src, name, &o, &m, &e) >= 0) {
        mfs_fuzz_walk(m);
        mfs_model_close(m);
    }
    mfs_src_unref(src);
    return 0;
}
#endif
