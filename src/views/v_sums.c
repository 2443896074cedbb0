/* v_sums.c: sha256 of a tensor's data (cached in the tensor) and the root
 * SHA256SUMS file: one "<64 hex>  <path>/data" line per model tensor, the
 * path relative to tensors/, so `cd tensors && sha256sum -c ../SHA256SUMS`
 * passes. Its size follows from the paths alone; the hashes are computed
 * on the first read (reading every tensor) and kept. */
#include "views/view.h"
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP (1u << 20)

int mfs_tensor_sha256(mfs_tensor *t, unsigned char out[32], mfs_err *e)
{
    struct mfs_tensor_cache *c = &t->cache;
    pthread_mutex_lock(&c->mu);
    int rc = MFS_OK;
    if (!c->have_sha) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char *buf = malloc(STEP);
        if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
            rc = mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "sha256: out of memory");
        }
        for (uint64_t off = 0; rc == MFS_OK && off < t->nbytes; off += STEP) {
            size_t n = t->nbytes - off < STEP ? (size_t)(t->nbytes - off) : STEP;
            if (mfs_tensor_read(t, off, buf, n, e) != (int64_t)n) rc = MFS_FAILED;
            else EVP_DigestUpdate(ctx, buf, n);
        }
        unsigned int dl = 0;
        if (rc == MFS_OK && EVP_DigestFinal_ex(ctx, c->sha256, &dl) == 1) c->have_sha = 1;
        EVP_MD_CTX_free(ctx);
        free(buf);
    }
    if (c->have_sha) memcpy(out, c->sha256, 32);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

uint64_t mfs_sums_size(mfs_tree *t)
{
    uint64_t n = 0;
    for (size_t i = 0; i < t->nmodel; i++) {
        char *p = mfs_tree_path(t, t->top[MFS_TOP_TENSORS], t->model[i].dir);
        n += 64 + 2 + (p ? strlen(p) : 0) + 5 + 1;
        free(p);
    }
    return n;
}

/* Builds t->sums_text (caller holds sums_mu). */
static int build(mfs_tree *t, mfs_err *e)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    int rc = MFS_OK;
    for (size_t i = 0; i < t->nmodel && rc == MFS_OK; i++) {
        unsigned char h[32];
        rc = mfs_tensor_sha256(t->model[i].t, h, e);
        if (rc != MFS_OK) break;
        char *p = mfs_tree_path(t, t->top[MFS_TOP_TENSORS], t->model[i].dir);
        for (int k = 0; k < 32; k++) fprintf(f, "%02x", h[k]);
        fprintf(f, "  %s/data\n", p ? p : "");
        free(p);
    }
    fclose(f);
    if (rc != MFS_OK) {
        free(buf);
        return rc;
    }
    t->sums_text = buf;
    t->sums_len = len;
    return MFS_OK;
}

int64_t mfs_sums_read(mfs_tree *t, uint64_t off, void *buf, size_t len, mfs_err *e)
{
    pthread_mutex_lock(&t->sums_mu);
    int rc = t->sums_text ? MFS_OK : build(t, e);
    pthread_mutex_unlock(&t->sums_mu);
    if (rc != MFS_OK) return -1;
    return mfs_copy_range(t->sums_text, t->sums_len, off, buf, len);
}
