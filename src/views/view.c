/* view.c: dispatch from a view file to its producer, and the small text
 * views (dtype, shape, info.json) made on demand. */
#include "views/view.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t mfs_copy_range(const void *src, size_t n, uint64_t off, void *buf, size_t len)
{
    if (off >= n) return 0;
    if (len > n - off) len = (size_t)(n - off);
    memcpy(buf, (const char *)src + off, len);
    return (int64_t)len;
}

/* The text of a small view (dtype, shape, info.json), malloc'd. With
 * @sizing only its length matters (info.json's reader hook may then skip
 * work, see tensor.h info_fn). */
static char *small_text(const mfs_tensor *t, enum mfs_view v, size_t *len, int sizing)
{
    char *s = NULL;
    if (v == MFS_V_DTYPE) {
        if (asprintf(&s, "%s\n", mfs_dtype_get(t->dtype)->name) < 0) s = NULL;
    } else if (v == MFS_V_SHAPE) {
        size_t n = mfs_tensor_shape_str(t, NULL, 0);
        s = malloc(n + 2);
        if (s) {
            mfs_tensor_shape_str(t, s, n + 1);
            s[n] = '\n';
            s[n + 1] = 0;
        }
    } else {
        json_t *o = mfs_tensor_info_json_sized(t, sizing);
        char *j = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (j && asprintf(&s, "%s\n", j) < 0) s = NULL;
        free(j);
    }
    *len = s ? strlen(s) : 0;
    return s;
}

uint64_t mfs_view_size(mfs_tree *t, const struct mfs_node *n)
{
    const mfs_tensor *x = n->tensor;
    char hdr[256];
    switch ((enum mfs_view)n->view) {
    case MFS_V_DATA: return x->nbytes;
    case MFS_V_NPY: return mfs_npy_header(x, hdr, sizeof hdr) + x->nbytes;
    case MFS_V_VALUES: return mfs_values_size(x);
    case MFS_V_STATS: return mfs_stats_size(x);
    case MFS_V_SUMS: return mfs_sums_size(t);
    default: {
        size_t len;
        free(small_text(x, (enum mfs_view)n->view, &len, 1));
        return len;
    }
    }
}

int64_t mfs_view_read(mfs_tree *t, const struct mfs_node *n, uint64_t off, void *buf, size_t len,
                      mfs_err *e)
{
    mfs_tensor *x = n->tensor;
    switch ((enum mfs_view)n->view) {
    case MFS_V_DATA: return mfs_tensor_read(x, off, buf, len, e);
    case MFS_V_NPY: {
        char hdr[4096];
        size_t h = mfs_npy_header(x, hdr, sizeof hdr);
        if (h > sizeof hdr) return mfs_err_set(e, MFS_FAILED, EIO, -1, "npy header too long"), -1;
        int64_t got = 0;
        if (off < h) {
            got = mfs_copy_range(hdr, h, off, buf, len);
            if ((size_t)got == len) return got;
        }
        uint64_t doff = off + (uint64_t)got - h;
        int64_t r = mfs_tensor_read(x, doff, (char *)buf + got, len - (size_t)got, e);
        return r < 0 ? -1 : got + r;
    }
    case MFS_V_VALUES: return mfs_values_read(x, off, buf, len, e);
    case MFS_V_STATS: return mfs_stats_read(x, off, buf, len, e);
    case MFS_V_SUMS: return mfs_sums_read(t, off, buf, len, e);
    default: {
        size_t n2;
        char *s = small_text(x, (enum mfs_view)n->view, &n2, 0);
        if (!s) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory"), -1;
        int64_t r = mfs_copy_range(s, n2, off, buf, len);
        free(s);
        return r;
    }
    }
}
