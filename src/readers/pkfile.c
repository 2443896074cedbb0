/* pkfile.c: open and build for single-pickle files (joblib and generic
 * pickles); see pkfile.h. */
#include "readers/pkfile.h"
#include "readers/sklearn.h"
#include "readers/pickle/raw.h"
#include "core/log.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>

/* ---- sniffing ---- */

static int joblib_text(const unsigned char *b, size_t n)
{
    return memmem(b, n, "joblib.numpy_pickle", 19) != NULL || memmem(b, n, "NumpyArrayWrapper", 17) != NULL ||
           memmem(b, n, "NDArrayWrapper", 14) != NULL;
}

/* Protocol of the pickle starting at @b, -1 when it does not look like one. */
static int pickle_protocol(const unsigned char *b, size_t n, int *framed)
{
    *framed = 0;
    if (n >= 2 && b[0] == 0x80) {
        if (b[1] < 2 || b[1] > 5) return -1;
        *framed = n >= 3 && b[2] == 0x95;
        return b[1];
    }
    /* protocols 0 and 1 have no header: a plausible first opcode */
    if (n >= 2 && strchr("(]})", b[0])) return 0;
    if (n >= 4 && b[0] == 'c') { /* GLOBAL "module\nname\n" */
        size_t i = 1;
        while (i < n && i < 200 && (b[i] == '_' || b[i] == '.' || (b[i] >= 'a' && b[i] <= 'z') ||
                                    (b[i] >= 'A' && b[i] <= 'Z') || (b[i] >= '0' && b[i] <= '9')))
            i++;
        if (i > 1 && i < n && b[i] == '\n') return 0;
    }
    return -1;
}

void mfs_pkfile_sniff(const struct mfs_probe *p, struct mfs_pkfile_sniff *s)
{
    memset(s, 0, sizeof *s);
    s->protocol = -1;
    if (!p->head || p->head_len < 2) return;
    s->comp = mfs_decomp_detect(p->head, p->head_len);
    if (s->comp == MFS_DECOMP_NONE) {
        s->protocol = pickle_protocol(p->head, p->head_len, &s->framed);
        s->joblib = joblib_text(p->head, p->head_len) || (p->tail && joblib_text(p->tail, p->tail_len));
        if (s->protocol == 0 && !(p->tail_len && p->tail[p->tail_len - 1] == '.')) s->protocol = -1;
        return;
    }
    unsigned char out[4096];
    int64_t n = mfs_decomp_peek_mem(p->head, p->head_len, s->comp, out, sizeof out);
    if (n < 64 && p->src) { /* lz4/zstd blocks may not fit in the head */
        mfs_err e;
        mfs_err_clear(&e);
        int64_t m = mfs_decomp_peek(p->src, 0, p->size, s->comp, out, sizeof out, 1u << 20, &e);
        if (m > n) n = m;
    }
    if (n <= 0) {
        s->protocol = -2; /* compressed, content unknown */
        return;
    }
    s->protocol = pickle_protocol(out, (size_t)n, &s->framed);
    s->joblib = joblib_text(out, (size_t)n);
}

/* ---- state ---- */

struct pkstate {
    mfs_src *file;             /* the file (referenced) */
    mfs_src *src;              /* the pickle stream: the file or its decompression */
    enum mfs_decomp_kind comp;
    mfs_pk_heap *heap;
    mfs_pk *root;
    uint64_t stop_end;
    int protocol;
    struct mfs_np_ctx np;
    char *stem;                /* name of a bare array */
    char *base;                /* file name, for security/ */
};

void mfs_pkfile_close(void *state)
{
    struct pkstate *s = state;
    if (!s) return;
    mfs_np_ctx_destroy(&s->np);
    mfs_pk_heap_free(s->heap);
    mfs_src_unref(s->src);
    mfs_src_unref(s->file);
    free(s->stem);
    free(s->base);
    free(s);
}

/* File name without directories and without pickle/compression suffixes
 * ("model.pkl.gz" -> "model"); "array" when nothing is left. */
static char *make_stem(const char *base)
{
    static const char *const sfx[] = {".gz", ".z", ".Z", ".bz2", ".xz", ".lzma", ".lz4", ".zst", ".zstd",
                                      ".zlib", ".pkl", ".pickle", ".joblib", ".jl", ".sav", ".p", NULL};
    char *s = strdup(base);
    if (!s) return NULL;
    for (int again = 1; again;) {
        again = 0;
        size_t n = strlen(s);
        for (int i = 0; sfx[i]; i++) {
            size_t k = strlen(sfx[i]);
            if (n > k && strcasecmp(s + n - k, sfx[i]) == 0) {
                s[n - k] = 0;
                again = 1;
                break;
            }
        }
    }
    if (!*s) {
        free(s);
        return strdup("array");
    }
    return s;
}

int mfs_pkfile_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    MFS_CHECK(p->src, e, MFS_FATAL, EINVAL, -1, "pickle: not a regular file");
    struct pkstate *s = calloc(1, sizeof *s);
    MFS_CHECK(s, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    *state = s;
    s->file = mfs_src_ref(p->src);
    const char *b = strrchr(p->path, '/');
    s->base = strdup(b ? b + 1 : p->path);
    s->np.dir = b ? strndup(p->path, (size_t)(b - p->path)) : strdup(".");
    if (s->base && b == p->path) { /* "/x.pkl" */
        free(s->np.dir);
        s->np.dir = strdup("/");
    }
    s->stem = s->base ? make_stem(s->base) : NULL;
    MFS_CHECK(s->base && s->np.dir && s->stem, e, MFS_FATAL, ENOMEM, -1, "out of memory");

    s->comp = mfs_decomp_detect(p->head, p->head_len);
    if (s->comp != MFS_DECOMP_NONE) {
        s->src = mfs_decomp_open(s->file, 0, s->file->size, s->comp, 0, e);
        if (!s->src) {
            mfs_err_prefix(e, "%s-compressed file", mfs_decomp_name(s->comp));
            return e->status = MFS_FATAL;
        }
    } else {
        s->src = mfs_src_ref(s->file);
    }
    s->np.src = s->src;
    unsigned char h2[2] = {0, 0};
    if (mfs_src_read(s->src, h2, 2, 0, e) == 2 && h2[0] == 0x80) s->protocol = h2[1];

    s->heap = mfs_pk_heap_new(NULL);
    MFS_CHECK(s->heap, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    struct mfs_pk_hooks hooks = {.ctx = &s->np, .after_build = mfs_np_joblib_after_build};
    int st = mfs_pk_load(s->heap, s->src, 0, 0, &hooks, &s->root, &s->stop_end, e);
    if (st < 0) {
        if (s->comp != MFS_DECOMP_NONE)
            mfs_err_prefix(e, "%s-compressed file (byte offsets are in the decompressed stream)",
                           mfs_decomp_name(s->comp));
        return e->status = MFS_FATAL;
    }
    if (s->stop_end < s->src->size)
        mfs_log("%s: %llu bytes after the pickle's STOP are ignored", p->path,
                (unsigned long long)(s->src->size - s->stop_end));
    return MFS_OK;
}

/* raw/ hook: arrays as tensor dirs. */
static int raw_node(void *ctx, mfs_tree *t, uint32_t parent, const char *name, const mfs_pk *o, mfs_err *e)
{
    if (!mfs_np_is_array(o)) return 0;
    mfs_tensor *tn = NULL;
    int r = mfs_np_tensor(ctx, t, o, NULL, &tn, e);
    if (r <= 0) {
        mfs_err_clear(e);
        return 0; /* shown generically */
    }
    return mfs_tree_add_tensor(t, parent, name, tn) ? 1 : mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
}

int mfs_pkfile_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct pkstate *s = state;
    int status = mfs_skl_build(t, &s->np, s->root, s->stem, e);
    MFS_FORWARD(status);

    uint32_t meta = mfs_tree_top(t, MFS_TOP_METADATA);
    int ok = meta != 0;
    if (ok && s->protocol) ok = mfs_tree_add_textf(t, meta, "pickle_protocol", "%d\n", s->protocol) != 0;
    if (ok && s->comp != MFS_DECOMP_NONE) {
        ok = mfs_tree_add_textf(t, meta, "compression", "%s\n", mfs_decomp_name(s->comp)) != 0;
        ok = ok && mfs_tree_add_textf(t, meta, "decompressed_bytes", "%llu\n",
                                      (unsigned long long)s->src->size) != 0;
    }
    if (ok && s->np.njb)
        ok = mfs_tree_add_textf(t, meta, "joblib_arrays", "%zu\n", s->np.njb) != 0;
    MFS_CHECK(ok, e, MFS_FATAL, ENOMEM, -1, "out of memory");

    uint32_t raw = mfs_tree_top(t, MFS_TOP_RAW);
    MFS_CHECK(raw, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    struct mfs_pk_raw_hooks hk = {.ctx = &s->np, .node = raw_node};
    struct mfs_pk_where where = {0};
    int st = mfs_pk_raw_build(t, raw, NULL, s->root, s->src, "raw", &hk, &where, e);
    if (st >= 0) {
        const char *names[1] = {s->base};
        int st2 = mfs_pk_security_build(t, s->heap, names, 1, &where, e);
        if (st2 < 0) st = st2;
    }
    mfs_pk_where_free(&where);
    MFS_FORWARD(st);
    return status == MFS_WARN || st == MFS_WARN ? MFS_WARN : MFS_OK;
}
