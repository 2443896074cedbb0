/* common.c: helpers shared by readers (see common.h). */
#include "readers/common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mfs_layer_split(const char *key, char *layer, char *weight)
{
    const char *cut = strrchr(key, '/');
    if (!cut) cut = strrchr(key, '.');
    if (!cut || cut == key || !cut[1]) {
        strcpy(layer, MFS_ROOT_LAYER);
        strcpy(weight, key);
        return;
    }
    memcpy(layer, key, (size_t)(cut - key));
    layer[cut - key] = 0;
    strcpy(weight, cut + 1);
}

uint32_t mfs_add_layer_tensor(mfs_tree *t, const char *layer, const char *weight, mfs_tensor *tn)
{
    uint32_t top = mfs_tree_top(t, MFS_TOP_LAYERS);
    uint32_t dir = top ? mfs_tree_mkdir(t, top, layer) : 0;
    return dir ? mfs_tree_add_tensor_name(t, dir, weight, tn) : 0;
}

uint32_t mfs_add_layer_by_key(mfs_tree *t, const char *key, mfs_tensor *tn)
{
    size_t n = strlen(key) + sizeof MFS_ROOT_LAYER + 1;
    char *layer = malloc(n), *weight = malloc(n);
    uint32_t id = 0;
    if (layer && weight) {
        mfs_layer_split(key, layer, weight);
        id = mfs_add_layer_tensor(t, layer, weight, tn);
    }
    free(layer);
    free(weight);
    return id;
}

char *mfs_path_join(const char *dir, const char *name)
{
    char *s = NULL;
    if (asprintf(&s, "%s/%s", dir, name) < 0) return NULL;
    return s;
}

int mfs_has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && memcmp(s + a - b, suf, b) == 0;
}
