/* tf_dtype.h: TensorFlow DataType codes (types.proto) and shapes, as
 * modelfs names them (private to src/). */
#ifndef MFS_TF_DTYPE_H
#define MFS_TF_DTYPE_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "core/dtype.h"
#include <stddef.h>
#include <stdint.h>

#define TF_DT_STRING 7
#define TF_DT_RESOURCE 20
#define TF_DT_VARIANT 21

/** tf_dtype_to_mfs() : the element type of TF DataType @v (a *_REF
 *  variant, v + 100, counts as its base type), or MFS_DT_INVALID for
 *  types without fixed-size elements (string, resource, variant) and
 *  unknown codes. */
mfs_dtype tf_dtype_to_mfs(int v);

/** tf_dtype_name() : a stable name for any code: the numpy-style name of
 *  the element type where there is one, else "string", "resource",
 *  "variant", "int4", "uint4" ...; unknown codes give "DT_<n>" in @buf
 *  (at least 16 bytes), which is then returned. */
const char *tf_dtype_name(int v, char *buf);

struct ProtobufCFieldDescriptor;
/** tf_dtype_ident() : the code of DataType name @s (@n bytes: "DT_FLOAT",
 *  "DT_HALF_REF" = base + 100) into *@out, for protobuf text format
 *  (tf_pbtext_opts.ident; @ctx and @f unused). @return 0, or -1 when
 *  @s is no DataType name. */
int tf_dtype_ident(void *ctx, const struct ProtobufCFieldDescriptor *f, const char *s, size_t n,
                   int64_t *out);

struct Tfpb__TensorShapeProto;
/** tf_shape_text() : "[-1, 784]" (unknown dims are -1, as TF writes
 *  them), "[]" for a scalar, "unknown" for an unknown rank or a NULL
 *  shape, into @buf of size @n (truncated). @return @buf. */
char *tf_shape_text(const struct Tfpb__TensorShapeProto *s, char *buf, size_t n);
#endif
