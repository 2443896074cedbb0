/* tf_build.h: a tensor bundle described into the tree (private to src/).
 *
 * Shared by the checkpoint and SavedModel readers. For every entry of the
 * bundle: tensors/<key> (model tensors, in key order), plus, by its role
 * (tf_objgraph.h), layers/<path>, optimizer/state/<param>/<slot>,
 * optimizer/<name> (with optimizer/config.json and optimizer/step from the
 * scalar ones), metadata/<counter>; string tensors become text (values),
 * a layer's OBJECT_CONFIG_JSON its config.json; the object graph is shown
 * as raw/object_graph.json. Optimizer variables of Keras >= 2.11 are
 * attached to their parameters by tf_objgraph_attach_slots (the shapes
 * compared on the bundle's entries). */
#ifndef MFS_TF_BUILD_H
#define MFS_TF_BUILD_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "readers/tf_bundle.h"
#include "readers/tf_objgraph.h"

struct tf_build {
    mfs_tree *t;
    /* 1: the mounted model itself (tensors/ are model tensors, the top
     * directories are the tree's); 0: a secondary checkpoint shown under
     * directory @root (root/tensors, root/layers ...). */
    int model;
    uint32_t root;
    /* optional: proposes display names (SavedModel: keras_metadata.pb,
     * SavedObjectGraph) once the object graph is decoded */
    void (*hints)(void *ctx, tf_objgraph *g);
    void *hints_ctx;
    /* out: what was found */
    int object_based;   /* the bundle has an object graph */
    size_t ntensors;    /* numeric tensors placed */
};

/** tf_build_bundle() : describes @b into @o->t. Reads only small things
 *  at mount: string tensors and scalar optimizer/counter values.
 *  @return MFS_OK, MFS_WARN (parts skipped and logged), or MFS_FATAL. */
int tf_build_bundle(tf_bundle *b, struct tf_build *o, mfs_err *e);

/** tf_scalar_text() : the value of a tensor of one element as text
 *  ("0.9", "100", "true") into @buf (>= 64 bytes), reading it (with its
 *  CRC check). @return 0, or -1 when unreadable or not a number. */
int tf_scalar_text(const mfs_tensor *tn, char *buf, size_t n);

/** tf_add_string_dir() : a string tensor's directory at @dir: dtype
 *  ("string"), shape, values (one escaped element per line), bytes (a
 *  scalar's raw bytes) and info.json (@info, not stolen). A failed CRC
 *  (@crc_ok 0) makes values and bytes fail with EIO. @return MFS_OK or
 *  MFS_FATAL (OOM). */
int tf_add_string_dir(mfs_tree *t, uint32_t dir, int ndim, const uint64_t *shape,
                      const struct tf_strings *s, const char *key, json_t *info, mfs_err *e);

/** tf_place_named() : @tn (a model tensor) at tensors/<key> and, by the
 *  name-based role of @key (tf_place_by_name, @is_var as there), at
 *  layers/<key>, optimizer/state/<key>, optimizer/<key>, or as the value
 *  metadata/<key>. For readers without an object graph (V1 checkpoints,
 *  GraphDef constants). @return MFS_OK or MFS_FATAL (OOM). */
int tf_place_named(mfs_tree *t, const char *key, mfs_tensor *tn,
                   int (*is_var)(void *ctx, const char *k, size_t n), void *ctx, mfs_err *e);
#endif
