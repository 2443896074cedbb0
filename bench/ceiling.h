/* ceiling.h: what the two modes of mfs_ceiling share (ceiling.c serves a
 * byte range, ceiling_tree.c a tree of names): the connection settings of
 * the modelfs daemon, so that a comparison measures modelfs' own work. */
#ifndef MFS_BENCH_CEILING_H
#define MFS_BENCH_CEILING_H
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse_lowlevel.h>

#define CEIL_MAX_READ (1u << 20)
#define CEIL_TIMEOUT 86400.0

/** ceil_init() : the init op of both modes (max_read, readahead,
 *  background requests as src/fuse sets them). */
void ceil_init(void *ud, struct fuse_conn_info *conn);

/** ceil_tree_load() : reads a `modelfs tree` listing into the tree mode's
 *  tables. Returns 0, or -1 (unreadable file, OOM). */
int ceil_tree_load(const char *listing);

extern const struct fuse_lowlevel_ops ceil_tree_ops;
#endif
