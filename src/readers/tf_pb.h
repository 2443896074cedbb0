/* tf_pb.h: a protobuf wire-format walker and varints (private to src/).
 *
 * protobuf-c decodes whole messages and copies every bytes field. Where a
 * message may hold hundreds of megabytes (a GraphDef's constant tensors,
 * the graph_def inside a SavedModel) the TF readers walk the outer levels
 * field by field with tf_pb_next() instead, keep pointers (file offsets)
 * to the big payloads, and hand only the small sub-messages to protobuf-c.
 * Everything is bounds-checked against the buffer; nothing allocates. */
#ifndef MFS_TF_PB_H
#define MFS_TF_PB_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include <stddef.h>
#include <stdint.h>

/** tf_varint() : decodes a base-128 varint at *@p (< @end) into *@v and
 *  advances *@p. @return 0, or -1 when truncated or longer than 10 bytes
 *  (then *@p is unchanged). */
int tf_varint(const unsigned char **p, const unsigned char *end, uint64_t *v);

/* One field of a message. */
struct tf_pb_field {
    uint32_t num;               /* field number */
    int wt;                     /* wire type: 0 varint, 1 fixed64, 2 bytes, 5 fixed32 */
    uint64_t v;                 /* wt 0, 1, 5: the value */
    const unsigned char *data;  /* wt 2: the payload (inside the buffer) */
    size_t len;                 /* wt 2: its length */
};

/** tf_pb_next() : the next field at *@p (< @end) into @f and advances.
 *  @return 1 for a field, 0 at the end of the buffer, -1 when malformed
 *  (bad tag, group wire types 3/4, length past @end). */
int tf_pb_next(const unsigned char **p, const unsigned char *end, struct tf_pb_field *f);
#endif
