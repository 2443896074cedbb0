/* tf_meta.c: MetaGraphDef summaries and signatures (see tf_meta.h).
 *
 * Field numbers (tensorflow/core/protobuf/meta_graph.proto, graph.proto,
 * function.proto, node_def.proto): MetaGraphDef 1 meta_info_def,
 * 2 graph_def, 3 saver_def, 4 collection_def (map), 5 signature_def
 * (map), 6 asset_file_def, 7 object_graph_def; GraphDef 1 node,
 * 2 library, 4 versions; FunctionDefLibrary 1 function; FunctionDef
 * 3 node_def; NodeDef 2 op. */
#include "readers/tf_meta.h"
#include "readers/tf_dtype.h"
#include "readers/tf_pb.h"
#include "readers/tf_text.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void *tf_map_file(const char *path, size_t *len, mfs_err *e)
{
    static const char empty[1];
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        mfs_err_set(e, MFS_FATAL, errno, -1, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        mfs_err_set(e, MFS_FATAL, EINVAL, -1, "%s: not a regular file", path);
        return NULL;
    }
    if (st.st_size == 0) {
        close(fd);
        return (void *)empty;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        mfs_err_set(e, MFS_FATAL, errno, -1, "%s: mmap: %s", path, strerror(errno));
        return NULL;
    }
    *len = (size_t)st.st_size;
    return p;
}

void tf_unmap_file(void *p, size_t len)
{
    if (p && len) munmap(p, len);
}

void *tf_map_src(mfs_src *src, size_t *len, int *mapped, mfs_err *e)
{
    static const char empty[1];
    *len = 0;
    *mapped = 0;
    if (src->size == 0) return (void *)empty;
    if (src->fd >= 0 && src->size <= SIZE_MAX) {
        void *p = mmap(NULL, (size_t)src->size, PROT_READ, MAP_PRIVATE, src->fd, 0);
        if (p != MAP_FAILED) {
            *len = (size_t)src->size;
            *mapped = 1;
            return p;
        }
    }
    void *p = mfs_src_slurp(src, 0, src->size, 2ull << 30, e);
    if (!p) {
        e->status = MFS_FATAL;
        return NULL;
    }
    *len = (size_t)src->size;
    return p;
}

void tf_unmap_src(void *p, size_t len, int mapped)
{
    if (mapped) munmap(p, len);
    else if (len) free(p);
}

void tf_metagraph_free(struct tf_metagraph *m)
{
    if (!m) return;
    if (m->info) tfpb__meta_info_def__free_unpacked(m->info, NULL);
    if (m->saver) tfpb__saver_def__free_unpacked(m->saver, NULL);
    for (size_t i = 0; i < m->ncolls; i++) tfpb__collection_entry__free_unpacked(m->colls[i], NULL);
    for (size_t i = 0; i < m->nsigs; i++) tfpb__signature_entry__free_unpacked(m->sigs[i], NULL);
    for (size_t i = 0; i < m->nassets; i++) tfpb__asset_file_def__free_unpacked(m->assets[i], NULL);
    free(m->colls);
    free(m->sigs);
    free(m->assets);
    if (m->objects) tfpb__saved_object_graph__free_unpacked(m->objects, NULL);
    memset(m, 0, sizeof *m);
}

static int push(void ***v, size_t *n, void *x)
{
    void **q = realloc(*v, (*n + 1) * sizeof *q);
    if (!q) return -1;
    q[(*n)++] = x;
    *v = q;
    return 0;
}

int tf_metagraph_parse(const unsigned char *buf, size_t len, struct tf_metagraph *m, mfs_err *e)
{
    memset(m, 0, sizeof *m);
    const unsigned char *p = buf, *end = buf + len;
    struct tf_pb_field f;
    int r;
    while ((r = tf_pb_next(&p, end, &f)) > 0) {
        if (f.wt != 2) continue;
        void *x = NULL;
        const char *what = NULL;
        switch (f.num) {
        case 1:
            if (!m->info && !(x = m->info = tfpb__meta_info_def__unpack(NULL, f.len, f.data)))
                what = "meta_info_def";
            break;
        case 2:
            m->graph_def = f.data;
            m->graph_len = f.len;
            break;
        case 3:
            if (!m->saver && !(x = m->saver = tfpb__saver_def__unpack(NULL, f.len, f.data)))
                what = "saver_def";
            break;
        case 4:
            if (!(x = tfpb__collection_entry__unpack(NULL, f.len, f.data))) what = "collection_def";
            else if (push((void ***)&m->colls, &m->ncolls, x) < 0) {
                tfpb__collection_entry__free_unpacked(x, NULL);
                what = "memory";
            }
            break;
        case 5:
            if (!(x = tfpb__signature_entry__unpack(NULL, f.len, f.data))) what = "signature_def";
            else if (push((void ***)&m->sigs, &m->nsigs, x) < 0) {
                tfpb__signature_entry__free_unpacked(x, NULL);
                what = "memory";
            }
            break;
        case 6:
            if (!(x = tfpb__asset_file_def__unpack(NULL, f.len, f.data))) what = "asset_file_def";
            else if (push((void ***)&m->assets, &m->nassets, x) < 0) {
                tfpb__asset_file_def__free_unpacked(x, NULL);
                what = "memory";
            }
            break;
        case 7:
            if (!m->objects && !(m->objects = tfpb__saved_object_graph__unpack(NULL, f.len, f.data)))
                what = "object_graph_def";
            break;
        }
        if (what) {
            int64_t off = (int64_t)(f.data - buf);
            tf_metagraph_free(m);
            return mfs_err_set(e, MFS_FAILED, EINVAL, off, "MetaGraphDef: %s does not decode", what);
        }
    }
    if (r < 0) {
        int64_t off = (int64_t)(p - buf);
        tf_metagraph_free(m);
        return mfs_err_set(e, MFS_FAILED, EINVAL, off, "MetaGraphDef is malformed");
    }
    return MFS_OK;
}

static void count_op(json_t *ops, const unsigned char *s, size_t n)
{
    if (!ops) return;
    char buf[256];
    if (n >= sizeof buf) n = sizeof buf - 1;
    memcpy(buf, s, n);
    buf[n] = 0;
    if (!tf_utf8_ok((const unsigned char *)buf, n)) return;
    json_t *c = json_object_get(ops, buf);
    json_object_set_new(ops, buf, json_integer(c ? json_integer_value(c) + 1 : 1));
}

/* Counts the NodeDef at [p, end): its op. */
static int node_op(const unsigned char *p, const unsigned char *end, json_t *ops)
{
    struct tf_pb_field f;
    int r;
    while ((r = tf_pb_next(&p, end, &f)) > 0)
        if (f.num == 2 && f.wt == 2) count_op(ops, f.data, f.len);
    return r;
}

int tf_graph_stats(const unsigned char *g, size_t len, json_t *ops, size_t *nodes,
                   size_t *functions, size_t *fnodes, int *producer)
{
    *nodes = *functions = *fnodes = 0;
    *producer = 0;
    const unsigned char *p = g, *end = g + len;
    struct tf_pb_field f;
    int r;
    while ((r = tf_pb_next(&p, end, &f)) > 0) {
        if (f.num == 1 && f.wt == 2) {
            (*nodes)++;
            if (node_op(f.data, f.data + f.len, ops) < 0) return -1;
        } else if (f.num == 2 && f.wt == 2) { /* library */
            const unsigned char *q = f.data, *qe = f.data + f.len;
            struct tf_pb_field fn;
            int r2;
            while ((r2 = tf_pb_next(&q, qe, &fn)) > 0) {
                if (fn.num != 1 || fn.wt != 2) continue;
                (*functions)++;
                const unsigned char *s = fn.data, *se = fn.data + fn.len;
                struct tf_pb_field nd;
                int r3;
                while ((r3 = tf_pb_next(&s, se, &nd)) > 0)
                    if (nd.num == 3 && nd.wt == 2) {
                        (*fnodes)++;
                        if (node_op(nd.data, nd.data + nd.len, ops) < 0) return -1;
                    }
                if (r3 < 0) return -1;
            }
            if (r2 < 0) return -1;
        } else if (f.num == 4 && f.wt == 2) { /* versions */
            const unsigned char *q = f.data, *qe = f.data + f.len;
            struct tf_pb_field v;
            while (tf_pb_next(&q, qe, &v) > 0)
                if (v.num == 1 && v.wt == 0) *producer = (int)v.v;
        }
    }
    return r < 0 ? -1 : 0;
}

static json_t *jstr(const char *s) { return s ? tf_json_bytes(s, strlen(s)) : json_null(); }

/* Names of the variables serialized as VariableDef in a bytes_list. */
static json_t *variable_names(const Tfpb__CollectionDef__BytesList *bl)
{
    json_t *a = json_array();
    for (size_t i = 0; i < bl->n_value && i < 10000; i++) {
        Tfpb__VariableDef *v = tfpb__variable_def__unpack(NULL, bl->value[i].len, bl->value[i].data);
        if (!v) continue;
        json_array_append_new(a, jstr(v->variable_name));
        tfpb__variable_def__free_unpacked(v, NULL);
    }
    return a;
}

static json_t *collection_json(const Tfpb__CollectionEntry *c)
{
    const Tfpb__CollectionDef *d = c->value;
    json_t *o = json_object();
    if (!d) return o;
    if (d->node_list) {
        json_t *a = json_array();
        for (size_t i = 0; i < d->node_list->n_value && i < 1000; i++)
            json_array_append_new(a, jstr(d->node_list->value[i]));
        json_object_set_new(o, "node_list", a);
    } else if (d->bytes_list) {
        json_object_set_new(o, "count", json_integer((json_int_t)d->bytes_list->n_value));
        if (c->key && (strstr(c->key, "variables") || !strcmp(c->key, "global_step")))
            json_object_set_new(o, "variables", variable_names(d->bytes_list));
    } else if (d->int64_list) {
        json_t *a = json_array();
        for (size_t i = 0; i < d->int64_list->n_value && i < 1000; i++)
            json_array_append_new(a, json_integer(d->int64_list->value[i]));
        json_object_set_new(o, "int64_list", a);
    } else if (d->float_list) {
        json_t *a = json_array();
        for (size_t i = 0; i < d->float_list->n_value && i < 1000; i++)
            json_array_append_new(a, json_real(d->float_list->value[i]));
        json_object_set_new(o, "float_list", a);
    } else if (d->any_list) {
        json_t *a = json_array();
        for (size_t i = 0; i < d->any_list->n_value && i < 1000; i++)
            json_array_append_new(a, jstr(d->any_list->value[i]->type_url));
        json_object_set_new(o, "any_list", a);
    }
    return o;
}

json_t *tf_metagraph_summary(const struct tf_metagraph *m)
{
    json_t *o = json_object();
    if (!o) return NULL;
    if (m->info) {
        json_t *tags = json_array();
        for (size_t i = 0; i < m->info->n_tags; i++) json_array_append_new(tags, jstr(m->info->tags[i]));
        json_object_set_new(o, "tags", tags);
        if (m->info->tensorflow_version)
            json_object_set_new(o, "tensorflow_version", jstr(m->info->tensorflow_version));
        if (m->info->tensorflow_git_version)
            json_object_set_new(o, "tensorflow_git_version", jstr(m->info->tensorflow_git_version));
        if (m->info->meta_graph_version && *m->info->meta_graph_version)
            json_object_set_new(o, "meta_graph_version", jstr(m->info->meta_graph_version));
    }
    if (m->graph_def) {
        json_t *ops = json_object();
        size_t nodes, fns, fnodes;
        int producer;
        if (tf_graph_stats(m->graph_def, m->graph_len, ops, &nodes, &fns, &fnodes, &producer) == 0) {
            json_object_set_new(o, "graph_nodes", json_integer((json_int_t)nodes));
            json_object_set_new(o, "functions", json_integer((json_int_t)fns));
            json_object_set_new(o, "function_nodes", json_integer((json_int_t)fnodes));
            json_object_set_new(o, "op_count", json_integer((json_int_t)(nodes + fnodes)));
            json_object_set_new(o, "op_types", json_integer((json_int_t)json_object_size(ops)));
            if (producer) json_object_set_new(o, "graph_producer", json_integer(producer));
            json_object_set(o, "ops", ops);
        } else {
            json_object_set_new(o, "graph", json_string("malformed GraphDef"));
        }
        json_decref(ops);
    }
    if (m->ncolls) {
        json_t *c = json_object();
        for (size_t i = 0; i < m->ncolls; i++)
            if (m->colls[i]->key) json_object_set_new(c, m->colls[i]->key, collection_json(m->colls[i]));
        json_object_set_new(o, "collections", c);
    }
    if (m->saver) {
        json_t *s = json_object();
        json_object_set_new(s, "filename_tensor_name", jstr(m->saver->filename_tensor_name));
        json_object_set_new(s, "sharded", json_boolean(m->saver->sharded));
        json_object_set_new(s, "max_to_keep", json_integer(m->saver->max_to_keep));
        json_object_set_new(s, "version", json_string(m->saver->version == 2   ? "V2"
                                                      : m->saver->version == 1 ? "V1"
                                                                               : "LEGACY"));
        json_object_set_new(o, "saver", s);
    }
    if (m->nsigs) {
        json_t *a = json_array();
        for (size_t i = 0; i < m->nsigs; i++) json_array_append_new(a, jstr(m->sigs[i]->key));
        json_object_set_new(o, "signatures", a);
    }
    if (m->nassets) {
        json_t *a = json_array();
        for (size_t i = 0; i < m->nassets; i++) json_array_append_new(a, jstr(m->assets[i]->filename));
        json_object_set_new(o, "assets", a);
    }
    if (m->objects) json_object_set_new(o, "saved_objects", json_integer((json_int_t)m->objects->n_nodes));
    return o;
}

static int add_tensor_infos(mfs_tree *t, uint32_t dir, const char *what, Tfpb__TensorInfoEntry **v,
                            size_t n)
{
    uint32_t d = mfs_tree_mkdir(t, dir, what);
    if (!d) return -1;
    for (size_t i = 0; i < n; i++) {
        const Tfpb__TensorInfo *ti = v[i]->value;
        /* one directory per input/output: its name is one component
         * (mkdir nests on '/', which TF names rarely hold) */
        char name[1024];
        snprintf(name, sizeof name, "%s", v[i]->key ? v[i]->key : "");
        for (char *c = name; *c; c++)
            if (*c == '/') *c = '_';
        uint32_t x = mfs_tree_mkdir(t, d, name);
        if (!x) return -1;
        char dt[16], shp[2048];
        const char *dtn = ti ? tf_dtype_name(ti->dtype, dt) : "unknown";
        if (!mfs_tree_add_textf(t, x, "dtype", "%s\n", dtn)) return -1;
        tf_shape_text(ti ? ti->tensor_shape : NULL, shp, sizeof shp);
        if (!mfs_tree_add_textf(t, x, "shape", "%s\n", shp)) return -1;
        if (ti && ti->name && !mfs_tree_add_textf(t, x, "name", "%s\n", ti->name)) return -1;
        if (ti && ti->coo_sparse) {
            json_t *j = json_object();
            json_object_set_new(j, "values_tensor_name", jstr(ti->coo_sparse->values_tensor_name));
            json_object_set_new(j, "indices_tensor_name", jstr(ti->coo_sparse->indices_tensor_name));
            json_object_set_new(j, "dense_shape_tensor_name", jstr(ti->coo_sparse->dense_shape_tensor_name));
            uint32_t ok = mfs_tree_add_json(t, x, "coo_sparse.json", j);
            json_decref(j);
            if (!ok) return -1;
        }
    }
    return 0;
}

int tf_metagraph_signatures(const struct tf_metagraph *m, mfs_tree *t, mfs_err *e)
{
    for (size_t i = 0; i < m->nsigs; i++) {
        const Tfpb__SignatureEntry *s = m->sigs[i];
        if (!s->key || !strcmp(s->key, "__saved_model_init_op") || !s->value) continue;
        uint32_t top = mfs_tree_top(t, MFS_TOP_SIGNATURES);
        char key[1024];
        snprintf(key, sizeof key, "%s", s->key);
        for (char *c = key; *c; c++)
            if (*c == '/') *c = '_';
        uint32_t d = top ? mfs_tree_mkdir(t, top, key) : 0;
        int bad = !d;
        if (!bad && s->value->method_name)
            bad = !mfs_tree_add_textf(t, d, "method_name", "%s\n", s->value->method_name);
        if (!bad) bad = add_tensor_infos(t, d, "inputs", s->value->inputs, s->value->n_inputs) < 0;
        if (!bad) bad = add_tensor_infos(t, d, "outputs", s->value->outputs, s->value->n_outputs) < 0;
        if (bad) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    return MFS_OK;
}

int tf_metagraph_metadata(const struct tf_metagraph *m, mfs_tree *t, uint32_t dir,
                          const char *json_name, mfs_err *e)
{
    int ok = 1;
    if (m->info && m->info->tensorflow_version && *m->info->tensorflow_version &&
        !mfs_tree_lookup_path(t, dir, "tensorflow_version"))
        ok = mfs_tree_add_textf(t, dir, "tensorflow_version", "%s\n", m->info->tensorflow_version) != 0;
    if (ok && m->info && m->info->tensorflow_git_version && *m->info->tensorflow_git_version &&
        !mfs_tree_lookup_path(t, dir, "tensorflow_git_version"))
        ok = mfs_tree_add_textf(t, dir, "tensorflow_git_version", "%s\n",
                                m->info->tensorflow_git_version) != 0;
    if (ok && m->info && m->info->n_tags && !mfs_tree_lookup_path(t, dir, "tags")) {
        size_t len = 0;
        for (size_t i = 0; i < m->info->n_tags; i++) len += strlen(m->info->tags[i]) + 1;
        char *s = malloc(len + 1), *q = s;
        if (!s) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        for (size_t i = 0; i < m->info->n_tags; i++) q += sprintf(q, "%s\n", m->info->tags[i]);
        ok = mfs_tree_add_text(t, dir, "tags", s, len) != 0;
        free(s);
    }
    if (ok && json_name) {
        json_t *j = tf_metagraph_summary(m);
        ok = j && mfs_tree_add_json(t, dir, json_name, j);
        json_decref(j);
    }
    return ok ? MFS_OK : mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
}
