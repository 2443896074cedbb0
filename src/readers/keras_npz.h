/* keras_npz.h: the weights of a .keras archive saved with
 * weights_format="npz" (Keras 3 NpzIOStore), decoded in place (private to
 * src/readers; used by rd_keras_v3.c).
 *
 * model.weights.npz is an np.savez archive inside the .keras zip: one
 * member "<saveable path>.npy" per saveable ("__root__" for the model,
 * "layers/dense", "optimizer" ...), each a pickled 0-d object array
 * holding the dict {"0": array, "1": array, ...} that the saveable's
 * save_own_variables() filled. The pickles are loaded by the no-execution
 * VM; each array's bytes stay where they are (a PLAIN locator on the
 * archive when both zips store, else on the member's byte source). The
 * variables get the same paths as in the h5 ("layers/dense/vars/0",
 * "vars/0" for __root__), so the views are those of h5_keras3.c. */
#ifndef MFS_KERAS_NPZ_H
#define MFS_KERAS_NPZ_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "core/tree.h"
#include "core/src.h"
#include "core/err.h"
#include <jansson.h>

struct keras_npz;

/** keras_npz_open() : lists the npz whose bytes are @npz (the member's
 *  byte source; referenced) and loads every member's pickle (metadata
 *  only: array bytes are skipped). When @plain is not NULL the same bytes
 *  lie unchanged in @plain at @plain_base (a stored member of the .keras,
 *  or the npz file itself), and stored npz members are then read there.
 *  @label names the npz in messages. @return the state, or NULL with @e
 *  set (MFS_FATAL: not a zip, a member neither stored nor deflated, a
 *  malformed .npy header or pickle). Free with keras_npz_free. */
struct keras_npz *keras_npz_open(mfs_src *npz, mfs_src *plain, uint64_t plain_base,
                                 const char *label, mfs_err *e);

/** keras_npz_build() : tensors/, layers/ and optimizer/ as for the h5
 *  store (k3_build), with @config (borrowed, may be NULL) naming layers
 *  and optimizer slots. Members that are not a pickled dict of arrays, and
 *  values that are not arrays, are skipped with a warning.
 *  @return MFS_OK, MFS_WARN (parts skipped: logged) or MFS_FATAL (OOM). */
int keras_npz_build(struct keras_npz *k, json_t *config, mfs_tree *t, mfs_err *e);

/** keras_npz_free() : accepts NULL. Tensors built from it must be gone. */
void keras_npz_free(struct keras_npz *k);
#endif
