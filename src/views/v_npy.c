/* v_npy.c: the header of data.npy (numpy/lib/format.py): magic, version,
 * header length, then the dict literal padded with spaces and '\n' so the
 * data starts at a multiple of 64 bytes (what numpy writes, and what makes
 * numpy.load(..., mmap_mode='r') map it). Version 1.0 unless the header
 * exceeds 65535 bytes (then 2.0, a 4-byte length). Types numpy lacks are
 * written as raw void of the same size (bfloat16 -> "<V2"); block-quantized
 * tensors as their raw bytes (uint8, shape [nbytes]). */
#include "views/view.h"
#include <stdio.h>
#include <string.h>

size_t mfs_npy_header(const mfs_tensor *t, char *buf, size_t n)
{
    const struct mfs_dtype_info *in = mfs_dtype_get(t->dtype);
    char dict[3072];
    int len;
    if (in->block > 1) {
        len = snprintf(dict, sizeof dict, "{'descr': '|u1', 'fortran_order': False, 'shape': (%llu,), }",
                       (unsigned long long)t->nbytes);
    } else {
        char shape[2048];
        size_t k = 0;
        shape[k++] = '(';
        for (int i = 0; i < t->ndim && k < sizeof shape - 32; i++)
            k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%llu", i ? ", " : "",
                                  (unsigned long long)t->shape[i]);
        if (t->ndim == 1) shape[k++] = ',';
        shape[k++] = ')';
        shape[k] = 0;
        len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                       in->npy_descr, shape);
    }
    size_t pre = 10; /* magic 6 + version 2 + u16 length */
    size_t total = pre + (size_t)len + 1;
    total = (total + 63) & ~(size_t)63;
    size_t hlen = total - pre;
    int v2 = hlen > 65535;
    if (v2) {
        pre = 12;
        total = ((pre + (size_t)len + 1) + 63) & ~(size_t)63;
        hlen = total - pre;
    }
    if (total > n) return total;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = v2 ? 2 : 1;
    buf[7] = 0;
    if (v2) {
        for (int i = 0; i < 4; i++) buf[8 + i] = (char)((hlen >> (8 * i)) & 0xff);
    } else {
        buf[8] = (char)(hlen & 0xff);
        buf[9] = (char)(hlen >> 8);
    }
    memcpy(buf + pre, dict, (size_t)len);
    memset(buf + pre + len, ' ', total - pre - (size_t)len - 1);
    buf[total - 1] = '\n';
    return total;
}
