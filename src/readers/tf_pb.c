/* tf_pb.c: protobuf wire-format walker (see tf_pb.h). */
#include "readers/tf_pb.h"
#include <string.h>

int tf_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    const unsigned char *q = *p;
    uint64_t r = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (q >= end) return -1;
        unsigned char c = *q++;
        r |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = r;
            *p = q;
            return 0;
        }
    }
    return -1;
}

int tf_pb_next(const unsigned char **p, const unsigned char *end, struct tf_pb_field *f)
{
    const unsigned char *q = *p;
    if (q >= end) return 0;
    uint64_t tag;
    if (tf_varint(&q, end, &tag) < 0) return -1;
    if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return -1;
    memset(f, 0, sizeof *f);
    f->num = (uint32_t)(tag >> 3);
    f->wt = (int)(tag & 7);
    switch (f->wt) {
    case 0:
        if (tf_varint(&q, end, &f->v) < 0) return -1;
        break;
    case 1:
        if (end - q < 8) return -1;
        for (int i = 7; i >= 0; i--) f->v = f->v << 8 | q[i];
        q += 8;
        break;
    case 5:
        if (end - q < 4) return -1;
        f->v = (uint64_t)q[0] | (uint64_t)q[1] << 8 | (uint64_t)q[2] << 16 | (uint64_t)q[3] << 24;
        q += 4;
        break;
    case 2: {
        uint64_t len;
        if (tf_varint(&q, end, &len) < 0 || len > (uint64_t)(end - q)) return -1;
        f->data = q;
        f->len = (size_t)len;
        q += len;
        break;
    }
    default:
        return -1;
    }
    *p = q;
    return 1;
}
