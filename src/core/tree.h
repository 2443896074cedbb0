/* tree.h: the format-neutral tree and its builder (private to src/).
 *
 * Readers describe a model by adding directories, tensors and files to an
 * mfs_tree; they never see views or FUSE. The tree owns every node,
 * string and tensor (one arena, freed by mfs_tree_free). Node ids are
 * 1..count, root = 1 (MFS_ROOT); ids never change once given.
 *
 * Paths passed to the builder are '/'-separated *raw* names: each
 * component is escaped (LAYOUT.md: "", ".", "..", "%" and NUL become %XX)
 * and intermediate directories are created. To add one raw name that
 * itself holds '/' (e.g. a TF key as a single entry) use the *_name
 * variants, which escape '/' too.
 *
 * A tensor added at a path becomes a directory holding the tensor views
 * (dtype, shape, data, data.npy, values, stats, info.json). Such a
 * directory may also get further children (TF "dense/kernel" next to
 * "dense/kernel/Adam"); a name that collides with a file gets a "~N"
 * suffix.
 *
 * Children keep insertion order: readers add in model order and readdir
 * shows that order. mfs_tree_finalize() adds the root files (format,
 * source, summary, SHA256SUMS) and puts the root in LAYOUT order. */
#ifndef MFS_TREE_H
#define MFS_TREE_H
#ifndef MFS_INTERNAL
#error "src/core headers are private to libmodelfs"
#endif
#include "core/tensor.h"
#include <jansson.h>

typedef struct mfs_tree mfs_tree;

/* Well-known top-level directories (created on first use). */
enum mfs_topdir {
    MFS_TOP_METADATA, MFS_TOP_LAYERS, MFS_TOP_TENSORS, MFS_TOP_OPTIMIZER,
    MFS_TOP_SIGNATURES, MFS_TOP_SECURITY, MFS_TOP_RAW, MFS_TOP_CHECKPOINTS,
    MFS_TOP__COUNT
};

/* Lazily produced file content, for files whose bytes come from the input
 * (zip members, assets, attributes) rather than from a tensor. */
struct mfs_file_ops {
    /* bytes [off, off+len) (off+len <= size) into buf; MFS_OK or
     * MFS_FAILED with @e set. Thread-safe. */
    int (*read)(void *ctx, uint64_t off, void *buf, size_t len, mfs_err *e);
};

/** mfs_tree_new() : an empty tree with just the root. NULL on OOM. */
mfs_tree *mfs_tree_new(void);
/** mfs_tree_free() : frees nodes, tensors (and their src references),
 *  cached results; accepts NULL. */
void mfs_tree_free(mfs_tree *t);

/** mfs_tree_alloc() : @n zeroed bytes owned by the tree; NULL on OOM. */
void *mfs_tree_alloc(mfs_tree *t, size_t n);
/** mfs_tree_strdup()/mfs_tree_strndup() : tree-owned copies; NULL on OOM. */
char *mfs_tree_strdup(mfs_tree *t, const char *s);
char *mfs_tree_strndup(mfs_tree *t, const char *s, size_t n);

/** mfs_tree_top() : id of a well-known top directory, created on first
 *  use. 0 on OOM. */
uint32_t mfs_tree_top(mfs_tree *t, enum mfs_topdir which);

/** mfs_tree_mkdir() : directory at raw @path under @parent (intermediates
 *  created; an existing directory is reused). @return its id, 0 on OOM. */
uint32_t mfs_tree_mkdir(mfs_tree *t, uint32_t parent, const char *path);

/** mfs_tensor_new() : a zeroed tensor owned by the tree (not yet placed).
 *  NULL on OOM. */
mfs_tensor *mfs_tree_tensor_new(mfs_tree *t);

/** mfs_tree_add_tensor() : places tensor @tn at raw @path under @parent.
 *  A tensor has one directory with its views (its home): the first
 *  placement, or its tensors/<key> dir once it is a model tensor; every
 *  other placement of the same tensor is a symlink to that directory
 *  (so `ls -R` walks each tensor once, and layers/, raw/ ... index into
 *  tensors/). @return the id of the directory or symlink, 0 on OOM. */
uint32_t mfs_tree_add_tensor(mfs_tree *t, uint32_t parent, const char *path, mfs_tensor *tn);
/** As above with @name a single raw component ('/' escaped as %2F). */
uint32_t mfs_tree_add_tensor_name(mfs_tree *t, uint32_t parent, const char *name, mfs_tensor *tn);

/** mfs_tree_add_model_tensor() : places @tn at tensors/<key> (key's '/'
 *  nest) and records it, in call order, as a model tensor: `summary` and
 *  `SHA256SUMS` list exactly these. @return the tensor dir id, 0 on OOM. */
uint32_t mfs_tree_add_model_tensor(mfs_tree *t, const char *key, mfs_tensor *tn);

/** mfs_tree_add_text() : a file with a copy of @len bytes of @text at raw
 *  @path. @return id, 0 on OOM. */
uint32_t mfs_tree_add_text(mfs_tree *t, uint32_t parent, const char *path,
                           const char *text, size_t len);
/** mfs_tree_add_textf() : printf-style text file; add "\n" yourself. */
uint32_t mfs_tree_add_textf(mfs_tree *t, uint32_t parent, const char *path,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/** mfs_tree_add_json() : @v pretty-printed (2-space indent, sorted keys
 *  kept in insertion order) plus "\n". Does not steal @v. 0 on OOM. */
uint32_t mfs_tree_add_json(mfs_tree *t, uint32_t parent, const char *path, const json_t *v);
/** mfs_tree_add_scalar_json() : a metadata scalar from a JSON value:
 *  strings as-is, numbers/bools/null as JSON text, + "\n"; arrays/objects
 *  become "<path>.json" pretty-printed. @return id, 0 on OOM. */
uint32_t mfs_tree_add_value(mfs_tree *t, uint32_t parent, const char *path, const json_t *v);

/** mfs_tree_add_file() : a file of @size bytes produced by @ops->read with
 *  @ctx (ctx must outlive the tree: reader state or tree-allocated).
 *  @return id, 0 on OOM. */
uint32_t mfs_tree_add_file(mfs_tree *t, uint32_t parent, const char *path, uint64_t size,
                           const struct mfs_file_ops *ops, void *ctx);
/** mfs_tree_add_src_range() : a file serving [off, off+len) of @src
 *  (referenced). @return id, 0 on OOM. */
uint32_t mfs_tree_add_src_range(mfs_tree *t, uint32_t parent, const char *path,
                                mfs_src *src, uint64_t off, uint64_t len);

/** mfs_tree_lookup_path() : id of raw @path under @parent, or 0.
 *  Symlinks before the last component are followed. */
uint32_t mfs_tree_lookup_path(const mfs_tree *t, uint32_t parent, const char *path);
/** mfs_tree_tensor_at() : the tensor placed at directory or symlink @id,
 *  or NULL. */
mfs_tensor *mfs_tree_tensor_at(const mfs_tree *t, uint32_t id);
/** Number of model tensors and the i-th one with its key. */
size_t mfs_tree_model_count(const mfs_tree *t);
mfs_tensor *mfs_tree_model_tensor(const mfs_tree *t, size_t i, const char **key);

/** mfs_tree_finalize() : adds root files `format` (@format_id), `source`
 *  (@source_text), `summary`, `SHA256SUMS`, ensures metadata/ layers/
 *  tensors/ raw/ exist, orders the root as LAYOUT.md. Called once by the
 *  core after the reader's build. @return MFS_OK or MFS_FATAL (OOM). */
int mfs_tree_finalize(mfs_tree *t, const char *format_id, const char *source_text, mfs_err *e);
#endif
