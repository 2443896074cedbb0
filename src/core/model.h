/* model.h: opening a model from a byte source instead of a path (private
 * to src/): used by the fuzz targets and by tests that build inputs in
 * memory. */
#ifndef MFS_MODEL_H
#define MFS_MODEL_H
#ifndef MFS_INTERNAL
#error "src/core headers are private to libmodelfs"
#endif
#include "core/src.h"

/** mfs_open_isolated() : what mfs_set_open_isolated() said (readers). */
int mfs_open_isolated(void);

/** mfs_model_open_src() : as mfs_model_open, the input being @src (a
 *  file-like source, referenced) named @name in messages and bids
 *  (readers that look at the name's suffix see it). Directory and prefix
 *  readers never apply. */
int mfs_model_open_src(mfs_src *src, const char *name, const mfs_open_opts *opts,
                       mfs_model **out, mfs_err *e);
#endif
