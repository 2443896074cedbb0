/* raw.h: a pickle's object graph as a directory tree under raw/, and the
 * security/ directory (private to src/readers).
 *
 * raw/ rendering (mfs_pk_raw_build), so that nothing in a pickle is hidden:
 *   None/bool/int/float/str  file with the value as text + "\n"
 *   bytes/bytearray          file with the bytes (large ones served
 *                            straight from the source, never copied)
 *   list/tuple/set           dir with entries 0, 1, ...
 *   dict                     dir with one entry per key (str keys as is,
 *                            ints in decimal, others by repr; '/' nests)
 *   global                   file "module.name\n"
 *   call (REDUCE/NEWOBJ ...) dict-like calls (OrderedDict filled by
 *                            SETITEMS) as dicts; other objects as a dir
 *                            with __class__ (the callable), __args__,
 *                            __kwargs__, the BUILD state's entries merged
 *                            in when it is a dict (an object's __dict__)
 *                            or else __state__, and __items__/__dictitems__
 *                            for appended items
 *   persistent id            dir with __persistent_id__
 * A hook sees every object first and may render it itself (tensors).
 * The graph may share and cycle: a container met again is a file
 * "see raw/<first path>\n". Depth and node counts are bounded; beyond
 * them a "__truncated__" file says so and the status is MFS_WARN.
 *
 * The walk also records, for every GLOBAL object it reaches, the path
 * where it is first used (struct mfs_pk_where), which security/ shows. */
#ifndef MFS_PICKLE_RAW_H
#define MFS_PICKLE_RAW_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "readers/pickle/vm.h"
#include "core/tree.h"

struct mfs_pk_raw_hooks {
    void *ctx;
    /* Renders @o itself at raw @name under @parent and returns 1, or
     * returns 0 for the generic rendering, or < 0 with @e set. */
    int (*node)(void *ctx, mfs_tree *t, uint32_t parent, const char *name,
                const mfs_pk *o, mfs_err *e);
};

/* GLOBAL object id -> first raw path where it is used. */
struct mfs_pk_where {
    char **path;   /* by object id, malloc'd strings or NULL */
    uint32_t cap;
};

/** mfs_pk_where_free() : frees the recorded paths (struct itself is the
 *  caller's); accepts zeroed storage. */
void mfs_pk_where_free(struct mfs_pk_where *w);

/** mfs_pk_raw_build() : renders @root at @name under tree dir @parent
 *  (name NULL: @root's entries go straight into @parent, when @root
 *  renders as a directory; else as entry "value"). @src is the source the
 *  pickle was loaded from (lazy str/bytes are served from it). @label is
 *  the raw path of @parent for where-records and "see" links (e.g.
 *  "raw/data.pkl"). @hk and @w may be NULL.
 *  @return MFS_OK, MFS_WARN (limits hit, logged), or MFS_FATAL (OOM). */
int mfs_pk_raw_build(mfs_tree *t, uint32_t parent, const char *name, const mfs_pk *root,
                     mfs_src *src, const char *label, const struct mfs_pk_raw_hooks *hk,
                     struct mfs_pk_where *w, mfs_err *e);

/** mfs_pk_security_classify() : "safe" or "unsafe" for GLOBAL
 *  @module.@name, and in *why a short reason ("torch tensor rebuild",
 *  "runs shell commands", "not on the allow-list"). Never fails. */
const char *mfs_pk_security_classify(const char *module, const char *name, const char **why);

/** mfs_pk_security_build() : security/ for every global reference of heap
 *  @h: summary, globals (one line per GLOBAL/STACK_GLOBAL/INST opcode:
 *  "<safe|unsafe> <module.name> <byte offset> <where>"), unsafe (the
 *  unsafe lines only). @load_names names each load of the heap
 *  ("data.pkl", ...; @nloads entries, missing ones are "pickle N"); @w
 *  gives where each global is used (may be NULL).
 *  @return MFS_OK or MFS_FATAL (OOM). */
int mfs_pk_security_build(mfs_tree *t, const mfs_pk_heap *h, const char *const *load_names,
                          size_t nloads, const struct mfs_pk_where *w, mfs_err *e);
#endif
