/* tf_tproto.h: TensorProto values (constants of frozen GraphDefs, V1
 * checkpoint slices) (private to src/).
 *
 * A TensorProto holds its values either as raw little-endian bytes
 * (tensor_content) or in a typed repeated field (float_val, int_val ...),
 * where fewer values than elements mean "repeat the last one" (TF's
 * splat encoding) and none means zeros. tf_tproto_scan() locates the
 * parts without copying, so that tensor_content can be served straight
 * from the file; tf_tproto_values() expands the typed form. */
#ifndef MFS_TF_TPROTO_H
#define MFS_TF_TPROTO_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "readers/tf_bundle.h"

struct tf_tproto {
    int dtype;                     /* TF DataType */
    int ndim;
    uint64_t shape[32];
    uint64_t nelems;
    int has_shape;
    const unsigned char *content;  /* tensor_content, or NULL */
    size_t content_len;
    const unsigned char *pb;       /* the whole TensorProto */
    size_t pb_len;
};

/** tf_tproto_scan() : locates dtype, shape and tensor_content of the
 *  TensorProto at @pb (@len bytes; pointers stay inside it). @return
 *  MFS_OK or MFS_FAILED with @e set (malformed, bad shape). */
int tf_tproto_scan(const unsigned char *pb, size_t len, struct tf_tproto *out, mfs_err *e);

/** tf_tproto_values() : the canonical bytes of @tp (@nbytes = nelems x
 *  itemsize of the element type @dt) into @out: tensor_content checked
 *  and copied, or the typed values expanded (splat, zeros). @return
 *  MFS_OK or MFS_FAILED with @e set (count or size mismatch, type not
 *  numeric, does not decode). */
int tf_tproto_values(const struct tf_tproto *tp, mfs_dtype dt, unsigned char *out, uint64_t nbytes,
                     mfs_err *e);

/** tf_tproto_strings() : the string_val of a DT_STRING TensorProto as
 *  tf_strings (crc_ok = 1), splat applied. @return MFS_OK or MFS_FAILED. */
int tf_tproto_strings(const struct tf_tproto *tp, struct tf_strings *out, mfs_err *e);
#endif
