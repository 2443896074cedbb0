/* sklearn.h: what a pickled Python object *means* as a model: tensors/,
 * layers/ and metadata/ for scikit-learn estimators and pipelines, dicts
 * and lists of arrays, and any object graph holding numpy arrays
 * (private to src/).
 *
 * Naming (the same as the framework's own reading in the corpus's
 * EXPECTED.json, "/" joining nested levels):
 *   - an object's attributes (its BUILD state dict) by name: coef_,
 *     _label_binarizer/classes_, _optimizer/ms/0;
 *   - list/tuple items by index: coefs_/0, intercepts_/1; a top-level
 *     list of arrays: 0, 1, 2;
 *   - dict entries by key (str as is, ints in decimal);
 *   - lists of (name, estimator[, ...]) tuples (Pipeline.steps,
 *     FeatureUnion.transformer_list, ColumnTransformer.transformers_) by
 *     the names; Pipeline's `steps` level itself is dropped, so a
 *     pipeline's tensors are <step>/<attr> (scaler/mean_, clf/coef_);
 *   - a bare array: the file's stem.
 * Every numpy array with a tensor form is a model tensor at its path. Each
 * scikit-learn estimator (class in sklearn.*, or a state with
 * _sklearn_version) found at path P gets metadata/P/: class, params.json
 * (hyper-parameters: public attributes not ending in '_'), fitted.json
 * (fitted scalars: attributes ending in '_' that are not arrays),
 * sklearn_version, and one file per scalar. layers/ groups tensors by
 * the estimator that owns them (layers/<estimator path or _model>/<attr>),
 * or for plain containers by key (mfs_add_layer_by_key). */
#ifndef MFS_SKLEARN_H
#define MFS_SKLEARN_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "readers/numpy_obj.h"

/** mfs_skl_build() : adds tensors/, layers/ and metadata/ for object graph
 *  @root (loaded with the arrays context @c) to @t; @stem names a bare
 *  array. Arrays that cannot be shown are skipped with a log line.
 *  @return MFS_OK, MFS_WARN (something skipped) or MFS_FATAL (OOM). */
int mfs_skl_build(mfs_tree *t, struct mfs_np_ctx *c, const mfs_pk *root, const char *stem,
                  mfs_err *e);

/** mfs_skl_class() : "module.Name" of the class an object instantiates
 *  (NEWOBJ/REDUCE callable, or copyreg._reconstructor's class) into @buf;
 *  "" when @o is not an instance. Returns @buf. */
const char *mfs_skl_class(const mfs_pk *o, char *buf, size_t n);
#endif
