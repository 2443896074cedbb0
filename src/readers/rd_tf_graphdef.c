/* rd_tf_graphdef.c: TensorFlow GraphDef files (frozen graphs, `.pb`) and
 * MetaGraphDef files (`.meta`), the reader "tf-graphdef".
 *
 * A frozen graph has its weights inlined as Const nodes: each NodeDef
 * {1 name, 2 op, 5 attr map} with op "Const" holds its value in
 * attr["value"].tensor (a TensorProto, tf_tproto.h). They are shown as
 * tensors named by their node names (tensors/<name>, layers/ by name);
 * raw tensor_content is served straight from the file, typed values are
 * expanded into memory at mount (at most GD_MAX_DECODED bytes in all).
 * metadata/graph.json summarises the graph (nodes, functions, op
 * histogram, producer). A .meta file (TF1 MetaGraphDef) shows the same
 * plus its meta graph summary and signatures.
 *
 * The file is mapped and walked field by field (tf_pb.h); nothing large
 * is copied. Bid: no magic number; the name (".pb"/".meta", 16 bits) and
 * the first NodeDef's tags (name, op: 24 bits) give 40, low, as protobuf
 * readers bid last. */
#include "readers/common.h"
#include "readers/reader.h"
#include "readers/tf_build.h"
#include "readers/tf_dtype.h"
#include "readers/tf_meta.h"
#include "readers/tf_pb.h"
#include "readers/tf_text.h"
#include "readers/tf_tproto.h"
#include "core/log.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GD_MAX_DECODED (1ull << 30)
#define GD_MAX_CONSTS 10000000

struct gd_const {
    char *name;
    struct tf_tproto tp;
};

struct gd_state {
    void *map;
    size_t len;
    int mapped;
    mfs_src *src;
    int is_meta;
    struct tf_metagraph meta;
    const unsigned char *graph;
    size_t glen;
    struct gd_const *c;
    size_t n;
    unsigned char **bufs;      /* decoded typed values (one per tensor) */
    size_t nbufs;
    uint64_t decoded;
    size_t nnodes;
};

/* Checks that [p, end) starts like a NodeDef: 1 name, then 2 op. */
static int looks_like_node(const unsigned char *p, const unsigned char *end)
{
    struct tf_pb_field f;
    if (tf_pb_next(&p, end, &f) <= 0 || f.num != 1 || f.wt != 2) return 0;
    return tf_pb_next(&p, end, &f) > 0 && f.num == 2 && f.wt == 2 && f.len > 0;
}

static int gd_bid(const struct mfs_probe *p, int best)
{
    if (best >= 40 || !p->src || p->head_len < 4) return -1;
    int meta = mfs_has_suffix(p->path, ".meta");
    if (!meta && !mfs_has_suffix(p->path, ".pb")) return -1;
    const unsigned char *q = p->head, *end = p->head + p->head_len;
    struct tf_pb_field f;
    /* the first field (1, bytes) may run past the probe's head: check its
     * header only, then the first fields inside it */
    uint64_t tag, len;
    if (tf_varint(&q, end, &tag) < 0 || tag != 0x0a || tf_varint(&q, end, &len) < 0) return -1;
    if (meta) return 40;
    const unsigned char *inner_end = len < (uint64_t)(end - q) ? q + len : end;
    (void)f;
    return looks_like_node(q, inner_end) ? 40 : -1;
}

/* attr["value"].tensor of a NodeDef, or NULL. */
static const unsigned char *const_value(const unsigned char *p, const unsigned char *end, size_t *len)
{
    struct tf_pb_field f;
    while (tf_pb_next(&p, end, &f) > 0) {
        if (f.num != 5 || f.wt != 2) continue;
        const unsigned char *q = f.data, *qe = f.data + f.len;
        struct tf_pb_field kv;
        int is_value = 0;
        const unsigned char *val = NULL;
        size_t vl = 0;
        while (tf_pb_next(&q, qe, &kv) > 0) {
            if (kv.num == 1 && kv.wt == 2) is_value = kv.len == 5 && !memcmp(kv.data, "value", 5);
            else if (kv.num == 2 && kv.wt == 2) val = kv.data, vl = kv.len;
        }
        if (!is_value || !val) continue;
        const unsigned char *a = val, *ae = val + vl;
        struct tf_pb_field av;
        while (tf_pb_next(&a, ae, &av) > 0)
            if (av.num == 8 && av.wt == 2) {
                *len = av.len;
                return av.data;
            }
    }
    return NULL;
}

static int walk_graph(struct gd_state *s, mfs_err *e)
{
    const unsigned char *p = s->graph, *end = s->graph + s->glen;
    struct tf_pb_field f;
    int r;
    size_t cap = 0;
    while ((r = tf_pb_next(&p, end, &f)) > 0) {
        if (f.num != 1 || f.wt != 2) continue;
        s->nnodes++;
        const unsigned char *q = f.data, *qe = f.data + f.len;
        struct tf_pb_field nf;
        const unsigned char *name = NULL, *op = NULL;
        size_t nl = 0, ol = 0;
        int r2;
        while ((r2 = tf_pb_next(&q, qe, &nf)) > 0) {
            if (nf.num == 1 && nf.wt == 2) name = nf.data, nl = nf.len;
            else if (nf.num == 2 && nf.wt == 2) op = nf.data, ol = nf.len;
        }
        MFS_CHECK(r2 == 0, e, MFS_FATAL, EINVAL, (int64_t)(f.data - (const unsigned char *)s->map),
                  "NodeDef %zu is malformed", s->nnodes - 1);
        if (!op || !name || !((ol == 5 && !memcmp(op, "Const", 5)) || (ol == 9 && !memcmp(op, "HostConst", 9))))
            continue;
        size_t vl = 0;
        const unsigned char *v = const_value(f.data, f.data + f.len, &vl);
        if (!v) continue;
        MFS_CHECK(s->n < GD_MAX_CONSTS, e, MFS_FATAL, EINVAL, -1, "too many constants");
        if (s->n == cap) {
            struct gd_const *c = realloc(s->c, (cap = cap ? cap * 2 : 64) * sizeof *c);
            if (!c) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            s->c = c;
        }
        struct gd_const *c = &s->c[s->n];
        memset(c, 0, sizeof *c);
        mfs_err e2 = {0};
        if (tf_tproto_scan(v, vl, &c->tp, &e2) != MFS_OK) {
            mfs_log("%s: constant node %.*s: %s", s->src->path, (int)nl, name, e2.msg);
            continue;
        }
        if (!(c->name = strndup((const char *)name, nl)))
            return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        s->n++;
    }
    MFS_CHECK(r == 0, e, MFS_FATAL, EINVAL, (int64_t)(p - (const unsigned char *)s->map),
              "the GraphDef is malformed (truncated or corrupt protobuf)");
    return MFS_OK;
}

static int gd_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    struct gd_state *s = calloc(1, sizeof *s);
    *state = s;
    if (!s) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    s->src = mfs_src_ref(p->src);
    s->map = tf_map_src(p->src, &s->len, &s->mapped, e);
    if (!s->map) return MFS_FATAL;
    s->is_meta = mfs_has_suffix(p->path, ".meta");
    if (s->is_meta) {
        if (tf_metagraph_parse(s->map, s->len, &s->meta, e) != MFS_OK) {
            e->status = MFS_FATAL;
            return MFS_FATAL;
        }
        s->graph = s->meta.graph_def;
        s->glen = s->meta.graph_len;
    } else {
        s->graph = s->map;
        s->glen = s->len;
    }
    if (!s->graph) return MFS_OK;
    return walk_graph(s, e);
}

static int is_var(void *ctx, const char *k, size_t n)
{
    struct gd_state *s = ctx;
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->c[i].name) == n && !memcmp(s->c[i].name, k, n)) return 1;
    return 0;
}

static int add_const(struct gd_state *s, mfs_tree *t, struct gd_const *c, mfs_err *e)
{
    char nb[16];
    if (c->tp.dtype == TF_DT_STRING) {
        struct tf_strings str;
        mfs_err e2 = {0};
        if (tf_tproto_strings(&c->tp, &str, &e2) != MFS_OK) {
            mfs_log("%s: constant %s: %s", s->src->path, c->name, e2.msg);
            return MFS_WARN;
        }
        uint32_t d = mfs_tree_mkdir(t, mfs_tree_top(t, MFS_TOP_TENSORS), c->name);
        json_t *info = json_object();
        json_object_set_new(info, "dtype", json_string("string"));
        json_object_set_new(info, "node", tf_json_bytes(c->name, strlen(c->name)));
        int rc = d ? tf_add_string_dir(t, d, c->tp.ndim, c->tp.shape, &str, c->name, info, e)
                   : mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        json_decref(info);
        tf_strings_free(&str);
        return rc;
    }
    mfs_dtype dt = tf_dtype_to_mfs(c->tp.dtype);
    if (dt == MFS_DT_INVALID) {
        mfs_log("%s: constant %s of type %s is not shown", s->src->path, c->name,
                tf_dtype_name(c->tp.dtype, nb));
        return MFS_WARN;
    }
    mfs_tensor *tn = mfs_tree_tensor_new(t);
    if (!tn) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    tn->dtype = dt;
    MFS_FORWARD(mfs_tensor_set_shape(tn, c->tp.ndim, c->tp.shape, e));
    tn->info = json_object();
    json_object_set_new(tn->info, "node", tf_json_bytes(c->name, strlen(c->name)));
    json_object_set_new(tn->info, "tf_dtype", json_integer(c->tp.dtype));
    if (c->tp.content) {
        if (c->tp.content_len != tn->nbytes) {
            mfs_log("%s: constant %s: tensor_content has %zu bytes, its shape needs %llu",
                    s->src->path, c->name, c->tp.content_len, (unsigned long long)tn->nbytes);
            return MFS_WARN;
        }
        uint64_t off = (uint64_t)(c->tp.content - (const unsigned char *)s->map);
        MFS_FORWARD(mfs_tensor_set_plain(tn, s->src, off, 0, e));
    } else {
        mfs_err e2 = {0};
        unsigned char **v = realloc(s->bufs, (s->nbufs + 1) * sizeof *v);
        if (!v) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        s->bufs = v;
        if (s->decoded + tn->nbytes > GD_MAX_DECODED) {
            mfs_log("%s: constant %s not shown: typed constants are expanded in memory, up to %llu "
                    "bytes in all", s->src->path, c->name, (unsigned long long)GD_MAX_DECODED);
            return MFS_WARN;
        }
        unsigned char *buf = malloc(tn->nbytes ? (size_t)tn->nbytes : 1);
        if (!buf) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        s->bufs[s->nbufs++] = buf;
        s->decoded += tn->nbytes;
        if (tf_tproto_values(&c->tp, dt, buf, tn->nbytes, &e2) != MFS_OK) {
            mfs_log("%s: constant %s: %s", s->src->path, c->name, e2.msg);
            return MFS_WARN;
        }
        mfs_src *m = mfs_src_new_mem(buf, (size_t)tn->nbytes, 0, s->src->path);
        if (!m) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        int rc = mfs_tensor_set_plain(tn, m, 0, 0, e);
        mfs_src_unref(m);
        MFS_FORWARD(rc);
        tn->compression = "expanded from TensorProto typed values";
    }
    return tf_place_named(t, c->name, tn, is_var, s, e);
}

static int gd_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct gd_state *s = state;
    int warn = 0;
    for (size_t i = 0; i < s->n; i++) {
        int rc = add_const(s, t, &s->c[i], e);
        MFS_FORWARD(rc);
        if (rc == MFS_WARN) warn = 1;
    }
    uint32_t md = mfs_tree_top(t, MFS_TOP_METADATA);
    if (!md) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (s->graph) {
        json_t *ops = json_object(), *g = json_object();
        size_t nodes, fns, fnodes;
        int producer;
        if (tf_graph_stats(s->graph, s->glen, ops, &nodes, &fns, &fnodes, &producer) == 0) {
            json_object_set_new(g, "graph_nodes", json_integer((json_int_t)nodes));
            json_object_set_new(g, "constants_shown", json_integer((json_int_t)mfs_tree_model_count(t)));
            json_object_set_new(g, "functions", json_integer((json_int_t)fns));
            json_object_set_new(g, "function_nodes", json_integer((json_int_t)fnodes));
            if (producer) json_object_set_new(g, "graph_producer", json_integer(producer));
            json_object_set(g, "ops", ops);
        }
        mfs_tree_add_json(t, md, "graph.json", g);
        json_decref(g);
        json_decref(ops);
    }
    mfs_tree_add_textf(t, md, "note", "%s: the graph's Const nodes are shown as tensors, named by "
                       "their node names\n", s->is_meta ? "TensorFlow MetaGraphDef (.meta)"
                                                         : "TensorFlow GraphDef (frozen graph)");
    if (s->is_meta) {
        MFS_FORWARD(tf_metagraph_metadata(&s->meta, t, md, "meta_graph.json", e));
        MFS_FORWARD(tf_metagraph_signatures(&s->meta, t, e));
    }
    return warn ? MFS_WARN : MFS_OK;
}

static void gd_close(void *state)
{
    struct gd_state *s = state;
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) free(s->c[i].name);
    free(s->c);
    for (size_t i = 0; i < s->nbufs; i++) free(s->bufs[i]);
    free(s->bufs);
    if (s->is_meta) tf_metagraph_free(&s->meta);
    if (s->map) tf_unmap_src(s->map, s->len, s->mapped);
    mfs_src_unref(s->src);
    free(s);
}

const struct mfs_reader mfs_reader_tf_graphdef = {
    .name = "tf-graphdef",
    .description = "TensorFlow GraphDef (frozen graph .pb) or MetaGraphDef (.meta): constants as tensors",
    .flags = 0,
    .bid = gd_bid,
    .open = gd_open,
    .build = gd_build,
    .close = gd_close,
};
