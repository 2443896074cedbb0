/* rd_safetensors.c: one safetensors file (FORMATS.md §9).
 * tensors/<key> in header order (the writer's order), layers/ by key,
 * metadata/ from __metadata__, raw/header.json the header as stored. */
#include "readers/reader.h"
#include "readers/st_header.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int st_bid(const struct mfs_probe *p, int best)
{
    if (best >= 40) return -1;
    return mfs_st_bid_bytes(p->head, p->head_len, p->size);
}

static int st_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    struct mfs_st_file *f = calloc(1, sizeof *f);
    MFS_CHECK(f, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    *state = f;
    return mfs_st_open(p->src, f, e);
}

static int st_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct mfs_st_file *f = state;
    const char *name;
    json_t *v;
    json_object_foreach(f->header, name, v) {
        if (!strcmp(name, "__metadata__")) continue;
        mfs_tensor *tn = mfs_st_tensor(t, f, name, e);
        if (!tn) return MFS_FATAL;
        MFS_FORWARD(mfs_st_place(t, name, tn, NULL, e));
    }
    MFS_FORWARD(mfs_st_metadata(t, mfs_tree_top(t, MFS_TOP_METADATA), f, e));
    /* the stored bytes (padding included), not a re-serialisation: free
     * at mount, where dumping a 2,000-entry header cost a tenth of it */
    MFS_CHECK(mfs_tree_add_src_range(t, mfs_tree_top(t, MFS_TOP_RAW), "header.json", f->src, 8,
                                     f->data_start - 8),
              e, MFS_FATAL, ENOMEM, -1, "out of memory");
    return MFS_OK;
}

static void st_close(void *state)
{
    mfs_st_close(state);
    free(state);
}

const struct mfs_reader mfs_reader_safetensors = {
    .name = "safetensors",
    .description = "safetensors file (Hugging Face): tensors, layers, __metadata__",
    .flags = 0,
    .bid = st_bid,
    .open = st_open,
    .build = st_build,
    .close = st_close,
};
