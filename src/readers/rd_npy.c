/* rd_npy.c: the NumPy .npy reader (one array per file).
 *
 * A .npy holds one array: it becomes the single model tensor
 * tensors/<file stem> (weights.npy -> tensors/weights). C-order
 * little-endian data is served straight from the file (PLAIN);
 * big-endian data is byte-swapped on read (BYTESWAP); Fortran-order data
 * is a STRIDED view with reversed strides, so `data` is always C-order
 * little-endian. metadata/ holds npy_version, descr and fortran_order;
 * raw/ the header dict and the data bytes exactly as stored. Header
 * parsing lives in npy_header.c, shared with the npz reader. */
#include "readers/npy_header.h"
#include "readers/reader.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct npy_state {
    mfs_src *src;   /* referenced */
    char *stem;     /* the tensor's name */
    struct mfs_npy_header h;
};

/* The bid: the 6-byte magic (48 bits) plus a known version, major 1..3
 * and minor 0 (about 16 bits more). */
#define NPY_BID 64

static int npy_bid(const struct mfs_probe *p, int best_bid)
{
    if (best_bid >= NPY_BID || p->head_len < 10) return -1;
    if (memcmp(p->head, MFS_NPY_MAGIC, MFS_NPY_MAGIC_LEN) != 0) return -1;
    if (p->head[6] < 1 || p->head[6] > 3 || p->head[7] != 0) return 48;
    return NPY_BID;
}

/* The file name without directories and without a ".npy" suffix;
 * "array" when nothing is left. Caller frees; NULL on OOM. */
static char *file_stem(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 4 && strcasecmp(b + n - 4, ".npy") == 0) n -= 4;
    if (n == 0) return strdup("array");
    return strndup(b, n);
}

static void npy_close(void *state)
{
    struct npy_state *s = state;
    if (!s) return;
    mfs_src_unref(s->src);
    free(s->stem);
    free(s);
}

static int npy_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    MFS_CHECK(p->src, e, MFS_FATAL, EINVAL, -1, "npy: not a regular file");
    struct npy_state *s = calloc(1, sizeof *s);
    MFS_CHECK(s, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    *state = s;
    s->src = mfs_src_ref(p->src);
    s->stem = file_stem(p->path);
    MFS_CHECK(s->stem, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    return mfs_npy_read_header(p->src, 0, p->size, &s->h, e);
}

static int npy_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct npy_state *s = state;
    const struct mfs_npy_header *h = &s->h;
    mfs_tensor *tn = mfs_tree_tensor_new(t);
    MFS_CHECK(tn, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    MFS_FORWARD(mfs_npy_tensor_init(t, tn, h, s->src, 0, e));
    tn->info = mfs_npy_info_json(h);
    MFS_CHECK(mfs_tree_add_model_tensor(t, s->stem, tn), e, MFS_FATAL, ENOMEM, -1, "out of memory");

    uint32_t md = mfs_tree_top(t, MFS_TOP_METADATA), raw = mfs_tree_top(t, MFS_TOP_RAW);
    int ok = md && raw;
    ok = ok && mfs_tree_add_textf(t, md, "npy_version", "%d.%d\n", h->major, h->minor);
    ok = ok && mfs_tree_add_textf(t, md, "descr", "%s\n", h->descr);
    ok = ok && mfs_tree_add_textf(t, md, "fortran_order", "%s\n", h->fortran ? "true" : "false");
    ok = ok && mfs_tree_add_src_range(t, raw, "header", s->src, h->data_offset - h->header_len,
                                      h->header_len);
    ok = ok && mfs_tree_add_src_range(t, raw, "data", s->src, h->data_offset, h->nbytes);
    MFS_CHECK(ok, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    return MFS_OK;
}

const struct mfs_reader mfs_reader_npy = {
    .name = "npy",
    .description = "NumPy .npy array (numpy.save; format versions 1.0, 2.0, 3.0)",
    .flags = 0,
    .bid = npy_bid,
    .open = npy_open,
    .build = npy_build,
    .close = npy_close,
};
