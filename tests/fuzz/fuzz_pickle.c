/* libFuzzer target: the pickle VM and everything that walks its object
 * graphs (repr, JSON, raw/ rendering, security/), on arbitrary bytes:
 * up to three consecutive pickles into one heap, as the legacy torch
 * reader does. Limits are lowered so runs stay fast; nothing may crash,
 * leak, hang or read out of bounds. */
#include "readers/pickle/raw.h"
#include "core/log.h"
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mfs_log_set_quiet(1);
    struct mfs_pk_limits lim;
    mfs_pk_limits_default(&lim);
    lim.max_alloc = 64u << 20;
    lim.max_objects = 1u << 20;
    lim.inline_max = 64; /* exercise lazy payloads too */
    mfs_src *src = mfs_src_new_mem(data, size, 0, "fuzz.pkl");
    mfs_pk_heap *h = mfs_pk_heap_new(&lim);
    mfs_tree *t = mfs_tree_new();
    if (!src || !h || !t) goto out;
    uint64_t off = 0;
    struct mfs_pk_where w = {0};
    uint32_t raw = mfs_tree_top(t, MFS_TOP_RAW);
    for (int i = 0; i < 3 && off < size; i++) {
        mfs_pk *o;
        mfs_err e = {0};
        if (mfs_pk_load(h, src, off, 0, NULL, &o, &off, &e) < 0) break;
        char buf[512];
        mfs_pk_repr(o, buf, sizeof buf);
        json_t *j = mfs_pk_to_json(o, 0);
        json_decref(j);
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        mfs_pk_raw_build(t, raw, name, o, src, "raw", NULL, &w, &e);
        mfs_pk_dict_get(o, "state");
        mfs_pk_state(o);
    }
    static const char *const names[] = {"p0", "p1", "p2"};
    mfs_err e = {0};
    mfs_pk_security_build(t, h, names, 3, &w, &e);
    mfs_pk_where_free(&w);
out:
    mfs_tree_free(t);
    mfs_pk_heap_free(h);
    mfs_src_unref(src);
    return 0;
}
