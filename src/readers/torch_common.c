/* torch_common.c: zip-archive helpers shared by the PyTorch zip,
 * TorchScript and torch.export readers, and the storages-at-file-offsets
 * helpers shared by the legacy stream and tar readers.
 *
 * A torch zip keeps every record under one folder, the "archive name"
 * (the file's stem, or "archive"): FORMATS.md §6.1 says to take it from
 * the first member, never to hard-code it. Records are looked up as
 * <prefix><relative name>.
 *
 * The legacy and tar formats keep each storage's bytes contiguous in the
 * file itself; their readers list them as struct mfs_torch_fstore. */
#include "readers/torch.h"
#include "core/zip.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mfs_torch_zip_prefix(const struct mfs_zip *z, char *buf, size_t n)
{
    if (!z || !z->count) return -1;
    const char *name = z->m[0].name;
    const char *slash = strchr(name, '/');
    size_t l = slash ? (size_t)(slash - name) + 1 : 0;
    if (l + 1 > n) return -1;
    memcpy(buf, name, l);
    buf[l] = 0;
    return 0;
}

long mfs_torch_zip_find(const struct mfs_zip *z, const char *prefix, const char *rel)
{
    char name[4096];
    if ((size_t)snprintf(name, sizeof name, "%s%s", prefix, rel) >= sizeof name) return -1;
    return mfs_zip_find(z, name);
}

int mfs_torch_zip_record(struct mfs_zip *z, const char *prefix, const char *rel, char *buf, size_t n)
{
    long i = mfs_torch_zip_find(z, prefix, rel);
    if (i < 0 || z->m[i].size >= n) return -1;
    mfs_err e = {0};
    char *d = mfs_zip_read_member(z, (size_t)i, n - 1, &e);
    if (!d) return -1;
    size_t l = (size_t)z->m[i].size;
    while (l && isspace((unsigned char)d[l - 1])) l--;
    memcpy(buf, d, l);
    buf[l] = 0;
    free(d);
    return 0;
}

int mfs_torch_load_member(struct mfs_zip *z, const char *prefix, const char *rel, mfs_pk_heap *h,
                          mfs_pk **out, mfs_src **src, mfs_err *e)
{
    long i = mfs_torch_zip_find(z, prefix, rel);
    if (i < 0)
        return mfs_err_set(e, MFS_FATAL, ENOENT, -1, "zip member %s%s is missing", prefix, rel);
    mfs_src *s = mfs_zip_member_src(z, (size_t)i, e);
    if (!s) {
        if (e) e->status = MFS_FATAL;
        return MFS_FATAL;
    }
    int rc = mfs_pk_load(h, s, 0, 0, NULL, out, NULL, e);
    if (rc < 0) mfs_err_prefix(e, "%s%s", prefix, rel);
    if (src && rc >= 0) *src = s;
    else mfs_src_unref(s);
    return rc;
}

/* ---- storages at file offsets ---- */

int mfs_torch_fstore_add(struct mfs_torch_fstore **v, size_t *n, size_t *cap,
                         struct mfs_torch_fstore fs, mfs_err *e)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        struct mfs_torch_fstore *nv = realloc(*v, nc * sizeof *nv);
        MFS_CHECK(nv, e, MFS_FATAL, ENOMEM, -1, "out of memory");
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = fs;
    return MFS_OK;
}

void mfs_torch_fstore_place(const struct mfs_torch_fstore *fs, mfs_src *src,
                            struct mfs_torch_store *st)
{
    st->dtype = fs->dtype;
    st->key = fs->key;
    st->src = src;
    st->off = fs->off;
    st->numel = fs->numel;
    st->nbytes = fs->numel * mfs_dtype_get(fs->dtype)->itemsize;
}

int mfs_torch_fstore_files(mfs_tree *t, uint32_t dir, mfs_src *src,
                           const struct mfs_torch_fstore *v, size_t n, mfs_err *e)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].off != UINT64_MAX)
            MFS_CHECK(mfs_tree_add_src_range(t, dir, v[i].key, src, v[i].off,
                                             v[i].numel * mfs_dtype_get(v[i].dtype)->itemsize),
                      e, MFS_FATAL, ENOMEM, -1, "out of memory");
    return MFS_OK;
}
