/* rd_safetensors_sharded.c: a directory holding safetensors weights,
 * mounted as one model: sharded checkpoints with
 * `*.safetensors.index.json` (FORMATS.md §9: {"metadata", "weight_map":
 * {tensor: shard file}}) or a model directory with one or more
 * `*.safetensors` files and no index (Hugging Face save_pretrained).
 * The index JSON may also be mounted directly.
 *
 * Tensors follow the weight_map order (else the shards' sorted names and
 * each header's order); info.json names each tensor's shard. Every shard
 * is opened and validated at mount; a weight_map entry whose shard lacks
 * it is an error. JSON files beside the weights (config.json,
 * generation_config.json ...) are shown pretty-printed under metadata/. */
#include "readers/common.h"
#include "readers/reader.h"
#include "readers/st_header.h"
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

struct shard {
    char *name;
    struct mfs_st_file f;
};

struct sh_state {
    char *dir;
    json_t *index;          /* the index JSON, or NULL */
    char *index_name;
    struct shard *shards;
    size_t nshards;
    char **jsons;           /* other *.json files of the directory */
    size_t njsons;
};

static int is_index(const char *n) { return mfs_has_suffix(n, ".safetensors.index.json"); }

static int sh_bid(const struct mfs_probe *p, int best)
{
    if (best >= 24) return -1;
    if (!p->is_dir) /* an index file mounted directly */
        return p->src && is_index(p->path) && p->head_len && p->head[0] == '{' ? 24 : -1;
    int st = 0;
    for (size_t i = 0; i < p->dir_count; i++) {
        if (is_index(p->dir_names[i])) return 24;
        st += mfs_has_suffix(p->dir_names[i], ".safetensors");
    }
    return st ? 16 : -1;
}

static int shard_find(struct sh_state *s, const char *name)
{
    for (size_t i = 0; i < s->nshards; i++)
        if (!strcmp(s->shards[i].name, name)) return (int)i;
    return -1;
}

/* Opens shard @name of the directory (once). Returns its index or -1. */
static int shard_open(struct sh_state *s, const char *name, mfs_err *e)
{
    int k = shard_find(s, name);
    if (k >= 0) return k;
    if (strchr(name, '/') || !strcmp(name, "..")) {
        mfs_err_set(e, MFS_FATAL, EINVAL, -1, "shard name \"%s\" leaves the directory", name);
        return -1;
    }
    struct shard *v = realloc(s->shards, (s->nshards + 1) * sizeof *v);
    if (!v) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory"), -1;
    s->shards = v;
    struct shard *sh = &s->shards[s->nshards];
    memset(sh, 0, sizeof *sh);
    char *path = mfs_path_join(s->dir, name);
    mfs_src *src = path ? mfs_src_new_file(path, e) : NULL;
    free(path);
    if (!src) return -1;
    sh->name = strdup(name);
    int rc = mfs_st_open(src, &sh->f, e);
    mfs_src_unref(src);
    if (rc != MFS_OK) {
        mfs_err_prefix(e, "shard %s", name);
        free(sh->name);
        return -1;
    }
    return (int)s->nshards++;
}

static int sh_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    struct sh_state *s = calloc(1, sizeof *s);
    MFS_CHECK(s, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    *state = s;
    char *tmp = strdup(p->path);
    MFS_CHECK(tmp, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (p->is_dir) {
        s->dir = tmp;
        for (size_t i = 0; i < p->dir_count; i++) {
            const char *n = p->dir_names[i];
            if (is_index(n) && !s->index_name) s->index_name = strdup(n);
            else if (mfs_has_suffix(n, ".json")) {
                char **v = realloc(s->jsons, (s->njsons + 1) * sizeof *v);
                MFS_CHECK(v, e, MFS_FATAL, ENOMEM, -1, "out of memory");
                s->jsons = v;
                s->jsons[s->njsons++] = strdup(n);
            }
        }
    } else {
        s->dir = strdup(dirname(tmp));
        free(tmp);
        char *t2 = strdup(p->path);
        s->index_name = strdup(basename(t2));
        free(t2);
    }
    if (s->index_name) {
        char *ip = mfs_path_join(s->dir, s->index_name);
        json_error_t je;
        s->index = ip ? json_load_file(ip, JSON_REJECT_DUPLICATES, &je) : NULL;
        free(ip);
        MFS_CHECK(s->index, e, MFS_FATAL, EINVAL, je.position, "%s: %s", s->index_name, je.text);
        json_t *wm = json_object_get(s->index, "weight_map");
        MFS_CHECK(json_is_object(wm), e, MFS_FATAL, EINVAL, -1, "%s: no \"weight_map\" object",
                  s->index_name);
        const char *k;
        json_t *v;
        json_object_foreach(wm, k, v) {
            MFS_CHECK(json_is_string(v), e, MFS_FATAL, EINVAL, -1,
                      "%s: weight_map[\"%s\"] is not a file name", s->index_name, k);
            if (shard_open(s, json_string_value(v), e) < 0) return MFS_FATAL;
        }
    } else {
        for (size_t i = 0; i < p->dir_count; i++)
            if (mfs_has_suffix(p->dir_names[i], ".safetensors") && shard_open(s, p->dir_names[i], e) < 0)
                return MFS_FATAL;
    }
    return MFS_OK;
}

static int add_one(mfs_tree *t, struct shard *sh, const char *name, mfs_err *e)
{
    mfs_tensor *tn = mfs_st_tensor(t, &sh->f, name, e);
    if (!tn) return MFS_FATAL;
    return mfs_st_place(t, name, tn, sh->name, e);
}

static int sh_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct sh_state *s = state;
    uint32_t meta = mfs_tree_top(t, MFS_TOP_METADATA), raw = mfs_tree_top(t, MFS_TOP_RAW);
    if (s->index) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(s->index, "weight_map"), k, v) {
            struct shard *sh = &s->shards[shard_find(s, json_string_value(v))];
            MFS_FORWARD(add_one(t, sh, k, e));
        }
        json_object_foreach(json_object_get(s->index, "metadata"), k, v)
            MFS_CHECK(mfs_tree_add_value(t, meta, k, v), e, MFS_FATAL, ENOMEM, -1, "out of memory");
        MFS_CHECK(mfs_tree_add_json(t, raw, s->index_name, s->index), e, MFS_FATAL, ENOMEM, -1,
                  "out of memory");
    } else {
        for (size_t i = 0; i < s->nshards; i++) {
            const char *k;
            json_t *v;
            json_object_foreach(s->shards[i].f.header, k, v) {
                if (strcmp(k, "__metadata__")) MFS_FORWARD(add_one(t, &s->shards[i], k, e));
            }
        }
    }
    for (size_t i = 0; i < s->nshards; i++) {
        MFS_FORWARD(mfs_st_metadata(t, meta, &s->shards[i].f, e));
        char *p = NULL;
        if (asprintf(&p, "%s.header.json", s->shards[i].name) < 0) p = NULL;
        MFS_CHECK(p && mfs_tree_add_src_range(t, raw, p, s->shards[i].f.src, 8,
                                              s->shards[i].f.data_start - 8),
                  e, MFS_FATAL, ENOMEM,
                  -1, "out of memory");
        free(p);
    }
    for (size_t i = 0; i < s->njsons; i++) { /* config.json and friends */
        char *path = mfs_path_join(s->dir, s->jsons[i]);
        json_t *j = path ? json_load_file(path, 0, NULL) : NULL;
        free(path);
        if (!j) continue; /* not JSON after all: not ours to judge */
        uint32_t ok = mfs_tree_add_json(t, meta, s->jsons[i], j);
        json_decref(j);
        MFS_CHECK(ok, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    return MFS_OK;
}

static void sh_close(void *state)
{
    struct sh_state *s = state;
    if (!s) return;
    for (size_t i = 0; i < s->nshards; i++) {
        mfs_st_close(&s->shards[i].f);
        free(s->shards[i].name);
    }
    for (size_t i = 0; i < s->njsons; i++) free(s->jsons[i]);
    free(s->jsons);
    free(s->shards);
    json_decref(s->index);
    free(s->index_name);
    free(s->dir);
    free(s);
}

const struct mfs_reader mfs_reader_safetensors_sharded = {
    .name = "safetensors-sharded",
    .description = "directory of safetensors shards (model.safetensors.index.json) or weights",
    .flags = MFS_READER_DIR,
    .bid = sh_bid,
    .open = sh_open,
    .build = sh_build,
    .close = sh_close,
};
