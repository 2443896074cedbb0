/* tf_objgraph.h: where each checkpoint entry goes in the mounted tree
 * (private to src/).
 *
 * TF2 object-based checkpoints carry a TrackableObjectGraph: nodes
 * (objects) with named children, attributes (the bundle keys of their
 * tensors) and, on optimizers, slot-variable references. A node's *path*
 * is the chain of local names on its first breadth-first path from the
 * root (node 0), as TensorFlow's own ObjectGraphView finds it. Its
 * *display name* is the local name, except that Keras tracking names
 * ("layer-3", "layer_with_weights-0", list indexes "0") are replaced by
 * the object's own name when one is known: a hint from the layer's
 * OBJECT_CONFIG_JSON, keras_metadata.pb, or a variable's full_name
 * ("dense_1/kernel" names its parent "dense_1"). Siblings never get the
 * same display name (a clash keeps the raw local name).
 *
 * tf_objgraph_place() then gives every bundle key a role and a path:
 * layer weights under layers/, slot variables under
 * optimizer/state/<parameter>/<slot> (the parameter being the display path
 * of the variable the slot belongs to), other variables of an optimizer
 * object under optimizer/, save_counter as metadata. TF1 name-based
 * checkpoints have no graph: tf_place_by_name() recognises slots
 * ("<var>/Adam", "<var>/Adam_1", "<var>/Momentum" ...) by name. */
#ifndef MFS_TF_OBJGRAPH_H
#define MFS_TF_OBJGRAPH_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "core/err.h"
#include <jansson.h>
#include <stddef.h>

enum tf_role {
    TF_ROLE_WEIGHT,   /* layers/<path> */
    TF_ROLE_SLOT,     /* optimizer/state/<path> ("<param>/<slot>") */
    TF_ROLE_OPT,      /* optimizer[/<optimizer>]/<path> */
    TF_ROLE_COUNTER,  /* metadata/<path>: a scalar shown as its value */
    TF_ROLE_CONFIG,   /* OBJECT_CONFIG_JSON of the object at <path> ("" = root) */
    TF_ROLE_INTERNAL  /* tensors/ only (_CHECKPOINTABLE_OBJECT_GRAPH) */
};

struct tf_place {
    enum tf_role role;
    char *path;       /* malloc'd; components joined by '/' */
    char *optimizer;  /* SLOT/OPT: display path of the optimizer, or NULL */
};

/** tf_place_free() : frees the strings; accepts NULL. */
void tf_place_free(struct tf_place *p);

typedef struct tf_objgraph tf_objgraph;

/** tf_objgraph_new() : decodes a serialized TrackableObjectGraph and
 *  computes node paths. @return MFS_OK with *@out, or MFS_FAILED with @e
 *  set (does not decode, no nodes, too many nodes). */
int tf_objgraph_new(const unsigned char *pb, size_t len, tf_objgraph **out, mfs_err *e);
void tf_objgraph_free(tf_objgraph *g);

/** Number of nodes. */
size_t tf_objgraph_count(const tf_objgraph *g);

/** tf_objgraph_resolve() : the node reached from the root by the local
 *  names of @path separated by @sep ("" = the root), or -1. */
int tf_objgraph_resolve(const tf_objgraph *g, const char *path, char sep);

/** tf_objgraph_node_of_key() : the node holding attribute @key, or -1. */
int tf_objgraph_node_of_key(const tf_objgraph *g, const char *key, size_t klen);

/** tf_objgraph_hint() : proposes @name as node @node's display name with
 *  priority @prio (higher wins; full_name hints have 1, configs 2, Keras
 *  metadata 3). Copies @name; ignores bad ids and names with '/'. */
void tf_objgraph_hint(tf_objgraph *g, int node, const char *name, int prio);

/** tf_objgraph_full_name() : gives variable node @node the full name
 *  @name ("dense/kernel:0" from a SavedModel's SavedVariable) when its
 *  checkpoint attribute has none. Copies @name; ignores bad ids. */
void tf_objgraph_full_name(tf_objgraph *g, int node, const char *name);

/** tf_objgraph_attach_slots() : Keras >= 2.11 and Keras 3 optimizers keep
 *  their variables in lists (`_variables/N`), not as slot_variables. For
 *  every optimizer without slot_variables, attaches its variables to the
 *  parameters they belong to, from the optimizer's lists
 *  (`_trainable_variables[i]` beside `_momentums[i]` ...) or from the
 *  variables' full names ("Adam/m/dense/kernel" or
 *  "adam/dense_kernel_momentum" for the parameter "dense/kernel"), when
 *  @same_shape(@ctx, slot key, parameter key) (may be NULL) agrees; and
 *  names the optimizer's `_iterations`, `_learning_rate` without the
 *  underscore. Call after the hints, before tf_objgraph_place. Never
 *  fails: what does not match keeps its place (optimizer/_variables/N). */
void tf_objgraph_attach_slots(tf_objgraph *g, int (*same_shape)(void *ctx, const char *a, const char *b),
                              void *ctx);

/** tf_objgraph_place() : role and paths of bundle key @key. Display names
 *  are fixed on the first call (give hints before). @return MFS_OK, or
 *  MFS_FATAL on OOM. */
int tf_objgraph_place(tf_objgraph *g, const char *key, size_t klen, struct tf_place *out,
                      mfs_err *e);

/** tf_objgraph_json() : the graph as JSON (nodes with path, children,
 *  attributes, slot variables), for raw/object_graph.json. */
json_t *tf_objgraph_json(const tf_objgraph *g);

/** tf_place_by_name() : role of a name-based (TF1) key; @is_var tells
 *  whether another key exists (to attach "<var>/Adam" to "<var>").
 *  @return MFS_OK or MFS_FATAL on OOM. */
int tf_place_by_name(const char *key, int (*is_var)(void *ctx, const char *k, size_t n),
                     void *ctx, struct tf_place *out, mfs_err *e);
#endif
