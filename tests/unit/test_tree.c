/* Unit tests of the tree builder (src/core/tree.c). */
#include "mfs_test.h"
#include "core/tree_private.h"

static mfs_tensor *scalar(mfs_tree *t)
{
    mfs_err e;
    mfs_tensor *x = mfs_tree_tensor_new(t);
    x->dtype = MFS_DT_F32;
    MFS_ASSERT(mfs_tensor_set_shape(x, 0, NULL, &e) == MFS_OK);
    return x;
}

MFS_TEST(test_tree_paths_nest_and_escape)
{
    mfs_tree *t = mfs_tree_new();
    uint32_t top = mfs_tree_top(t, MFS_TOP_TENSORS);
    mfs_tensor *a = scalar(t);
    uint32_t d = mfs_tree_add_model_tensor(t, "dense/kernel:0", a);
    MFS_ASSERT(d);
    uint32_t dense = mfs_tree_child(t, top, "dense");
    MFS_ASSERT(dense && mfs_tree_child(t, dense, "kernel:0") == d);
    /* single-name variant keeps '/' inside one escaped component */
    uint32_t s = mfs_tree_add_tensor_name(t, top, "a/b", a);
    MFS_ASSERT(s && mfs_tree_child(t, top, "a%2Fb") == s);
    /* '.', '..' and '' components are escaped, not interpreted */
    uint32_t dd = mfs_tree_add_tensor(t, top, "x/../.", a);
    MFS_ASSERT(dd);
    uint32_t x = mfs_tree_child(t, top, "x");
    uint32_t up = mfs_tree_child(t, x, "%2E%2E");
    MFS_ASSERT(up && mfs_tree_child(t, up, "%2E") == dd);
    MFS_ASSERT(mfs_tree_lookup_path(t, top, "x/../.") == dd);
    /* the tensor dir has its views in LAYOUT order */
    const char *want[] = {"dtype", "shape", "data", "data.npy", "values", "stats", "info.json"};
    MFS_ASSERT_EQ_U(t->n[d].nkids, 7);
    for (int i = 0; i < 7; i++) MFS_ASSERT_STR(t->n[t->n[d].kids[i]].name, want[i]);
    char *p = mfs_tree_path(t, top, d);
    MFS_ASSERT_STR(p, "dense/kernel:0");
    free(p);
    mfs_tree_free(t);
}

/* A tensor dir may get children (TF "v" next to "v/Adam"); a name that
 * collides with a file gets "~1". */
MFS_TEST(test_tree_collisions)
{
    mfs_tree *t = mfs_tree_new();
    uint32_t top = mfs_tree_top(t, MFS_TOP_TENSORS);
    mfs_tensor *a = scalar(t), *b = scalar(t), *c = scalar(t);
    uint32_t v = mfs_tree_add_model_tensor(t, "v", a);
    uint32_t adam = mfs_tree_add_model_tensor(t, "v/Adam", b);
    MFS_ASSERT(mfs_tree_child(t, v, "Adam") == adam);
    uint32_t clash = mfs_tree_add_model_tensor(t, "v/data", c);
    MFS_ASSERT(clash && mfs_tree_child(t, v, "data~1") == clash);
    uint32_t again = mfs_tree_add_model_tensor(t, "v", c);
    MFS_ASSERT(again && mfs_tree_child(t, top, "v~1") == again);
    MFS_ASSERT_EQ_U(mfs_tree_model_count(t), 4);
    mfs_tree_free(t);
}

MFS_TEST(test_tree_finalize_root_order)
{
    mfs_tree *t = mfs_tree_new();
    mfs_err e;
    mfs_tree_top(t, MFS_TOP_RAW);
    mfs_tree_top(t, MFS_TOP_OPTIMIZER);
    mfs_tree_add_model_tensor(t, "w", scalar(t));
    MFS_ASSERT(mfs_tree_finalize(t, "test", "path: x\n", &e) == MFS_OK);
    const char *want[] = {"format", "source", "summary", "SHA256SUMS", "metadata",
                          "layers", "tensors", "optimizer", "raw"};
    MFS_ASSERT_EQ_U(t->n[MFS_ROOT].nkids, 9);
    for (int i = 0; i < 9; i++) MFS_ASSERT_STR(t->n[t->n[MFS_ROOT].kids[i]].name, want[i]);
    uint32_t sum = mfs_tree_child(t, MFS_ROOT, "summary");
    MFS_ASSERT_STR((const char *)t->n[sum].bytes, "float32 [] 4 w\n");
    mfs_tree_free(t);
}

MFS_TEST(test_tree_many_children_lookup)
{
    mfs_tree *t = mfs_tree_new();
    uint32_t top = mfs_tree_top(t, MFS_TOP_METADATA);
    char name[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof name, "k%d", i);
        MFS_ASSERT(mfs_tree_add_textf(t, top, name, "%d\n", i));
    }
    for (int i = 0; i < 20000; i += 997) {
        snprintf(name, sizeof name, "k%d", i);
        uint32_t id = mfs_tree_child(t, top, name);
        MFS_ASSERT(id && atoi((const char *)t->n[id].bytes) == i);
    }
    MFS_ASSERT(!mfs_tree_child(t, top, "k20000"));
    mfs_tree_free(t);
}

MFS_TEST(test_tree_values_json)
{
    mfs_tree *t = mfs_tree_new();
    uint32_t top = mfs_tree_top(t, MFS_TOP_METADATA);
    json_t *o = json_pack("{s:i, s:s, s:[i,i]}", "epoch", 3, "name", "x", "list", 1, 2);
    MFS_ASSERT(mfs_tree_add_value(t, top, "epoch", json_object_get(o, "epoch")));
    MFS_ASSERT(mfs_tree_add_value(t, top, "name", json_object_get(o, "name")));
    MFS_ASSERT(mfs_tree_add_value(t, top, "list", json_object_get(o, "list")));
    MFS_ASSERT_STR((const char *)t->n[mfs_tree_child(t, top, "epoch")].bytes, "3\n");
    MFS_ASSERT_STR((const char *)t->n[mfs_tree_child(t, top, "name")].bytes, "x\n");
    MFS_ASSERT(mfs_tree_child(t, top, "list.json"));
    json_decref(o);
    mfs_tree_free(t);
}

MFS_TEST(test_tree_json_shortest_reals)
{
    mfs_tree *t = mfs_tree_new();
    json_t *o = json_pack("{s:f, s:f, s:f, s:s, s:i}", "lr", 0.9, "eps", 1e-8, "third", 0.1 + 0.2,
                          "text", "0.90000000000000002", "n", 3);
    uint32_t id = mfs_tree_add_json(t, MFS_ROOT, "c.json", o);
    MFS_ASSERT(id);
    const char *s = t->n[id].bytes;
    MFS_ASSERT(strstr(s, "\"lr\": 0.9,"));
    MFS_ASSERT(strstr(s, "\"eps\": 1e-8,") || strstr(s, "\"eps\": 1e-08,"));
    MFS_ASSERT(strstr(s, "\"third\": 0.30000000000000004,")); /* exact when needed */
    MFS_ASSERT(strstr(s, "\"text\": \"0.90000000000000002\"")); /* strings untouched */
    MFS_ASSERT(strstr(s, "\"n\": 3\n"));
    json_t *back = json_loads(s, 0, NULL);
    MFS_ASSERT(json_real_value(json_object_get(back, "lr")) == 0.9);
    json_decref(back);
    json_decref(o);
    mfs_tree_free(t);
}

/* A tensor has one directory (its home); other placements are symlinks to
 * it, and a model placement takes the home over. */
MFS_TEST(test_tree_links_one_home)
{
    mfs_err e;
    mfs_tree *t = mfs_tree_new();
    uint32_t raw = mfs_tree_top(t, MFS_TOP_RAW), layers = mfs_tree_top(t, MFS_TOP_LAYERS);
    mfs_tensor *a = scalar(t);
    /* raw/ first: a real dir, with a reader's own file in it */
    uint32_t r = mfs_tree_add_tensor(t, raw, "g/w", a);
    MFS_ASSERT(r && t->n[r].kind == MFS_N_DIR);
    MFS_ASSERT(mfs_tree_add_text(t, r, "@attrs/units", "m", 1));
    /* then the model key: tensors/<key> becomes the home, raw/g/w a link,
     * and @attrs moves to the home */
    uint32_t h = mfs_tree_add_model_tensor(t, "g.w", a);
    MFS_ASSERT(h && t->n[h].kind == MFS_N_DIR && a->home == h);
    MFS_ASSERT(t->n[r].kind == MFS_N_LINK && t->n[r].target == h);
    MFS_ASSERT(mfs_tree_lookup_path(t, h, "@attrs/units"));
    MFS_ASSERT_EQ_U(t->n[h].nkids, 8); /* @attrs + the 7 views */
    /* later placements are links; what goes below one goes to the home */
    uint32_t l = mfs_tree_add_tensor_name(t, mfs_tree_mkdir(t, layers, "g"), "w", a);
    MFS_ASSERT(l && t->n[l].kind == MFS_N_LINK && t->n[l].target == h);
    MFS_ASSERT(mfs_tree_mkdir(t, l, "extra") == mfs_tree_child(t, h, "extra"));
    MFS_ASSERT(mfs_tree_lookup_path(t, layers, "g/w/data") == mfs_tree_child(t, h, "data"));
    MFS_ASSERT(mfs_tree_tensor_at(t, l) == a);
    /* a second model key: a directory of its own, the home stays */
    uint32_t h2 = mfs_tree_add_model_tensor(t, "alias", a);
    MFS_ASSERT(h2 && t->n[h2].kind == MFS_N_DIR && a->home == h);
    MFS_ASSERT(mfs_tree_finalize(t, "x", "src\n", &e) == MFS_OK);
    MFS_ASSERT_STR((const char *)t->n[r].bytes, "../../tensors/g.w");
    MFS_ASSERT_STR((const char *)t->n[l].bytes, "../../tensors/g.w");
    MFS_ASSERT_EQ_U(t->n[l].size, strlen("../../tensors/g.w"));
    mfs_tree_free(t);
}
