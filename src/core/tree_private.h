/* tree_private.h: the node table behind tree.h, shared by tree.c, the
 * model (public API) and the views. Nobody else looks inside a node. */
#ifndef MFS_TREE_PRIVATE_H
#define MFS_TREE_PRIVATE_H
#ifndef MFS_INTERNAL
#error "src/core headers are private to libmodelfs"
#endif
#include "core/tree.h"

/* LINK: a symlink to another node (`target`), its text (`bytes`, `size`)
 * made by mfs_tree_finalize: the path relative to the link's directory. */
enum mfs_node_kind { MFS_N_DIR = 1, MFS_N_FILE, MFS_N_LINK };

/* What a file serves. */
enum mfs_file_kind {
    MFS_F_STATIC,  /* bytes/size in the arena */
    MFS_F_CUSTOM,  /* ops/ctx */
    MFS_F_SRC,     /* [off, off+size) of src */
    MFS_F_VIEW     /* a view of a tensor (or of the whole tree: SHA256SUMS) */
};

enum mfs_view {
    MFS_V_DATA, MFS_V_NPY, MFS_V_VALUES, MFS_V_STATS, MFS_V_DTYPE,
    MFS_V_SHAPE, MFS_V_INFO, MFS_V_SUMS
};

struct mfs_node {
    const char *name;     /* escaped, arena */
    uint32_t parent;
    uint8_t kind;         /* enum mfs_node_kind */
    uint8_t fkind;        /* enum mfs_file_kind */
    uint8_t view;         /* enum mfs_view */
    uint32_t *kids;       /* dirs: children in order (malloc'd) */
    uint32_t nkids, capkids;
    uint64_t size;        /* files */
    const void *bytes;    /* STATIC */
    const struct mfs_file_ops *ops; /* CUSTOM */
    void *ctx;            /* CUSTOM */
    mfs_src *src;         /* SRC (referenced) */
    uint64_t off;         /* SRC */
    mfs_tensor *tensor;   /* tensor dirs, view files, links to tensor dirs */
    uint32_t target;      /* LINK */
};

struct mfs_tree_model_entry {
    const char *key;
    mfs_tensor *t;
    uint32_t dir;         /* tensors/<key> dir id */
};

struct mfs_arena_chunk;

struct mfs_tree {
    struct mfs_node *n;   /* n[0] unused; n[1] = root */
    uint32_t count, cap;
    /* (parent, name) -> id, open addressing, power-of-two size */
    uint32_t *hash;
    uint32_t hcap;
    struct mfs_arena_chunk *arena;
    uint32_t top[MFS_TOP__COUNT];
    struct mfs_tree_model_entry *model;
    size_t nmodel, capmodel;
    mfs_tensor **tensors; /* every tensor made, for freeing */
    size_t ntensors, captensors;
    mfs_src **srcs;       /* referenced sources of SRC files */
    size_t nsrcs, capsrcs;
    int finalized;
    pthread_mutex_t sums_mu; /* guards sums_text */
    char *sums_text;      /* SHA256SUMS, built on first read */
    size_t sums_len;
};

/** mfs_tree_node() : node @id (1..count) or NULL. */
static inline struct mfs_node *mfs_tree_node(const mfs_tree *t, uint32_t id)
{
    return (id >= 1 && id <= t->count) ? &t->n[id] : NULL;
}

/** mfs_tree_child() : child @name (escaped) of @dir, or 0. */
uint32_t mfs_tree_child(const mfs_tree *t, uint32_t dir, const char *name);

/** mfs_tree_path() : escaped path of @id relative to @from (an ancestor),
 *  malloc'd; NULL on OOM. */
char *mfs_tree_path(const mfs_tree *t, uint32_t from, uint32_t id);
#endif
