/* rd_tf_checkpoint_v1.c: the legacy TensorFlow "V1" checkpoint, the
 * reader "tf-checkpoint-v1" (FORMATS.md section 5.7;
 * tensorflow/core/util/saved_tensor_slice.proto, tensor_slice_writer.h).
 *
 * A V1 checkpoint (tf.train.Saver(write_version=V1), TF < 1.x files named
 * model.ckpt-1000 or model.ckpt-00000-of-00002) is one table whose values
 * are SavedTensorSlices: the "" key holds the meta (every tensor's name,
 * shape, type and slices), every other key (EncodeTensorNameSlice) one
 * SavedSlice {name, slice, data: TensorProto with typed values}.
 *
 * The values live inside (possibly snappy-compressed) table blocks, so
 * they cannot be read in place: they are decoded at mount into memory,
 * one buffer per tensor with its slices put back together, up to
 * TF_V1_MAX_BYTES in all (a larger checkpoint is refused with a message
 * saying so). Names are TF1 variable names: tensors/<name>, layers/,
 * Adam/Momentum slots under optimizer/state/ as for V2 name-based
 * checkpoints. One shard of a sharded V1 checkpoint shows its tensors.
 *
 * Bid: the table magic (64 bits) on a file not named *.index (60: below
 * the V2 .index at 80). */
#include "readers/common.h"
#include "readers/reader.h"
#include "readers/tf_build.h"
#include "readers/tf_dtype.h"
#include "readers/tf_table.h"
#include "readers/tf_text.h"
#include "readers/tf_tproto.h"
#include "core/log.h"
#include "tf_checkpoint_v1.pb-c.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TF_V1_MAX_BYTES (1ull << 30)

struct v1_tensor {
    char *name;
    int dtype;
    int ndim;
    uint64_t shape[32];
    uint64_t nelems, nbytes;
    unsigned char *buf;       /* numeric values (canonical bytes) */
    struct tf_strings str;    /* DT_STRING values */
    int have_str;
    uint64_t filled;          /* elements written by slices */
};

struct v1_state {
    mfs_src *src;
    struct v1_tensor *t;
    size_t n;
    uint64_t total;
    int version_producer;
    int warn;
};

static int v1_bid(const struct mfs_probe *p, int best)
{
    if (best >= 60 || !p->src || mfs_has_suffix(p->path, ".index")) return -1;
    return tf_table_tail_ok(p->tail, p->tail_len) ? 60 : -1;
}

static struct v1_tensor *find(struct v1_state *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name)) return &s->t[i];
    return NULL;
}

/* Meta: the tensors, their shapes and types; buffers allocated. */
static int load_meta(struct v1_state *s, const Tfpb__SavedTensorSliceMeta *m, mfs_err *e)
{
    MFS_CHECK(m->n_tensor <= 1000000, e, MFS_FATAL, EINVAL, -1, "%zu tensors in the meta", m->n_tensor);
    s->t = calloc(m->n_tensor ? m->n_tensor : 1, sizeof *s->t);
    if (!s->t) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (m->versions) s->version_producer = m->versions->producer;
    for (size_t i = 0; i < m->n_tensor; i++) {
        const Tfpb__SavedSliceMeta *sm = m->tensor[i];
        struct v1_tensor *t = &s->t[s->n];
        MFS_CHECK(sm->name && sm->shape && sm->shape->n_dim <= 32, e, MFS_FATAL, EINVAL, -1,
                  "tensor %zu of the meta has no name or shape", i);
        t->name = strdup(sm->name);
        if (!t->name) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        s->n++;
        t->dtype = sm->type;
        t->ndim = (int)sm->shape->n_dim;
        t->nelems = 1;
        for (int d = 0; d < t->ndim; d++) {
            int64_t x = sm->shape->dim[d]->size;
            MFS_CHECK(x >= 0 && (!x || t->nelems <= UINT64_MAX / (uint64_t)x), e, MFS_FATAL, EINVAL,
                      -1, "tensor '%s': bad dimension %lld", t->name, (long long)x);
            t->shape[d] = (uint64_t)x;
            t->nelems *= (uint64_t)x;
        }
        mfs_dtype dt = tf_dtype_to_mfs(t->dtype);
        if (dt == MFS_DT_INVALID) continue; /* strings and others: no buffer */
        t->nbytes = mfs_dtype_nbytes(dt, t->nelems);
        MFS_CHECK(t->nbytes != UINT64_MAX && s->total + t->nbytes <= TF_V1_MAX_BYTES, e, MFS_FATAL,
                  EFBIG, -1, "V1 checkpoints are decoded into memory, up to %llu bytes; this one "
                  "holds more", (unsigned long long)TF_V1_MAX_BYTES);
        s->total += t->nbytes;
        t->buf = calloc(1, t->nbytes ? (size_t)t->nbytes : 1);
        if (!t->buf) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    return MFS_OK;
}

/* Copies a slice's C-order values into the full tensor. */
static void put_slice(struct v1_tensor *t, const uint64_t *start, const uint64_t *len, unsigned isz,
                      const unsigned char *src)
{
    uint64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= len[d];
    if (!n) return;
    uint64_t row = t->ndim ? len[t->ndim - 1] : 1, idx[32] = {0};
    for (uint64_t done = 0; done < n; done += row) {
        uint64_t off = 0;
        for (int d = 0; d < t->ndim; d++) off = off * t->shape[d] + start[d] + idx[d];
        memcpy(t->buf + off * isz, src + done * isz, (size_t)(row * isz));
        for (int d = t->ndim - 2; d >= 0; d--) { /* next row */
            if (++idx[d] < len[d]) break;
            idx[d] = 0;
        }
    }
    t->filled += n;
}

static int load_slice(struct v1_state *s, const Tfpb__SavedSlice *sl, mfs_err *e)
{
    struct v1_tensor *t = sl->name ? find(s, sl->name) : NULL;
    MFS_CHECK(t, e, MFS_FATAL, EINVAL, -1, "a slice names tensor '%s', absent from the meta",
              sl->name ? sl->name : "");
    if (!sl->data) return MFS_OK;
    size_t plen = tfpb__tensor_proto__get_packed_size(sl->data);
    unsigned char *pb = malloc(plen ? plen : 1);
    if (!pb) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    tfpb__tensor_proto__pack(sl->data, pb);
    struct tf_tproto tp;
    int rc = tf_tproto_scan(pb, plen, &tp, e);
    if (!tp.dtype) tp.dtype = t->dtype;
    uint64_t start[32], len[32], n = 1;
    for (int d = 0; rc == MFS_OK && d < t->ndim; d++) {
        const Tfpb__TensorSliceProto__Extent *x =
            sl->slice && (size_t)d < sl->slice->n_extent ? sl->slice->extent[d] : NULL;
        start[d] = x && x->has_length ? (uint64_t)x->start : 0;
        len[d] = x && x->has_length ? (uint64_t)x->length : t->shape[d];
        if (start[d] > t->shape[d] || len[d] > t->shape[d] - start[d])
            rc = mfs_err_set(e, MFS_FATAL, EINVAL, -1, "tensor '%s': slice outside the shape", t->name);
        n *= len[d];
    }
    if (rc == MFS_OK && t->dtype == TF_DT_STRING) {
        tp.nelems = n;
        if (!t->have_str && tf_tproto_strings(&tp, &t->str, e) == MFS_OK) t->have_str = 1;
        else rc = t->have_str ? MFS_OK : MFS_FATAL;
    } else if (rc == MFS_OK && t->buf) {
        mfs_dtype dt = tf_dtype_to_mfs(t->dtype);
        unsigned isz = mfs_dtype_get(dt)->itemsize;
        unsigned char *vals = malloc(n * isz > 0 ? (size_t)(n * isz) : 1);
        if (!vals) rc = mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        else if ((rc = tf_tproto_values(&tp, dt, vals, n * isz, e)) == MFS_OK)
            put_slice(t, start, len, isz, vals);
        free(vals);
    }
    free(pb);
    if (rc != MFS_OK) {
        mfs_err_prefix(e, "tensor '%s'", t->name);
        e->status = MFS_FATAL;
        return MFS_FATAL;
    }
    return MFS_OK;
}

struct walk {
    struct v1_state *s;
    int have_meta;
};

static int visit(void *ctx, const unsigned char *key, size_t klen, const unsigned char *val,
                 size_t vlen, const struct tf_table_pos *pos, mfs_err *e)
{
    struct walk *w = ctx;
    Tfpb__SavedTensorSlices *sts = tfpb__saved_tensor_slices__unpack(NULL, vlen, val);
    MFS_CHECK(sts, e, MFS_FATAL, EINVAL, (int64_t)pos->block_off,
              "entry %s does not decode as SavedTensorSlices: not a V1 checkpoint",
              klen ? "of a tensor slice" : "\"\" (the meta)");
    int rc = MFS_OK;
    if (!w->have_meta) {
        if (klen != 0 || !sts->meta)
            rc = mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)pos->block_off,
                             "the first entry is not the V1 checkpoint meta: not a V1 checkpoint");
        else
            rc = load_meta(w->s, sts->meta, e);
        w->have_meta = 1;
    } else if (sts->data) {
        rc = load_slice(w->s, sts->data, e);
    }
    tfpb__saved_tensor_slices__free_unpacked(sts, NULL);
    return rc;
}

static int v1_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    struct v1_state *s = calloc(1, sizeof *s);
    *state = s;
    if (!s) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    s->src = mfs_src_ref(p->src);
    tf_table *t = NULL;
    struct walk w = {s, 0};
    int rc = tf_table_open(p->src, &t, e);
    if (rc == MFS_OK) rc = tf_table_foreach(t, visit, &w, e);
    tf_table_free(t);
    MFS_FORWARD(rc);
    MFS_CHECK(w.have_meta, e, MFS_FATAL, EINVAL, -1, "empty table: not a V1 checkpoint");
    return MFS_OK;
}

static int is_var(void *ctx, const char *k, size_t n)
{
    struct v1_state *s = ctx;
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->t[i].name) == n && !memcmp(s->t[i].name, k, n)) return 1;
    return 0;
}

static int v1_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct v1_state *s = state;
    int warn = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct v1_tensor *v = &s->t[i];
        if (v->have_str) {
            uint32_t d = mfs_tree_mkdir(t, mfs_tree_top(t, MFS_TOP_TENSORS), v->name);
            json_t *info = json_object();
            json_object_set_new(info, "dtype", json_string("string"));
            json_object_set_new(info, "name", tf_json_bytes(v->name, strlen(v->name)));
            int rc = d ? tf_add_string_dir(t, d, v->ndim, v->shape, &v->str, v->name, info, e)
                       : mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            json_decref(info);
            MFS_FORWARD(rc);
            continue;
        }
        if (!v->buf) {
            char nb[16];
            mfs_log("V1 checkpoint: tensor '%s' of type %s is not shown", v->name,
                    tf_dtype_name(v->dtype, nb));
            warn = 1;
            continue;
        }
        if (v->filled != v->nelems) {
            mfs_log("V1 checkpoint: tensor '%s': slices fill %llu of %llu elements (the rest shows 0)",
                    v->name, (unsigned long long)v->filled, (unsigned long long)v->nelems);
            warn = 1;
        }
        mfs_tensor *tn = mfs_tree_tensor_new(t);
        if (!tn) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        tn->dtype = tf_dtype_to_mfs(v->dtype);
        MFS_FORWARD(mfs_tensor_set_shape(tn, v->ndim, v->shape, e));
        mfs_src *m = mfs_src_new_mem(v->buf, (size_t)v->nbytes, 0, s->src->path);
        if (!m) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        int rc = mfs_tensor_set_plain(tn, m, 0, 0, e);
        mfs_src_unref(m);
        MFS_FORWARD(rc);
        tn->compression = "decoded from V1 checkpoint TensorProto values";
        tn->info = json_object();
        json_object_set_new(tn->info, "name", tf_json_bytes(v->name, strlen(v->name)));
        json_object_set_new(tn->info, "tf_dtype", json_integer(v->dtype));
        MFS_FORWARD(tf_place_named(t, v->name, tn, is_var, s, e));
    }
    uint32_t md = mfs_tree_top(t, MFS_TOP_METADATA);
    if (!md || !mfs_tree_add_textf(t, md, "checkpoint_format",
                                   "TensorFlow V1 checkpoint (SavedTensorSlices table)\n"))
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (s->version_producer) mfs_tree_add_textf(t, md, "version_producer", "%d\n", s->version_producer);
    return warn ? MFS_WARN : MFS_OK;
}

static void v1_close(void *state)
{
    struct v1_state *s = state;
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->t[i].name);
        free(s->t[i].buf);
        tf_strings_free(&s->t[i].str);
    }
    free(s->t);
    mfs_src_unref(s->src);
    free(s);
}

const struct mfs_reader mfs_reader_tf_checkpoint_v1 = {
    .name = "tf-checkpoint-v1",
    .description = "TensorFlow V1 checkpoint (SavedTensorSlices table, tf.train.Saver V1)",
    .flags = 0,
    .bid = v1_bid,
    .open = v1_open,
    .build = v1_build,
    .close = v1_close,
};
