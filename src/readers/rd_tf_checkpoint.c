/* rd_tf_checkpoint.c: TensorFlow V2 checkpoints (tensor bundles), the
 * reader "tf-checkpoint".
 *
 * What can be mounted (FORMATS.md section 5):
 *  - the prefix, which is not a file: `training/ckpt-7` (ckpt-7.index and
 *    ckpt-7.data-* exist);
 *  - the `<prefix>.index` file, or one of its data shards;
 *  - a directory of checkpoints (usually with a `checkpoint` state file):
 *    the state file's model_checkpoint_path, else the newest .index, is
 *    the mounted model, and every checkpoint of the directory is also
 *    shown whole under checkpoints/<name>/;
 *  - the `checkpoint` state file itself (means its directory).
 * TF1 name-based checkpoints get their `<prefix>.meta` MetaGraphDef
 * summarised in metadata/ (TF version, op counts, collections).
 *
 * Bids: the table magic (64 bits) plus the name (".index", or the prefix
 * resolving to an existing index) = 80, the name alone 16 (so that a
 * damaged index gets its own error message); a directory with .index files and
 * a state file 48, without 40 (below SavedModel directories, which also
 * hold a bundle in variables/). */
#include "readers/common.h"
#include "readers/reader.h"
#include "readers/tf_build.h"
#include "readers/tf_meta.h"
#include "readers/tf_pbtext.h"
#include "readers/tf_table.h"
#include "readers/tf_text.h"
#include "core/log.h"
#include "tf_bundle.pb-c.h"
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ck_state {
    char *dir;              /* the checkpoints' directory */
    char *main_prefix;
    char *main_name;        /* basename of main_prefix */
    tf_bundle *main;
    int dir_mode;
    char **names;           /* dir mode: every checkpoint (prefix basenames) */
    size_t nnames;
    tf_bundle **others;     /* dir mode: bundles shown under checkpoints/ */
    json_t *state;          /* the parsed `checkpoint` file, or NULL */
    void *meta_map;         /* <prefix>.meta, mapped */
    size_t meta_len;
    struct tf_metagraph meta;
    int have_meta;
};

/* 1 when @path is a regular file ending with the table magic. Opens and
 * closes the file; allocates nothing. */
static int index_ok(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    unsigned char tail[TF_TABLE_FOOTER];
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= TF_TABLE_FOOTER &&
             pread(fd, tail, sizeof tail, st.st_size - TF_TABLE_FOOTER) == (ssize_t)sizeof tail &&
             tf_table_tail_ok(tail, sizeof tail);
    close(fd);
    return ok;
}

/* Length of the prefix of a data shard name "<prefix>.data-NNNNN-of-NNNNN",
 * or 0. */
static size_t shard_prefix_len(const char *path)
{
    size_t n = strlen(path);
    static const char pat[] = ".data-#####-of-#####";
    size_t pl = sizeof pat - 1;
    if (n <= pl) return 0;
    const char *s = path + n - pl;
    for (size_t i = 0; i < pl; i++)
        if (pat[i] == '#' ? !isdigit((unsigned char)s[i]) : s[i] != pat[i]) return 0;
    return n - pl;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int ck_bid(const struct mfs_probe *p, int best)
{
    if (best >= 80) return -1;
    char buf[PATH_MAX];
    struct stat st;
    if (!p->exists) {
        /* a prefix: <prefix>.index with the table magic; an index without
         * it still bids low, so that its damage is reported by open()
         * rather than as "No such file" */
        if (snprintf(buf, sizeof buf, "%s.index", p->path) >= (int)sizeof buf) return -1;
        if (index_ok(buf)) return 80;
        return stat(buf, &st) == 0 && S_ISREG(st.st_mode) ? 16 : -1;
    }
    if (p->is_dir) {
        if (mfs_probe_dir_has(p, "saved_model.pb") || mfs_probe_dir_has(p, "saved_model.pbtxt"))
            return -1;
        size_t idx = 0;
        for (size_t i = 0; i < p->dir_count; i++) idx += mfs_has_suffix(p->dir_names[i], ".index");
        if (!idx) return -1;
        return mfs_probe_dir_has(p, "checkpoint") ? 48 : 40;
    }
    if (mfs_has_suffix(p->path, ".index")) /* the name alone: 16 */
        return tf_table_tail_ok(p->tail, p->tail_len) ? 80 : 16;
    if (!strcmp(base_name(p->path), "checkpoint"))
        return p->head_len > 21 && !memcmp(p->head, "model_checkpoint_path", 21) ? 48 : -1;
    size_t pl = shard_prefix_len(p->path);
    if (pl && pl + 7 < sizeof buf) {
        memcpy(buf, p->path, pl);
        memcpy(buf + pl, ".index", 7);
        return index_ok(buf) ? 72 : -1;
    }
    return -1;
}

/* ---- the `checkpoint` state file (text-format CheckpointState) ---- */

/* The state file (text-format CheckpointState, tf_pbtext.h) as a JSON
 * object with the fields it sets; NULL (logged) when it does not parse. */
static json_t *parse_state(const char *path)
{
    mfs_err e = {0};
    size_t len = 0;
    void *text = tf_map_file(path, &len, &e);
    if (!text) return NULL;
    Tfpb__CheckpointState *c =
        (Tfpb__CheckpointState *)tf_pbtext_parse(&tfpb__checkpoint_state__descriptor, text, len, NULL, &e);
    tf_unmap_file(text, len);
    if (!c) {
        mfs_log("%s: ignored: %s", path, e.msg);
        return NULL;
    }
    json_t *o = json_object(), *a;
    if (c->model_checkpoint_path)
        json_object_set_new(o, "model_checkpoint_path",
                            tf_json_bytes(c->model_checkpoint_path, strlen(c->model_checkpoint_path)));
    if (c->n_all_model_checkpoint_paths) {
        json_object_set_new(o, "all_model_checkpoint_paths", a = json_array());
        for (size_t i = 0; i < c->n_all_model_checkpoint_paths; i++)
            json_array_append_new(a, tf_json_bytes(c->all_model_checkpoint_paths[i],
                                                   strlen(c->all_model_checkpoint_paths[i])));
    }
    if (c->n_all_model_checkpoint_timestamps) {
        json_object_set_new(o, "all_model_checkpoint_timestamps", a = json_array());
        for (size_t i = 0; i < c->n_all_model_checkpoint_timestamps; i++)
            json_array_append_new(a, json_real(c->all_model_checkpoint_timestamps[i]));
    }
    if (c->has_last_preserved_timestamp)
        json_object_set_new(o, "last_preserved_timestamp", json_real(c->last_preserved_timestamp));
    tfpb__checkpoint_state__free_unpacked(c, NULL);
    return o;
}

/* The prefix a state-file path means: itself when `<p>.index` exists,
 * else its basename inside @dir (states written on another machine).
 * malloc'd, or NULL. */
static char *resolve(const char *dir, const char *p)
{
    char *full = p[0] == '/' ? strdup(p) : mfs_path_join(dir, p);
    char *idx = NULL;
    if (full && asprintf(&idx, "%s.index", full) >= 0 && index_ok(idx)) {
        free(idx);
        return full;
    }
    free(idx);
    free(full);
    full = mfs_path_join(dir, base_name(p));
    if (full && asprintf(&idx, "%s.index", full) >= 0 && index_ok(idx)) {
        free(idx);
        return full;
    }
    free(idx);
    free(full);
    return NULL;
}

static int cmp_names(const void *a, const void *b)
{
    return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* Directory mode: every *.index of @dir, the latest one as main. */
static int open_dir(struct ck_state *s, const struct mfs_probe *p, mfs_err *e)
{
    s->dir_mode = 1;
    s->names = calloc(p->dir_count ? p->dir_count : 1, sizeof *s->names);
    if (!s->names) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    time_t newest = 0;
    char *newest_prefix = NULL;
    for (size_t i = 0; i < p->dir_count; i++) {
        const char *n = p->dir_names[i];
        if (!mfs_has_suffix(n, ".index")) continue;
        char *pre = mfs_path_join(s->dir, n);
        if (!pre) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        struct stat st;
        if (!index_ok(pre) || stat(pre, &st) != 0) {
            free(pre);
            continue;
        }
        pre[strlen(pre) - 6] = 0;
        s->names[s->nnames] = strndup(n, strlen(n) - 6);
        if (!s->names[s->nnames]) {
            free(pre);
            return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        }
        s->nnames++;
        if (!newest_prefix || st.st_mtime >= newest) {
            newest = st.st_mtime;
            free(newest_prefix);
            newest_prefix = pre;
        } else {
            free(pre);
        }
    }
    qsort(s->names, s->nnames, sizeof *s->names, cmp_names);
    char *sp = mfs_path_join(s->dir, "checkpoint");
    if (sp) s->state = parse_state(sp);
    free(sp);
    const char *latest = s->state ? json_string_value(json_object_get(s->state, "model_checkpoint_path")) : NULL;
    if (latest) s->main_prefix = resolve(s->dir, latest);
    if (!s->main_prefix && latest)
        mfs_log("%s/checkpoint names \"%s\", which has no .index here; using the newest checkpoint",
                s->dir, latest);
    if (!s->main_prefix) {
        s->main_prefix = newest_prefix;
        newest_prefix = NULL;
    }
    free(newest_prefix);
    MFS_CHECK(s->main_prefix, e, MFS_FATAL, ENOENT, -1,
              "no checkpoint here: no <prefix>.index file with a table footer");
    return MFS_OK;
}

static int ck_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    struct ck_state *s = calloc(1, sizeof *s);
    *state = s;
    if (!s) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    size_t pl;
    if (p->is_dir) {
        s->dir = strdup(p->path);
        if (!s->dir) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        MFS_FORWARD(open_dir(s, p, e));
    } else if (p->exists && !strcmp(base_name(p->path), "checkpoint")) {
        s->dir = strndup(p->path, (size_t)(base_name(p->path) - p->path));
        if (!s->dir) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        if (!*s->dir) {
            free(s->dir);
            s->dir = strdup(".");
        }
        struct mfs_probe q = *p;
        /* list the directory like the core does for a directory */
        q.is_dir = 1;
        q.dir_names = NULL;
        q.dir_count = 0;
        DIR *d = opendir(s->dir);
        MFS_CHECK(d, e, MFS_FATAL, errno, -1, "%s: %s", s->dir, strerror(errno));
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        int oom = 0;
        while ((de = readdir(d)) && !oom) {
            if (n == cap) {
                char **v = realloc(names, (cap = cap ? cap * 2 : 32) * sizeof *v);
                if (!v) oom = 1;
                else names = v;
            }
            if (!oom && !(names[n++] = strdup(de->d_name))) oom = 1, n--;
        }
        closedir(d);
        q.dir_names = names;
        q.dir_count = n;
        int rc = oom ? mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory") : open_dir(s, &q, e);
        for (size_t i = 0; i < n; i++) free(names[i]);
        free(names);
        MFS_FORWARD(rc);
    } else if (!p->exists) {
        s->main_prefix = strdup(p->path);
    } else if (mfs_has_suffix(p->path, ".index")) {
        s->main_prefix = strndup(p->path, strlen(p->path) - 6);
    } else if ((pl = shard_prefix_len(p->path))) {
        s->main_prefix = strndup(p->path, pl);
    } else {
        return mfs_err_set(e, MFS_FATAL, EINVAL, -1, "not a checkpoint index, prefix or directory");
    }
    if (!s->main_prefix) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    s->main_name = strdup(base_name(s->main_prefix));
    if (!s->main_name) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    MFS_FORWARD(tf_bundle_open(s->main_prefix, &s->main, e));
    /* TF1: <prefix>.meta */
    char *meta = NULL;
    struct stat st;
    if (asprintf(&meta, "%s.meta", s->main_prefix) >= 0 && stat(meta, &st) == 0 && S_ISREG(st.st_mode)) {
        mfs_err e2 = {0};
        s->meta_map = tf_map_file(meta, &s->meta_len, &e2);
        if (s->meta_map && tf_metagraph_parse(s->meta_map, s->meta_len, &s->meta, &e2) == MFS_OK)
            s->have_meta = 1;
        else
            mfs_log("%s: not summarised: %s", meta, e2.msg);
    }
    free(meta);
    return MFS_OK;
}

static int ck_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct ck_state *s = state;
    struct tf_build o = {.t = t, .model = 1};
    int rc = tf_build_bundle(s->main, &o, e), warn = rc == MFS_WARN;
    MFS_FORWARD(rc);
    uint32_t md = mfs_tree_top(t, MFS_TOP_METADATA);
    if (!md) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    mfs_tree_add_textf(t, md, "checkpoint_name", "%s\n", s->main_name);
    if (s->state) mfs_tree_add_json(t, md, "checkpoint_state.json", s->state);
    if (s->have_meta) {
        MFS_FORWARD(tf_metagraph_metadata(&s->meta, t, md, "meta_graph.json", e));
        MFS_FORWARD(tf_metagraph_signatures(&s->meta, t, e));
    }
    if (s->dir_mode && s->nnames) {
        s->others = calloc(s->nnames, sizeof *s->others);
        uint32_t top = mfs_tree_top(t, MFS_TOP_CHECKPOINTS);
        if (!s->others || !top) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        for (size_t i = 0; i < s->nnames; i++) {
            char *pre = mfs_path_join(s->dir, s->names[i]);
            if (!pre) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            mfs_err e2 = {0};
            int r = tf_bundle_open(pre, &s->others[i], &e2);
            free(pre);
            if (r != MFS_OK) {
                mfs_log("%s/%s: checkpoint not shown under checkpoints/: %s", s->dir, s->names[i], e2.msg);
                warn = 1;
                continue;
            }
            uint32_t d = mfs_tree_mkdir(t, top, s->names[i]);
            if (!d) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            struct tf_build so = {.t = t, .model = 0, .root = d};
            r = tf_build_bundle(s->others[i], &so, e);
            MFS_FORWARD(r);
            if (r == MFS_WARN) warn = 1;
        }
    }
    return warn ? MFS_WARN : MFS_OK;
}

static void ck_close(void *state)
{
    struct ck_state *s = state;
    if (!s) return;
    tf_bundle_free(s->main);
    for (size_t i = 0; i < s->nnames; i++) {
        free(s->names[i]);
        if (s->others) tf_bundle_free(s->others[i]);
    }
    free(s->names);
    free(s->others);
    json_decref(s->state);
    if (s->have_meta) tf_metagraph_free(&s->meta);
    tf_unmap_file(s->meta_map, s->meta_len);
    free(s->dir);
    free(s->main_prefix);
    free(s->main_name);
    free(s);
}

const struct mfs_reader mfs_reader_tf_checkpoint = {
    .name = "tf-checkpoint",
    .description = "TensorFlow checkpoint (tensor bundle: prefix, .index, or directory)",
    .flags = MFS_READER_DIR | MFS_READER_NOFILE,
    .bid = ck_bid,
    .open = ck_open,
    .build = ck_build,
    .close = ck_close,
};
