/* tf_tproto.c: TensorProto values (see tf_tproto.h). Field numbers from
 * tensorflow/core/framework/tensor.proto (FORMATS.md section 4.2). */
#include "readers/tf_tproto.h"
#include "readers/tf_dtype.h"
#include "readers/tf_pb.h"
#include "tf_types.pb-c.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int tf_tproto_scan(const unsigned char *pb, size_t len, struct tf_tproto *out, mfs_err *e)
{
    memset(out, 0, sizeof *out);
    out->pb = pb;
    out->pb_len = len;
    out->nelems = 1;
    const unsigned char *p = pb, *end = pb + len;
    struct tf_pb_field f;
    int r;
    while ((r = tf_pb_next(&p, end, &f)) > 0) {
        if (f.num == 1 && f.wt == 0) {
            out->dtype = (int)f.v;
        } else if (f.num == 2 && f.wt == 2) {
            Tfpb__TensorShapeProto *s = tfpb__tensor_shape_proto__unpack(NULL, f.len, f.data);
            MFS_CHECK(s, e, MFS_FAILED, EINVAL, -1, "TensorProto: tensor_shape does not decode");
            int ok = s->n_dim <= 32 && !(s->has_unknown_rank && s->unknown_rank);
            uint64_t n = 1;
            for (size_t i = 0; ok && i < s->n_dim; i++) {
                int64_t d = s->dim[i]->size;
                ok = d >= 0 && (!d || n <= UINT64_MAX / (uint64_t)d);
                if (ok) {
                    out->shape[i] = (uint64_t)d;
                    n *= (uint64_t)d;
                }
            }
            out->ndim = ok ? (int)s->n_dim : 0;
            tfpb__tensor_shape_proto__free_unpacked(s, NULL);
            MFS_CHECK(ok, e, MFS_FAILED, EINVAL, -1, "TensorProto: invalid or unknown shape");
            out->nelems = n;
            out->has_shape = 1;
        } else if (f.num == 4 && f.wt == 2) {
            out->content = f.data;
            out->content_len = f.len;
        }
    }
    MFS_CHECK(r == 0, e, MFS_FAILED, EINVAL, -1, "TensorProto is malformed");
    return MFS_OK;
}

/* Element @j of the typed values of @t as little-endian bytes of width
 * @isz into @o. */
static void typed_elem(const Tfpb__TensorProto *t, int dtype, size_t j, unsigned isz, unsigned char *o)
{
    int b = dtype > 100 ? dtype - 100 : dtype;
    uint64_t u = 0;
    switch (b) {
    case 1: memcpy(o, &t->float_val[j], 4); return;
    case 2: memcpy(o, &t->double_val[j], 8); return;
    case 8: memcpy(o, &t->scomplex_val[2 * j], 8); return;
    case 18: memcpy(o, &t->dcomplex_val[2 * j], 16); return;
    case 9: u = (uint64_t)t->int64_val[j]; break;
    case 10: u = t->bool_val[j] ? 1 : 0; break;
    case 14: case 19: u = (uint64_t)(uint32_t)t->half_val[j]; break;
    case 22: u = t->uint32_val[j]; break;
    case 23: u = t->uint64_val[j]; break;
    default: u = (uint64_t)(int64_t)t->int_val[j]; break;
    }
    for (unsigned k = 0; k < isz; k++) o[k] = (unsigned char)(u >> (8 * k));
}

static size_t typed_count(const Tfpb__TensorProto *t, int dtype, int *ok)
{
    int b = dtype > 100 ? dtype - 100 : dtype;
    *ok = 1;
    switch (b) {
    case 1: return t->n_float_val;
    case 2: return t->n_double_val;
    case 8: return t->n_scomplex_val / 2;
    case 18: return t->n_dcomplex_val / 2;
    case 9: return t->n_int64_val;
    case 10: return t->n_bool_val;
    case 14: case 19: return t->n_half_val;
    case 22: return t->n_uint32_val;
    case 23: return t->n_uint64_val;
    case 3: case 4: case 5: case 6: case 11: case 12: case 13: case 15: case 16: case 17:
        return t->n_int_val;
    default:
        *ok = 0;
        return 0;
    }
}

int tf_tproto_values(const struct tf_tproto *tp, mfs_dtype dt, unsigned char *out, uint64_t nbytes,
                     mfs_err *e)
{
    unsigned isz = mfs_dtype_get(dt)->itemsize;
    if (tp->content) {
        MFS_CHECK(tp->content_len == nbytes, e, MFS_FAILED, EINVAL, -1,
                  "TensorProto: tensor_content has %zu bytes, the shape needs %llu", tp->content_len,
                  (unsigned long long)nbytes);
        memcpy(out, tp->content, tp->content_len);
        return MFS_OK;
    }
    Tfpb__TensorProto *t = tfpb__tensor_proto__unpack(NULL, tp->pb_len, tp->pb);
    MFS_CHECK(t, e, MFS_FAILED, EINVAL, -1, "TensorProto does not decode");
    int ok;
    size_t n = typed_count(t, tp->dtype, &ok);
    uint64_t nel = nbytes / isz;
    int rc = MFS_OK;
    if (!ok)
        rc = mfs_err_set(e, MFS_FAILED, EINVAL, -1, "TensorProto: no typed values for DataType %d",
                         tp->dtype);
    else if (n > nel)
        rc = mfs_err_set(e, MFS_FAILED, EINVAL, -1, "TensorProto: %zu values for %llu elements", n,
                         (unsigned long long)nel);
    if (rc == MFS_OK) {
        if (n == 0) {
            memset(out, 0, (size_t)nbytes);
        } else {
            for (size_t j = 0; j < n; j++) typed_elem(t, tp->dtype, j, isz, out + j * isz);
            for (uint64_t j = n; j < nel; j++) memcpy(out + j * isz, out + (n - 1) * isz, isz);
        }
    }
    tfpb__tensor_proto__free_unpacked(t, NULL);
    return rc;
}

int tf_tproto_strings(const struct tf_tproto *tp, struct tf_strings *out, mfs_err *e)
{
    memset(out, 0, sizeof *out);
    Tfpb__TensorProto *t = tfpb__tensor_proto__unpack(NULL, tp->pb_len, tp->pb);
    MFS_CHECK(t, e, MFS_FAILED, EINVAL, -1, "TensorProto does not decode");
    int rc = MFS_OK;
    size_t n = t->n_string_val;
    uint64_t nel = tp->nelems, total = 0;
    if (n > nel || nel > 10000000 || (n == 0 && nel))
        rc = mfs_err_set(e, MFS_FAILED, EINVAL, -1, "TensorProto: %zu strings for %llu elements", n,
                         (unsigned long long)nel);
    for (size_t j = 0; rc == MFS_OK && j < n; j++) total += t->string_val[j].len;
    if (rc == MFS_OK && n && n < nel) total += (nel - n) * t->string_val[n - 1].len;
    if (rc == MFS_OK && total > TF_MAX_STRING_TENSOR)
        rc = mfs_err_set(e, MFS_FAILED, EFBIG, -1, "TensorProto: %llu string bytes",
                         (unsigned long long)total);
    if (rc == MFS_OK) {
        out->n = (size_t)nel;
        out->buf = malloc(total ? (size_t)total : 1);
        out->off = calloc(out->n ? out->n : 1, sizeof *out->off);
        out->len = calloc(out->n ? out->n : 1, sizeof *out->len);
        out->crc_ok = 1;
        if (!out->buf || !out->off || !out->len) {
            tf_strings_free(out);
            rc = mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        } else {
            uint64_t o = 0;
            for (size_t j = 0; j < out->n; j++) {
                const ProtobufCBinaryData *s = &t->string_val[j < n ? j : n - 1];
                if (s->len) memcpy(out->buf + o, s->data, s->len);
                out->off[j] = o;
                out->len[j] = s->len;
                o += s->len;
            }
        }
    }
    tfpb__tensor_proto__free_unpacked(t, NULL);
    return rc;
}
