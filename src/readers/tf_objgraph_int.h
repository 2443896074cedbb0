/* tf_objgraph_int.h: the object graph's state, shared by tf_objgraph.c
 * (paths, display names, placement) and tf_optslots.c (Keras >= 2.11
 * optimizer variables attached to their parameters). Private to those two
 * files.
 *
 * Every array is indexed by node id (the index in
 * TrackableObjectGraph.nodes, 0 = root). A node's path is its first
 * breadth-first path from the root in two phases: first without entering
 * optimizer objects, then from them (so a model variable that an
 * optimizer also lists, as Keras 3's `_trainable_variables`, is named by
 * its model path); `owner` is the optimizer a node was reached through. */
#ifndef MFS_TF_OBJGRAPH_INT_H
#define MFS_TF_OBJGRAPH_INT_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "readers/tf_objgraph.h"
#include "tf_trackable.pb-c.h"

typedef Tfpb__TrackableObjectGraph__TrackableObject TObj;

struct keyref {
    const char *key;   /* borrowed from the proto */
    size_t klen;
    int node;
    const char *attr;  /* attribute name */
};

struct tf_objgraph {
    Tfpb__TrackableObjectGraph *pb;
    size_t n;
    int *parent;       /* -1 for the root and unreachable nodes */
    const char **local;/* local name of the first path's last edge */
    int *reached;
    int *owner;        /* the optimizer node a node was reached through, or -1 */
    char **hint;       /* proposed display name (owned) */
    int *hint_prio;
    char **disp;       /* final display component (owned), after fix() */
    int *is_opt;       /* an optimizer object */
    int *slot_of;      /* slot variable: the variable it belongs to, else -1 */
    const char **slot_name;
    char **slot_own;   /* slot names made by tf_optslots.c (owned) */
    int *slot_opt;     /* slot variable: its optimizer */
    const char **full; /* a variable's full name: its VARIABLE_VALUE
                          attribute's full_name, or a hint (full_own) */
    char **full_own;
    const char **vkey; /* a variable's VARIABLE_VALUE checkpoint key, or NULL */
    struct keyref *keys;
    size_t nkeys;
    int fixed;
};

/* Hint priority that renames any node (not only Keras tracking names). */
#define TF_HINT_FORCE 10

#endif
