/* rd_tf_savedmodel.c: TensorFlow SavedModel directories, the reader
 * "tf-savedmodel" (FORMATS.md section 4).
 *
 * Mountable: the SavedModel directory (saved_model.pb, variables/,
 * assets/, assets.extra/, keras_metadata.pb, fingerprint.pb), its
 * saved_model.pb file, or a TF Serving base directory of numbered
 * versions (the highest version is mounted).
 *
 * The tree: the variables bundle exactly as a checkpoint (tf_build.h),
 * named through the object graph with names proposed by the
 * SavedObjectGraph (SavedVariable names) and keras_metadata.pb (layer
 * names); signatures/<key>/{method_name, inputs|outputs/<name>/{dtype,
 * shape, name}} from the serving meta graph; metadata/ with
 * saved_model_schema_version, tensorflow_version, tags, meta_graph.json,
 * keras_version/backend/model_config.json/training_config.json and
 * keras_metadata.json, fingerprint.json; assets/ and assets.extra/ as
 * files; raw/ with the .pb files as stored.
 *
 * saved_model.pb is mapped, and walked field by field down to the
 * meta graphs, so a large graph_def is never copied (tf_meta.h).
 * saved_model.pbtxt (text format) is parsed (tf_pbtext.h) into the parts
 * modelfs shows (tf_saved_model_text.proto: everything but the graph's
 * node attributes and functions' bodies), packed back into the binary
 * form, and walked exactly like saved_model.pb. A chunked SavedModel
 * (saved_model.cpb, TF >= 2.13 for graphs over 2 GiB: a riegeli container
 * of brotli-compressed chunks, tools/proto_splitter) is not decoded: it
 * is mounted with its variables, and one log line and metadata/note say
 * what is not shown. */
#include "readers/common.h"
#include "readers/reader.h"
#include "readers/tf_build.h"
#include "readers/tf_dtype.h"
#include "readers/tf_meta.h"
#include "readers/tf_pbtext.h"
#include "readers/tf_pb.h"
#include "readers/tf_text.h"
#include "core/log.h"
#include "tf_fingerprint.pb-c.h"
#include "tf_saved_metadata.pb-c.h"
#include "tf_saved_model_text.pb-c.h"
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

#define SM_MAX_META_GRAPHS 64
#define SM_MAX_ASSETS 10000

struct sm_state {
    char *dir;
    void *map;                   /* saved_model.pb, or the packed .pbtxt */
    size_t len;
    int packed;                  /* map is a malloc'd packing of saved_model.pbtxt */
    const char *pb_name;         /* "saved_model.pb" or "saved_model.pbtxt" */
    int64_t schema_version;
    struct tf_metagraph *mg;     /* every meta graph */
    size_t nmg;
    size_t main;                 /* the one shown (tag "serve", else the first) */
    const char *chunked;         /* "saved_model.cpb" when only that is there */
    tf_bundle *vars;
    Tfpb__SavedMetadata *keras;
    Tfpb__FingerprintDef *fp;
    size_t nassets;
};

static int is_file(const char *dir, const char *name)
{
    char p[PATH_MAX];
    struct stat st;
    return snprintf(p, sizeof p, "%s/%s", dir, name) < (int)sizeof p && stat(p, &st) == 0 &&
           S_ISREG(st.st_mode);
}

/* A TF Serving base directory: the highest all-digits subdirectory that
 * holds a saved_model.pb or .pbtxt, into @out (PATH_MAX). 1 when found. */
static int serving_version(const char *dir, char **names, size_t n, char *out)
{
    long best = -1;
    for (size_t i = 0; i < n; i++) {
        const char *s = names[i];
        if (!*s || strlen(s) > 18) continue;
        const char *c = s;
        while (isdigit((unsigned char)*c)) c++;
        if (*c) continue;
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s/%s", dir, s) >= (int)sizeof sub) continue;
        long v = atol(s);
        if (v > best && (is_file(sub, "saved_model.pb") || is_file(sub, "saved_model.pbtxt"))) {
            best = v;
            memcpy(out, sub, strlen(sub) + 1);
        }
    }
    return best >= 0;
}

static int sm_bid(const struct mfs_probe *p, int best)
{
    if (best >= 72) return -1;
    if (!p->exists) return -1;
    char sub[PATH_MAX];
    if (!p->is_dir) {
        const char *b = strrchr(p->path, '/');
        b = b ? b + 1 : p->path;
        /* the file name (48 bits) and field 1 or 2 of a SavedModel (8);
         * the text form: its name and a printable first byte */
        if (!strcmp(b, "saved_model.pbtxt"))
            return p->head_len && (isprint(p->head[0]) || isspace(p->head[0])) ? 56 : -1;
        return !strcmp(b, "saved_model.pb") && p->head_len && (p->head[0] == 0x08 || p->head[0] == 0x12)
                   ? 56 : -1;
    }
    if (mfs_probe_dir_has(p, "saved_model.pb")) return 72;
    if (mfs_probe_dir_has(p, "saved_model.pbtxt") || mfs_probe_dir_has(p, "saved_model.cpb")) return 56;
    return serving_version(p->path, p->dir_names, p->dir_count, sub) ? 56 : -1;
}

/* Walks SavedModel {1 schema version, 2 meta_graphs}. */
static int parse_saved_model(struct sm_state *s, mfs_err *e)
{
    const unsigned char *p = s->map, *end = p + s->len;
    struct tf_pb_field f;
    int r;
    size_t cap = 0;
    while ((r = tf_pb_next(&p, end, &f)) > 0) {
        if (f.num == 1 && f.wt == 0) {
            s->schema_version = (int64_t)f.v;
        } else if (f.num == 2 && f.wt == 2) {
            MFS_CHECK(s->nmg < SM_MAX_META_GRAPHS, e, MFS_FATAL, EINVAL, -1,
                      "%s holds more than %d meta graphs", s->pb_name, SM_MAX_META_GRAPHS);
            if (s->nmg == cap) {
                struct tf_metagraph *v = realloc(s->mg, (cap = cap ? cap * 2 : 4) * sizeof *v);
                if (!v) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
                s->mg = v;
            }
            if (tf_metagraph_parse(f.data, f.len, &s->mg[s->nmg], e) != MFS_OK) {
                mfs_err_prefix(e, "%s, meta graph %zu", s->pb_name, s->nmg);
                e->status = MFS_FATAL;
                return MFS_FATAL;
            }
            s->nmg++;
        }
    }
    MFS_CHECK(r == 0, e, MFS_FATAL, EINVAL, (int64_t)(p - (const unsigned char *)s->map),
              "%s is not a valid SavedModel protobuf (truncated or corrupt)", s->pb_name);
    MFS_CHECK(s->nmg > 0, e, MFS_FATAL, EINVAL, -1, "%s holds no meta graph", s->pb_name);
    for (size_t i = 0; i < s->nmg; i++) {
        const Tfpb__MetaInfoDef *mi = s->mg[i].info;
        for (size_t k = 0; mi && k < mi->n_tags; k++)
            if (!strcmp(mi->tags[k], "serve")) {
                s->main = i;
                return MFS_OK;
            }
    }
    return MFS_OK;
}

/* Reads a small .pb next to the model (<= 64 MiB) and decodes it with
 * @unpack; NULL (logged) when absent or malformed. */
static void *load_pb(const char *dir, const char *name,
                     void *(*unpack)(ProtobufCAllocator *, size_t, const uint8_t *))
{
    if (!is_file(dir, name)) return NULL;
    char *path = mfs_path_join(dir, name);
    mfs_err e = {0};
    size_t len = 0;
    void *map = path ? tf_map_file(path, &len, &e) : NULL;
    void *m = NULL;
    if (map && len <= (64u << 20)) m = unpack(NULL, len, map);
    if (!m) mfs_log("%s: not summarised: %s", path ? path : name, map ? "does not decode" : e.msg);
    tf_unmap_file(map, len);
    free(path);
    return m;
}

/* saved_model.pbtxt: parsed, then packed into s->map as the binary form
 * (what modelfs shows of it survives the trip; tf_saved_model_text.proto). */
static int load_text(struct sm_state *s, const char *path, mfs_err *e)
{
    size_t len = 0;
    void *text = tf_map_file(path, &len, e);
    if (!text) return MFS_FATAL;
    struct tf_pbtext_opts o = {.ident = tf_dtype_ident};
    ProtobufCMessage *m = tf_pbtext_parse(&tfpb__saved_model_text__descriptor, text, len, &o, e);
    tf_unmap_file(text, len);
    if (!m) {
        mfs_err_prefix(e, "saved_model.pbtxt");
        e->status = MFS_FATAL;
        return MFS_FATAL;
    }
    size_t n = protobuf_c_message_get_packed_size(m);
    s->map = malloc(n ? n : 1);
    if (s->map) s->len = protobuf_c_message_pack(m, s->map);
    protobuf_c_message_free_unpacked(m, NULL);
    if (!s->map) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    s->packed = 1;
    return MFS_OK;
}

static int sm_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    struct sm_state *s = calloc(1, sizeof *s);
    *state = s;
    if (!s) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    char sub[PATH_MAX];
    if (!p->is_dir) {
        const char *b = strrchr(p->path, '/');
        s->dir = b ? strndup(p->path, (size_t)(b - p->path)) : strdup(".");
        if (s->dir && !*s->dir) {
            free(s->dir);
            s->dir = strdup("/");
        }
    } else if (!mfs_probe_dir_has(p, "saved_model.pb") && !mfs_probe_dir_has(p, "saved_model.pbtxt") &&
               !mfs_probe_dir_has(p, "saved_model.cpb") &&
               serving_version(p->path, p->dir_names, p->dir_count, sub)) {
        s->dir = strdup(sub);
    } else {
        s->dir = strdup(p->path);
    }
    if (!s->dir) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (is_file(s->dir, "saved_model.pb") || is_file(s->dir, "saved_model.pbtxt")) {
        int text = !is_file(s->dir, "saved_model.pb"); /* TF's loader prefers the .pb too */
        s->pb_name = text ? "saved_model.pbtxt" : "saved_model.pb";
        char *path = mfs_path_join(s->dir, s->pb_name);
        if (!path) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        int rc = text ? load_text(s, path, e) : (s->map = tf_map_file(path, &s->len, e)) ? MFS_OK : MFS_FATAL;
        free(path);
        if (rc != MFS_OK) return MFS_FATAL;
        MFS_FORWARD(parse_saved_model(s, e));
    } else {
        s->chunked = "saved_model.cpb";
        mfs_log("%s/saved_model.cpb: a chunked SavedModel (riegeli container, TF >= 2.13), which modelfs "
                "does not decode: showing the variables only, no signatures, tags or graph", s->dir);
    }
    char vdir[PATH_MAX];
    snprintf(vdir, sizeof vdir, "%s/variables", s->dir);
    if (is_file(vdir, "variables.index")) {
        char *pre = mfs_path_join(vdir, "variables");
        if (!pre) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        int rc = tf_bundle_open(pre, &s->vars, e);
        free(pre);
        if (rc != MFS_OK) {
            mfs_err_prefix(e, "variables");
            return MFS_FATAL;
        }
    }
    s->keras = load_pb(s->dir, "keras_metadata.pb", (void *(*)(ProtobufCAllocator *, size_t, const uint8_t *))
                       tfpb__saved_metadata__unpack);
    s->fp = load_pb(s->dir, "fingerprint.pb", (void *(*)(ProtobufCAllocator *, size_t, const uint8_t *))
                    tfpb__fingerprint_def__unpack);
    return MFS_OK;
}

/* ---- naming hints ---- */

/* Paths of SavedObjectGraph nodes (breadth-first, '\x01'-separated local
 * names), malloc'd strings, NULL for unreachable nodes. */
static char **sog_paths(const Tfpb__SavedObjectGraph *g)
{
    size_t n = g->n_nodes;
    char **path = calloc(n ? n : 1, sizeof *path);
    int *queue = malloc((n ? n : 1) * sizeof *queue);
    if (!path || !queue || !n) {
        free(queue);
        return path;
    }
    size_t qh = 0, qt = 0;
    path[0] = strdup("");
    queue[qt++] = 0;
    while (qh < qt && path[0]) {
        int cur = queue[qh++];
        const Tfpb__SavedObjectGraph__SavedObject *o = g->nodes[cur];
        for (size_t c = 0; c < o->n_children; c++) {
            int id = o->children[c]->node_id;
            const char *ln = o->children[c]->local_name ? o->children[c]->local_name : "";
            if (id < 0 || (size_t)id >= n || path[id]) continue;
            if (asprintf(&path[id], "%s%s%s", path[cur], *path[cur] ? "\x01" : "", ln) < 0) {
                path[id] = NULL;
                continue;
            }
            queue[qt++] = id;
        }
    }
    free(queue);
    return path;
}

static void hints(void *ctx, tf_objgraph *g)
{
    struct sm_state *s = ctx;
    /* keras_metadata.pb: node_path "root.layer_with_weights-0" -> "name" */
    for (size_t i = 0; s->keras && i < s->keras->n_nodes; i++) {
        const Tfpb__KerasSavedObject *k = s->keras->nodes[i];
        if (!k->node_path || !k->metadata || strncmp(k->node_path, "root", 4)) continue;
        const char *path = k->node_path + 4;
        if (*path == '.') path++;
        else if (*path) continue;
        int node = tf_objgraph_resolve(g, path, '.');
        if (node <= 0) continue;
        json_t *j = json_loads(k->metadata, 0, NULL);
        const char *name = json_string_value(json_object_get(j, "name"));
        if (name) tf_objgraph_hint(g, node, name, 3);
        json_decref(j);
    }
    /* SavedVariable.name "conv2d/kernel:0" names the variable's parent */
    const Tfpb__SavedObjectGraph *sog = s->nmg ? s->mg[s->main].objects : NULL;
    if (!sog) return;
    char **paths = sog_paths(sog);
    if (!paths) return;
    for (size_t i = 0; i < sog->n_nodes; i++) {
        const Tfpb__SavedObjectGraph__SavedVariable *v = sog->nodes[i]->variable;
        if (!v || !v->name || !paths[i]) continue;
        /* the variable's own full name: optimizer slots are matched by it */
        tf_objgraph_full_name(g, tf_objgraph_resolve(g, paths[i], '\x01'), v->name);
        char *sep = strrchr(paths[i], '\x01');
        if (!sep) continue;
        *sep = 0; /* the parent's path */
        int parent = tf_objgraph_resolve(g, paths[i], '\x01');
        *sep = '\x01';
        const char *last = strrchr(v->name, '/');
        if (parent <= 0 || !last || last == v->name) continue;
        const char *prev = last - 1;
        while (prev > v->name && prev[-1] != '/') prev--;
        char buf[256];
        size_t l = (size_t)(last - prev);
        if (l >= sizeof buf) continue;
        memcpy(buf, prev, l);
        buf[l] = 0;
        tf_objgraph_hint(g, parent, buf, 1);
    }
    for (size_t i = 0; i < sog->n_nodes; i++) free(paths[i]);
    free(paths);
}

/* ---- metadata ---- */

static void keras_metadata(struct sm_state *s, mfs_tree *t, uint32_t md)
{
    json_t *nodes = json_array();
    for (size_t i = 0; i < s->keras->n_nodes; i++) {
        const Tfpb__KerasSavedObject *k = s->keras->nodes[i];
        json_t *j = k->metadata ? json_loads(k->metadata, 0, NULL) : NULL;
        json_t *n = json_object();
        json_object_set_new(n, "node_id", json_integer(k->node_id));
        if (k->node_path) json_object_set_new(n, "node_path", tf_json_bytes(k->node_path, strlen(k->node_path)));
        if (k->identifier) json_object_set_new(n, "identifier", tf_json_bytes(k->identifier, strlen(k->identifier)));
        if (json_is_object(j)) {
            json_t *nm = json_object_get(j, "name"), *cn = json_object_get(j, "class_name");
            if (nm) json_object_set(n, "name", nm);
            if (cn) json_object_set(n, "class_name", cn);
        }
        json_array_append_new(nodes, n);
        if (k->node_path && !strcmp(k->node_path, "root") && json_is_object(j)) {
            /* the model itself: the same files a Keras .h5 shows */
            static const char *const scal[] = {"keras_version", "backend", NULL};
            for (int q = 0; scal[q]; q++) {
                json_t *v = json_object_get(j, scal[q]);
                if (v && !mfs_tree_lookup_path(t, md, scal[q])) mfs_tree_add_value(t, md, scal[q], v);
            }
            json_t *mc = json_object_get(j, "model_config"), *tc = json_object_get(j, "training_config");
            if (mc) mfs_tree_add_json(t, md, "model_config.json", mc);
            if (tc) mfs_tree_add_json(t, md, "training_config.json", tc);
        }
        json_decref(j);
    }
    json_t *o = json_object();
    json_object_set_new(o, "nodes", nodes);
    mfs_tree_add_json(t, md, "keras_metadata.json", o);
    json_decref(o);
}

static void fingerprint(struct sm_state *s, mfs_tree *t, uint32_t md)
{
    const Tfpb__FingerprintDef *f = s->fp;
    json_t *o = json_object();
    char b[32];
    /* uint64 hashes as decimal strings: JSON numbers lose precision */
#define FP(field)                                                              \
    if (f->has_##field) {                                                      \
        snprintf(b, sizeof b, "%llu", (unsigned long long)f->field);           \
        json_object_set_new(o, #field, json_string(b));                        \
    }
    FP(saved_model_checksum)
    FP(graph_def_program_hash)
    FP(signature_def_hash)
    FP(saved_object_graph_hash)
    FP(checkpoint_hash)
#undef FP
    if (f->version) json_object_set_new(o, "version_producer", json_integer(f->version->producer));
    mfs_tree_add_json(t, md, "fingerprint.json", o);
    json_decref(o);
}

/* Adds the files below @dir/@name as @name/... (recursively). */
static int add_files(struct sm_state *s, mfs_tree *t, uint32_t parent, const char *path,
                     const char *name, int depth)
{
    DIR *d = opendir(path);
    if (!d) return 0;
    uint32_t me = mfs_tree_mkdir(t, parent, name);
    struct dirent *de;
    int rc = me ? 0 : -1;
    while (rc == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *p = mfs_path_join(path, de->d_name);
        struct stat st;
        if (!p) rc = -1;
        else if (lstat(p, &st) != 0) ;
        else if (S_ISDIR(st.st_mode) && depth < 16) rc = add_files(s, t, me, p, de->d_name, depth + 1);
        else if (S_ISREG(st.st_mode) && s->nassets < SM_MAX_ASSETS) {
            mfs_err e2 = {0};
            mfs_src *src = mfs_src_new_file(p, &e2);
            if (src) {
                s->nassets++;
                /* one raw name: a file name never nests */
                if (!mfs_tree_add_src_range(t, me, de->d_name, src, 0, src->size)) rc = -1;
                mfs_src_unref(src);
            }
        }
        free(p);
    }
    closedir(d);
    return rc;
}

static int add_raw(struct sm_state *s, mfs_tree *t, const char *name)
{
    if (!is_file(s->dir, name)) return 0;
    char *p = mfs_path_join(s->dir, name);
    mfs_err e2 = {0};
    mfs_src *src = p ? mfs_src_new_file(p, &e2) : NULL;
    free(p);
    if (!src) return 0;
    uint32_t raw = mfs_tree_top(t, MFS_TOP_RAW);
    int rc = raw && mfs_tree_add_src_range(t, raw, name, src, 0, src->size) ? 0 : -1;
    mfs_src_unref(src);
    return rc;
}

static int sm_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct sm_state *s = state;
    int warn = s->chunked != NULL;
    if (s->vars) {
        struct tf_build o = {.t = t, .model = 1, .hints = hints, .hints_ctx = s};
        int rc = tf_build_bundle(s->vars, &o, e);
        MFS_FORWARD(rc);
        if (rc == MFS_WARN) warn = 1;
    }
    uint32_t md = mfs_tree_top(t, MFS_TOP_METADATA);
    if (!md) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (s->chunked) {
        mfs_tree_add_textf(t, md, "note", "%s is a chunked SavedModel (a riegeli container of "
                           "compressed chunks, written by TF >= 2.13 for graphs over 2 GiB), which "
                           "modelfs does not decode. Shown: the variables (tensors/, layers/, "
                           "optimizer/) and the files beside it. Not shown: signatures/, tags, "
                           "tensorflow_version, meta_graph.json.\n", s->chunked);
    } else {
        mfs_tree_add_textf(t, md, "saved_model_schema_version", "%lld\n", (long long)s->schema_version);
        MFS_FORWARD(tf_metagraph_metadata(&s->mg[s->main], t, md, "meta_graph.json", e));
        MFS_FORWARD(tf_metagraph_signatures(&s->mg[s->main], t, e));
        if (s->nmg > 1) {
            json_t *a = json_array();
            for (size_t i = 0; i < s->nmg; i++) json_array_append_new(a, tf_metagraph_summary(&s->mg[i]));
            mfs_tree_add_json(t, md, "meta_graphs.json", a);
            json_decref(a);
        }
    }
    if (s->keras) keras_metadata(s, t, md);
    if (s->fp) fingerprint(s, t, md);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/assets", s->dir);
    int rc = add_files(s, t, MFS_ROOT, p, "assets", 0);
    snprintf(p, sizeof p, "%s/assets.extra", s->dir);
    if (rc == 0) rc = add_files(s, t, MFS_ROOT, p, "assets.extra", 0);
    if (rc == 0) rc = add_raw(s, t, "saved_model.pb");
    if (rc == 0) rc = add_raw(s, t, "saved_model.pbtxt");
    if (rc == 0) rc = add_raw(s, t, "saved_model.cpb");
    if (rc == 0) rc = add_raw(s, t, "keras_metadata.pb");
    if (rc == 0) rc = add_raw(s, t, "fingerprint.pb");
    if (rc < 0) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    return warn ? MFS_WARN : MFS_OK;
}

static void sm_close(void *state)
{
    struct sm_state *s = state;
    if (!s) return;
    for (size_t i = 0; i < s->nmg; i++) tf_metagraph_free(&s->mg[i]);
    free(s->mg);
    if (s->packed) free(s->map);
    else tf_unmap_file(s->map, s->len);
    tf_bundle_free(s->vars);
    if (s->keras) tfpb__saved_metadata__free_unpacked(s->keras, NULL);
    if (s->fp) tfpb__fingerprint_def__free_unpacked(s->fp, NULL);
    free(s->dir);
    free(s);
}

const struct mfs_reader mfs_reader_tf_savedmodel = {
    .name = "tf-savedmodel",
    .description = "TensorFlow SavedModel directory (variables, signatures, assets, Keras metadata)",
    .flags = MFS_READER_DIR,
    .bid = sm_bid,
    .open = sm_open,
    .build = sm_build,
    .close = sm_close,
};
