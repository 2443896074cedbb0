/* common.h: small helpers several readers share (private to src/). */
#ifndef MFS_READERS_COMMON_H
#define MFS_READERS_COMMON_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "core/tree.h"

/** mfs_layer_split() : splits a framework key into layer and weight: at
 *  the last '/' when the key has one (Keras/TF "dense/kernel"), else at
 *  the last '.' (PyTorch "features.0.weight" -> "features.0", "weight").
 *  A key with neither belongs to the model itself: layer MFS_ROOT_LAYER.
 *  Writes into @layer/@weight (each at least strlen(key)+1 bytes, or the
 *  size of MFS_ROOT_LAYER). Never fails. */
#define MFS_ROOT_LAYER "_model"
void mfs_layer_split(const char *key, char *layer, char *weight);

/** mfs_add_layer_tensor() : places @tn at layers/<layer>/<weight> (layer
 *  nests on '/', weight is one name). @return the dir id, 0 on OOM. */
uint32_t mfs_add_layer_tensor(mfs_tree *t, const char *layer, const char *weight, mfs_tensor *tn);

/** mfs_add_layer_by_key() : mfs_layer_split + mfs_add_layer_tensor. */
uint32_t mfs_add_layer_by_key(mfs_tree *t, const char *key, mfs_tensor *tn);

/** mfs_path_join() : "dir/name" malloc'd (caller frees), NULL on OOM. */
char *mfs_path_join(const char *dir, const char *name);

/** mfs_has_suffix() : 1 when @s ends with @suf. */
int mfs_has_suffix(const char *s, const char *suf);
#endif
