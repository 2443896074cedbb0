/* v_values.c: the `values` text view.
 *
 * One line per row of the last dimension (a scalar is one row of one),
 * every element right-aligned in the dtype's fixed width W (dtype.c) and
 * followed by ' ' or, at the end of a row, '\n'. So each element takes
 * exactly W+1 bytes, the size is nelems*(W+1), and byte offset o lies in
 * element o/(W+1): a read of [a,b) decodes only the elements it shows,
 * which is what lets `head values` answer at once on a 4 GiB tensor.
 * Types without per-element numbers (quantized blocks, fnuz float8) show a
 * one-line note instead. */
#include "views/view.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 65536 /* elements decoded per step */

static const char *opaque_note(const mfs_tensor *t, char *buf, size_t n)
{
    snprintf(buf, n, "values are not shown for %s tensors (see data)\n",
             mfs_dtype_get(t->dtype)->name);
    return buf;
}

uint64_t mfs_values_size(const mfs_tensor *t)
{
    const struct mfs_dtype_info *in = mfs_dtype_get(t->dtype);
    if (in->kind == MFS_DK_OPAQUE || in->values_width == 0) {
        char b[160];
        return strlen(opaque_note(t, b, sizeof b));
    }
    return t->nelems * (uint64_t)(in->values_width + 1);
}

int64_t mfs_values_read(const mfs_tensor *t, uint64_t off, void *buf, size_t len, mfs_err *e)
{
    const struct mfs_dtype_info *in = mfs_dtype_get(t->dtype);
    if (in->kind == MFS_DK_OPAQUE || in->values_width == 0) {
        char b[160];
        opaque_note(t, b, sizeof b);
        return mfs_copy_range(b, strlen(b), off, buf, len);
    }
    uint64_t size = mfs_values_size(t);
    if (off >= size) return 0;
    if (len > size - off) len = (size_t)(size - off);
    unsigned w = in->values_width, cell = w + 1, isz = in->itemsize;
    uint64_t cols = t->ndim ? t->shape[t->ndim - 1] : 1;
    uint64_t e0 = off / cell, e1 = (off + len - 1) / cell; /* inclusive */
    size_t batch = (size_t)(e1 - e0 + 1 < BATCH ? e1 - e0 + 1 : BATCH); /* small reads, small buffers */
    unsigned char *raw = malloc(batch * isz);
    char *txt = malloc(batch * cell);
    if (!raw || !txt) {
        free(raw);
        free(txt);
        return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory"), -1;
    }
    size_t done = 0;
    for (uint64_t el = e0; el <= e1;) {
        size_t n = (size_t)(e1 - el + 1 < batch ? e1 - el + 1 : batch);
        if (mfs_tensor_read(t, el * isz, raw, n * isz, e) != (int64_t)(n * isz)) {
            free(raw);
            free(txt);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            mfs_dtype_format(t->dtype, raw + i * isz, txt + i * cell);
            txt[i * cell + w] = ((el + i) % cols == cols - 1) ? '\n' : ' ';
        }
        uint64_t base = el * cell; /* text offset of txt[0] */
        uint64_t from = off + done;
        size_t skip = (size_t)(from - base);
        size_t take = n * cell - skip;
        if (take > len - done) take = len - done;
        memcpy((char *)buf + done, txt + skip, take);
        done += take;
        el += n;
    }
    free(raw);
    free(txt);
    return (int64_t)done;
}
