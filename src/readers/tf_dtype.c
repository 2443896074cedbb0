/* tf_dtype.c: TensorFlow DataType codes (tensorflow/core/framework/
 * types.proto, FORMATS.md section 4.3) and shapes. */
#include "readers/tf_dtype.h"
#include "tf_types.pb-c.h"
#include <stdio.h>
#include <string.h>

static const mfs_dtype by_code[] = {
    [1] = MFS_DT_F32,           [2] = MFS_DT_F64,         [3] = MFS_DT_I32,
    [4] = MFS_DT_U8,            [5] = MFS_DT_I16,         [6] = MFS_DT_I8,
    [8] = MFS_DT_C64,           [9] = MFS_DT_I64,         [10] = MFS_DT_BOOL,
    [11] = MFS_DT_QINT8,        [12] = MFS_DT_QUINT8,     [13] = MFS_DT_QINT32,
    [14] = MFS_DT_BF16,         [15] = MFS_DT_I16,        [16] = MFS_DT_U16,
    [17] = MFS_DT_U16,          [18] = MFS_DT_C128,       [19] = MFS_DT_F16,
    [22] = MFS_DT_U32,          [23] = MFS_DT_U64,        [24] = MFS_DT_F8_E5M2,
    [25] = MFS_DT_F8_E4M3FN,    [26] = MFS_DT_F8_E4M3FNUZ, [28] = MFS_DT_F8_E5M2FNUZ,
};

/* Codes without an element type of their own in modelfs. */
static const char *const other_names[] = {
    [7] = "string", [15] = "qint16", [16] = "quint16", [20] = "resource", [21] = "variant",
    [27] = "float8_e4m3b11fnuz", [29] = "int4", [30] = "uint4", [31] = "int2", [32] = "uint2",
    [33] = "float4_e2m1fn",
};

mfs_dtype tf_dtype_to_mfs(int v)
{
    if (v > 100) v -= 100;
    if (v <= 0 || (size_t)v >= sizeof by_code / sizeof by_code[0]) return MFS_DT_INVALID;
    return by_code[v];
}

const char *tf_dtype_name(int v, char *buf)
{
    int b = v > 100 ? v - 100 : v;
    if (b > 0 && (size_t)b < sizeof other_names / sizeof other_names[0] && other_names[b])
        return other_names[b];
    mfs_dtype d = tf_dtype_to_mfs(v);
    if (d != MFS_DT_INVALID) return mfs_dtype_get(d)->name;
    snprintf(buf, 16, "DT_%d", v);
    return buf;
}

int tf_dtype_ident(void *ctx, const struct ProtobufCFieldDescriptor *f, const char *s, size_t n,
                   int64_t *out)
{
    (void)ctx, (void)f;
    char name[64];
    if (n >= sizeof name) return -1;
    memcpy(name, s, n);
    name[n] = 0;
    int ref = n > 4 && !strcmp(name + n - 4, "_REF");
    if (ref) name[n - 4] = 0;
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(&tfpb__data_type__descriptor, name);
    if (!v || (ref && v->value == 0)) return -1;
    *out = v->value + (ref ? 100 : 0);
    return 0;
}

char *tf_shape_text(const Tfpb__TensorShapeProto *s, char *buf, size_t n)
{
    if (!n) return buf;
    if (!s || (s->has_unknown_rank && s->unknown_rank)) {
        snprintf(buf, n, "unknown");
        return buf;
    }
    size_t len = 0;
    buf[0] = 0;
    len += (size_t)snprintf(buf + len, len < n ? n - len : 0, "[");
    for (size_t i = 0; i < s->n_dim; i++) {
        long long d = s->dim[i]->has_size ? (long long)s->dim[i]->size : -1;
        len += (size_t)snprintf(buf + (len < n ? len : n), len < n ? n - len : 0,
                                i ? ", %lld" : "%lld", d);
    }
    snprintf(buf + (len < n ? len : n), len < n ? n - len : 0, "]");
    return buf;
}
