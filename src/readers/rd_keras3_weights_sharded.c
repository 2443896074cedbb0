/* rd_keras3_weights_sharded.c: Keras 3 sharded weights
 * ("keras3-weights-sharded"): model.save_weights("x.weights.json",
 * max_shard_size=...) writes a JSON index and shards x_00000.weights.h5,
 * x_00001.weights.h5 ... beside it (keras/src/saving/saving_lib.py,
 * ShardedH5IOStore; FORMATS.md §2.2).
 *
 * Index: {"metadata": {"total_size": <bytes>}, "weight_map": {"<vars group
 * path>": "<shard file>" | ["<shard>", ...]}} with group paths such as
 * "/layers/dense/vars" ("/vars" for the model's own). Each shard is an
 * ordinary Keras 3 weights file holding part of the groups; a group whose
 * variables straddle a shard boundary exists in both shards (newer Keras
 * lists both files for it).
 *
 * Mounted: the index file, or a directory holding exactly one
 * "*weights.json". Every shard named in weight_map, and every file beside
 * the index named like one of its shards (<base>_NNNNN.weights.h5: older
 * Keras left out shards that only continue a group), is opened (through
 * the HDF5 canary, one by one) and walked; the model is the union of their
 * datasets, shown exactly as an unsharded .weights.h5 of the same
 * variables (h5_keras3_build_parts): layers/, tensors/<HDF5 path>,
 * optimizer/. Tensors stay lazy, each read from its own shard; info.json
 * names the shard. raw/<index> is the index, raw/<shard without .h5>/ each
 * shard's HDF5 tree; metadata/ has the index's metadata (total_size) and
 * shards (one name per line). */
#include "readers/common.h"
#include "readers/h5_lib.h"
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_LIMIT ((uint64_t)64 << 20)
#define MAX_SHARDS 100000

struct k3s {
    char *dir;               /* directory of the index */
    char *index_name;        /* its file name */
    mfs_src *index_src;
    json_t *index;
    char **names;            /* shard file names, sorted, unique */
    size_t n;
    struct h5_model **parts; /* one per name (same order) */
};

static int is_index_name(const char *n) { return mfs_has_suffix(n, "weights.json"); }

static int k3s_bid(const struct mfs_probe *p, int best_bid)
{
    if (p->is_dir) { /* exactly one index in the directory */
        if (best_bid >= 40) return -1;
        size_t k = 0;
        for (size_t i = 0; i < p->dir_count; i++) k += is_index_name(p->dir_names[i]);
        return k == 1 ? 40 : -1;
    }
    /* the index itself: its name (Keras insists on it) + a JSON object
     * with "weight_map" in the first 4 KiB */
    if (best_bid >= 48 || !p->src || !p->head || !is_index_name(p->path)) return -1;
    size_t i = 0;
    while (i < p->head_len && (p->head[i] == ' ' || p->head[i] == '\n' || p->head[i] == '\r' ||
                               p->head[i] == '\t'))
        i++;
    if (i == p->head_len || p->head[i] != '{' || !h5_mem_has(p->head, p->head_len, "\"weight_map\""))
        return -1;
    return 48;
}

/* A shard name from weight_map must be a plain file name of the index's
 * directory. */
static int check_shard_name(const char *idx, const char *key, const char *s, mfs_err *e)
{
    if (!s[0] || strchr(s, '/') || !strcmp(s, ".") || !strcmp(s, "..") || strlen(s) > 1024)
        return mfs_err_set(e, MFS_FATAL, EINVAL, -1,
                           "%s: weight_map[\"%s\"]: \"%s\" is not a file name of the index's directory",
                           idx, key, s);
    return MFS_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int add_name(struct k3s *s, size_t *cap, const char *name, mfs_err *e)
{
    if (s->n == *cap) {
        MFS_CHECK(*cap < 4 * (size_t)MAX_SHARDS, e, MFS_FATAL, EINVAL, -1,
                  "%s: too many shards", s->index_name);
        *cap = *cap ? 2 * *cap : 16;
        char **v = realloc(s->names, *cap * sizeof *v);
        MFS_CHECK(v, e, MFS_FATAL, ENOMEM, -1, "out of memory");
        s->names = v;
    }
    s->names[s->n] = strdup(name);
    MFS_CHECK(s->names[s->n], e, MFS_FATAL, ENOMEM, -1, "out of memory");
    s->n++;
    return MFS_OK;
}

/* Is @name a shard Keras would have written for index @idx? Keras names
 * them f"{base}_{i:05}.weights.h5", base = the index's stem with every
 * ".weights" removed ("x.weights.json" -> "x"). */
static int is_sibling_shard(const char *idx, const char *name)
{
    char base[1100];
    size_t il = strlen(idx), k = 0;
    if (il < 5 || il >= sizeof base || strcmp(idx + il - 5, ".json")) return 0;
    for (size_t i = 0; i < il - 5;) {
        if (!strncmp(idx + i, ".weights", 8) && i + 8 <= il - 5) {
            i += 8;
            continue;
        }
        base[k++] = idx[i++];
    }
    base[k] = 0;
    size_t nl = strlen(name), d = 0;
    if (strncmp(name, base, k) || name[k] != '_' || nl < k + 1 + 5 + 11 ||
        strcmp(name + nl - 11, ".weights.h5"))
        return 0;
    for (const char *c = name + k + 1; c < name + nl - 11; c++, d++)
        if (*c < '0' || *c > '9') return 0;
    return d >= 5;
}

/* Collects the shard names of weight_map (validated) and the numbered
 * shards beside the index into s->names (sorted, unique). Older Keras
 * listed only a group's first shard, so a shard holding nothing but the
 * continuation of a group was named nowhere: those are read too. */
static int collect_shards(struct k3s *s, mfs_err *e)
{
    json_t *wm = json_object_get(s->index, "weight_map");
    MFS_CHECK(json_is_object(wm), e, MFS_FATAL, EINVAL, -1, "%s: no \"weight_map\" object",
              s->index_name);
    size_t cap = 0;
    const char *key;
    json_t *v;
    json_object_foreach(wm, key, v) {
        size_t nv = json_is_array(v) ? json_array_size(v) : 1;
        MFS_CHECK(json_is_string(v) || (json_is_array(v) && nv > 0), e, MFS_FATAL, EINVAL, -1,
                  "%s: weight_map[\"%s\"] is not a shard file name or a list of them",
                  s->index_name, key);
        for (size_t i = 0; i < nv; i++) {
            json_t *f = json_is_array(v) ? json_array_get(v, i) : v;
            MFS_CHECK(json_is_string(f), e, MFS_FATAL, EINVAL, -1,
                      "%s: weight_map[\"%s\"][%zu] is not a file name", s->index_name, key, i);
            MFS_FORWARD(check_shard_name(s->index_name, key, json_string_value(f), e));
            MFS_FORWARD(add_name(s, &cap, json_string_value(f), e));
        }
    }
    DIR *d = opendir(s->dir);
    struct dirent *de;
    int rc = MFS_OK;
    while (d && rc == MFS_OK && (de = readdir(d)) != NULL)
        if (is_sibling_shard(s->index_name, de->d_name)) rc = add_name(s, &cap, de->d_name, e);
    if (d) closedir(d);
    MFS_FORWARD(rc);
    if (s->n) qsort(s->names, s->n, sizeof *s->names, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k && !strcmp(s->names[k - 1], s->names[i])) {
            free(s->names[i]);
            continue;
        }
        s->names[k++] = s->names[i];
    }
    s->n = k;
    MFS_CHECK(s->n > 0, e, MFS_FATAL, EINVAL, -1, "%s: weight_map names no shard", s->index_name);
    MFS_CHECK(s->n <= MAX_SHARDS, e, MFS_FATAL, EINVAL, -1, "%s: %zu shards (at most %d)",
              s->index_name, s->n, MAX_SHARDS);
    return MFS_OK;
}

/* Opens shard @i (canary, then libhdf5). */
static int open_shard(struct k3s *s, size_t i, mfs_err *e)
{
    char *path = mfs_path_join(s->dir, s->names[i]);
    MFS_CHECK(path, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    mfs_src *src = mfs_src_new_file(path, e);
    if (!src) {
        free(path);
        mfs_err_prefix(e, "shard %s", s->names[i]);
        return e->status = MFS_FATAL;
    }
    size_t nl = strlen(s->names[i]);
    char *prefix = strndup(s->names[i], nl > 3 && !strcmp(s->names[i] + nl - 3, ".h5") ? nl - 3 : nl);
    s->parts[i] = prefix ? h5_model_alloc(src, path, "keras3-weights-sharded", prefix) : NULL;
    free(prefix);
    free(path);
    mfs_src_unref(src);
    MFS_CHECK(s->parts[i], e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (h5_model_open(s->parts[i], e) < 0) {
        mfs_err_prefix(e, "shard %s", s->names[i]);
        return e->status = MFS_FATAL;
    }
    return MFS_OK;
}

static int k3s_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    struct k3s *s = calloc(1, sizeof *s);
    MFS_CHECK(s, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    *state = s;
    if (p->is_dir) {
        s->dir = strdup(p->path);
        for (size_t i = 0; i < p->dir_count && !s->index_name; i++)
            if (is_index_name(p->dir_names[i])) s->index_name = strdup(p->dir_names[i]);
        MFS_CHECK(s->index_name, e, MFS_FATAL, EINVAL, -1, "no *.weights.json in the directory");
    } else {
        const char *slash = strrchr(p->path, '/');
        s->dir = slash ? strndup(p->path, slash == p->path ? 1 : (size_t)(slash - p->path)) : strdup(".");
        s->index_name = strdup(slash ? slash + 1 : p->path);
    }
    MFS_CHECK(s->dir && s->index_name, e, MFS_FATAL, ENOMEM, -1, "out of memory");

    char *ip = mfs_path_join(s->dir, s->index_name);
    MFS_CHECK(ip, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    s->index_src = mfs_src_new_file(ip, e);
    free(ip);
    if (!s->index_src) return e->status = MFS_FATAL;
    char *text = mfs_src_slurp(s->index_src, 0, s->index_src->size, INDEX_LIMIT, e);
    if (!text) {
        mfs_err_prefix(e, "%s", s->index_name);
        return e->status = MFS_FATAL;
    }
    json_error_t je;
    s->index = json_loadb(text, (size_t)s->index_src->size, 0, &je);
    free(text);
    MFS_CHECK(s->index, e, MFS_FATAL, EINVAL, je.position, "%s: not JSON (%s, line %d)",
              s->index_name, je.text, je.line);
    MFS_FORWARD(collect_shards(s, e));
    s->parts = calloc(s->n, sizeof *s->parts);
    MFS_CHECK(s->parts, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (size_t i = 0; i < s->n; i++) MFS_FORWARD(open_shard(s, i, e));
    return MFS_OK;
}

static size_t shard_index(const struct k3s *s, const char *name)
{
    char *const *hit = s->n ? bsearch(&name, s->names, s->n, sizeof *s->names, cmp_str) : NULL;
    return hit ? (size_t)(hit - s->names) : s->n;
}

/* Warns about weight_map entries whose group none of their shards holds
 * (Keras would fail to load those variables). Caller holds the lock. */
static void check_weight_map(struct k3s *s)
{
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(s->index, "weight_map"), key, v) {
        size_t nv = json_is_array(v) ? json_array_size(v) : 1;
        int found = 0;
        for (size_t i = 0; i < nv && !found; i++) {
            json_t *f = json_is_array(v) ? json_array_get(v, i) : v;
            size_t k = shard_index(s, json_string_value(f));
            if (k == s->n) continue;
            /* H5Lexists needs each component to exist: walk them */
            char buf[2048];
            snprintf(buf, sizeof buf, "%s", key);
            found = buf[0] == '/';
            for (char *c = buf + 1; found && *c; c++) {
                if (c[1] != '/' && c[1] != 0) continue;
                char save = c[1];
                c[1] = 0;
                found = H5Lexists(s->parts[k]->file, buf, H5P_DEFAULT) > 0;
                c[1] = save;
            }
            H5Eclear2(H5E_DEFAULT);
        }
        if (!found) h5_warn(s->parts[0], "%s: weight_map names %s, which its shard does not hold",
                            s->index_name, key);
    }
}

static int k3s_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct k3s *s = state;
    uint32_t meta = mfs_tree_top(t, MFS_TOP_METADATA), raw = mfs_tree_top(t, MFS_TOP_RAW);
    MFS_CHECK(meta && raw, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    MFS_CHECK(mfs_tree_add_src_range(t, raw, s->index_name, s->index_src, 0, s->index_src->size), e,
              MFS_FATAL, ENOMEM, -1, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(s->index, "metadata"), key, v) {
        if ((json_is_number(v) || json_is_string(v) || json_is_boolean(v)) && !strchr(key, '/'))
            MFS_CHECK(mfs_tree_add_value(t, meta, key, v), e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    size_t len = 1;
    for (size_t i = 0; i < s->n; i++) len += strlen(s->names[i]) + 1;
    char *list = malloc(len), *q = list;
    MFS_CHECK(list, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (size_t i = 0; i < s->n; i++) q += sprintf(q, "%s\n", s->names[i]);
    uint32_t id = mfs_tree_add_text(t, meta, "shards", list, (size_t)(q - list));
    free(list);
    MFS_CHECK(id, e, MFS_FATAL, ENOMEM, -1, "out of memory");

    int rc = MFS_OK;
    h5_enter();
    for (size_t i = 0; i < s->n && rc == MFS_OK; i++) {
        struct h5_model *m = s->parts[i];
        uint32_t dir = mfs_tree_mkdir(t, raw, m->raw_prefix);
        if (!dir) {
            rc = mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            break;
        }
        rc = h5_raw_walk(m, t, dir, e);
        if (rc < 0) {
            mfs_err_prefix(e, "shard %s", s->names[i]);
            break;
        }
        rc = MFS_OK;
        if (m->layout != H5L_KERAS3_WEIGHTS && m->nent)
            h5_warn(m, "not a Keras 3 weights file: its datasets are shown as they are");
        for (size_t k = 0; k < m->nent; k++) {
            mfs_tensor *tn = m->ent[k].tensor;
            if (!tn) continue;
            if (!tn->info) tn->info = json_object();
            if (tn->info) json_object_set_new(tn->info, "shard", json_string(s->names[i]));
        }
    }
    for (size_t i = 0; i < s->n && rc == MFS_OK; i++) h5_model_probe_isolated(s->parts[i]);
    if (rc == MFS_OK) check_weight_map(s);
    if (rc == MFS_OK) rc = h5_keras3_build_parts(s->parts, s->n, NULL, t, e);
    h5_leave();
    if (rc < 0) return rc;
    int warned = 0;
    for (size_t i = 0; i < s->n; i++) {
        warned |= s->parts[i]->warned;
        h5_warns_flush(&s->parts[i]->warns);
    }
    return warned ? MFS_WARN : MFS_OK;
}

static void k3s_close(void *state)
{
    struct k3s *s = state;
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        if (s->parts) h5_model_free(s->parts[i]);
        free(s->names[i]);
    }
    free(s->parts);
    free(s->names);
    json_decref(s->index);
    mfs_src_unref(s->index_src);
    free(s->dir);
    free(s->index_name);
    free(s);
}

const struct mfs_reader mfs_reader_keras3_weights_sharded = {
    .name = "keras3-weights-sharded",
    .description = "Keras 3 sharded weights (x.weights.json + x_NNNNN.weights.h5 shards) as one model",
    .flags = MFS_READER_DIR,
    .bid = k3s_bid,
    .open = k3s_open,
    .build = k3s_build,
    .close = k3s_close,
};
