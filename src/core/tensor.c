/* tensor.c: tensor locators and the one read path every view uses (see
 * tensor.h).
 *
 * PLAIN ranges are one pread. CUSTOM ranges go to the reader. BYTESWAP
 * and STRIDED work on whole elements: the request is widened to element
 * boundaries and served in chunks of at most CHUNK bytes through a bounce
 * buffer, so memory stays bounded whatever the read size. STRIDED chunks
 * gather their elements from one pread of the storage span they touch
 * when that span is small (the common case: row-contiguous views), else
 * from one pread per contiguous run. */
#include "core/tensor.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (1u << 20)
#define SPAN_MAX (32u << 20)

int mfs_tensor_set_shape(mfs_tensor *t, int ndim, const uint64_t *shape, mfs_err *e)
{
    MFS_CHECK(ndim >= 0 && ndim <= MFS_MAX_DIMS, e, MFS_FATAL, EINVAL, -1,
              "tensor has %d dimensions (at most %d supported)", ndim, MFS_MAX_DIMS);
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && n > UINT64_MAX / shape[i])
            return mfs_err_set(e, MFS_FATAL, EINVAL, -1, "tensor shape overflows 64 bits");
        n *= shape[i];
        t->shape[i] = shape[i];
    }
    t->ndim = ndim;
    t->nelems = n;
    t->nbytes = mfs_dtype_nbytes(t->dtype, n);
    MFS_CHECK(t->nbytes != UINT64_MAX, e, MFS_FATAL, EINVAL, -1,
              "tensor of %llu %s elements has no whole byte size", (unsigned long long)n,
              mfs_dtype_get(t->dtype)->name);
    return MFS_OK;
}

int mfs_tensor_set_plain(mfs_tensor *t, mfs_src *src, uint64_t off, int swap, mfs_err *e)
{
    MFS_CHECK(off <= src->size && t->nbytes <= src->size - off, e, MFS_FATAL, EINVAL,
              (int64_t)off, "tensor data [%llu, +%llu) lies beyond the end of %s (%llu bytes)",
              (unsigned long long)off, (unsigned long long)t->nbytes, src->path,
              (unsigned long long)src->size);
    mfs_src_unref(t->src);
    t->src = mfs_src_ref(src);
    t->offset = off;
    t->enc = (swap && mfs_dtype_get(t->dtype)->itemsize > 1) ? MFS_ENC_BYTESWAP : MFS_ENC_PLAIN;
    return MFS_OK;
}

int mfs_tensor_set_strided(mfs_tensor *t, mfs_src *src, uint64_t off, uint64_t storage_elems,
                           uint64_t storage_offset, const int64_t *strides, int swap, mfs_err *e)
{
    uint64_t isz = mfs_dtype_get(t->dtype)->itemsize;
    MFS_CHECK(mfs_dtype_get(t->dtype)->block == 1, e, MFS_FATAL, EINVAL, -1,
              "strided layout of a block-quantized tensor");
    MFS_CHECK(storage_elems <= UINT64_MAX / isz && off <= src->size &&
                  storage_elems * isz <= src->size - off,
              e, MFS_FATAL, EINVAL, (int64_t)off,
              "storage of %llu elements at offset %llu lies beyond the end of %s",
              (unsigned long long)storage_elems, (unsigned long long)off, src->path);
    /* every addressed element must lie in the storage */
    if (t->nelems) {
        uint64_t lo = storage_offset, hi = storage_offset;
        for (int i = 0; i < t->ndim; i++) {
            MFS_CHECK(strides[i] >= 0, e, MFS_FATAL, EINVAL, -1, "negative stride %lld",
                      (long long)strides[i]);
            uint64_t ext = t->shape[i] - 1;
            MFS_CHECK(!strides[i] || ext <= (UINT64_MAX / 2) / (uint64_t)strides[i], e,
                      MFS_FATAL, EINVAL, -1, "stride overflow");
            hi += ext * (uint64_t)strides[i];
            MFS_CHECK(hi >= lo, e, MFS_FATAL, EINVAL, -1, "stride overflow");
        }
        MFS_CHECK(hi < storage_elems, e, MFS_FATAL, EINVAL, -1,
                  "tensor view reaches element %llu of a storage of %llu elements",
                  (unsigned long long)hi, (unsigned long long)storage_elems);
    }
    /* contiguous C order with no swap is PLAIN */
    int64_t expect = 1;
    int contiguous = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && strides[i] != expect) contiguous = 0;
        expect *= (int64_t)t->shape[i];
    }
    if (contiguous)
        return mfs_tensor_set_plain(t, src, off + storage_offset * isz, swap, e);
    mfs_src_unref(t->src);
    t->src = mfs_src_ref(src);
    t->offset = off;
    t->enc = MFS_ENC_STRIDED;
    t->storage_offset = storage_offset;
    t->swap = swap && isz > 1;
    memcpy(t->strides, strides, sizeof(int64_t) * (size_t)t->ndim);
    return MFS_OK;
}

void mfs_tensor_set_custom(mfs_tensor *t, mfs_tensor_read_fn fn, void *ctx, mfs_src *src,
                           pthread_mutex_t *lock)
{
    mfs_src_unref(t->src);
    t->src = mfs_src_ref(src);
    t->enc = MFS_ENC_CUSTOM;
    t->read = fn;
    t->read_ctx = ctx;
    t->lock = lock;
}

/* Byte-swaps @n elements of @dt at @p in place. Complex numbers swap each
 * of their two halves, not the element as a whole. */
static void swap_elems(unsigned char *p, size_t n, mfs_dtype dt)
{
    unsigned isz = mfs_dtype_get(dt)->itemsize;
    if (mfs_dtype_get(dt)->kind == MFS_DK_COMPLEX) {
        isz /= 2;
        n *= 2;
    }
    for (size_t i = 0; i < n; i++, p += isz)
        for (unsigned a = 0, b = isz - 1; a < b; a++, b--) {
            unsigned char c = p[a];
            p[a] = p[b];
            p[b] = c;
        }
}

/* Storage element index of canonical element @e. */
static uint64_t storage_index(const mfs_tensor *t, uint64_t e)
{
    uint64_t s = t->storage_offset;
    for (int i = t->ndim - 1; i >= 0; i--) {
        uint64_t d = t->shape[i];
        s += (e % d) * (uint64_t)t->strides[i];
        e /= d;
    }
    return s;
}

/* Elements [e0, e0+n) of a STRIDED tensor into @out. */
static int gather(const mfs_tensor *t, uint64_t e0, size_t n, unsigned char *out, mfs_err *e)
{
    unsigned isz = mfs_dtype_get(t->dtype)->itemsize;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t s = storage_index(t, e0 + i);
        if (s < lo) lo = s;
        if (s > hi) hi = s;
    }
    uint64_t span = (hi - lo + 1) * isz;
    if (span <= SPAN_MAX) {
        unsigned char *tmp = malloc(span);
        if (!tmp) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        int rc = mfs_src_read_exact(t->src, tmp, span, t->offset + lo * isz, e);
        if (rc == MFS_OK)
            for (size_t i = 0; i < n; i++)
                memcpy(out + i * isz, tmp + (storage_index(t, e0 + i) - lo) * isz, isz);
        free(tmp);
        return rc;
    }
    for (size_t i = 0; i < n;) {
        uint64_t s = storage_index(t, e0 + i);
        size_t run = 1;
        while (i + run < n && storage_index(t, e0 + i + run) == s + run) run++;
        MFS_FORWARD(mfs_src_read_exact(t->src, out + i * isz, run * isz, t->offset + s * isz, e));
        i += run;
    }
    return MFS_OK;
}

/* Whole elements [e0, e0+n) (n*isz <= CHUNK) of a BYTESWAP/STRIDED tensor. */
static int read_elems(const mfs_tensor *t, uint64_t e0, size_t n, unsigned char *out, mfs_err *e)
{
    unsigned isz = mfs_dtype_get(t->dtype)->itemsize;
    if (t->enc == MFS_ENC_BYTESWAP) {
        MFS_FORWARD(mfs_src_read_exact(t->src, out, n * isz, t->offset + e0 * isz, e));
        swap_elems(out, n, t->dtype);
        return MFS_OK;
    }
    MFS_FORWARD(gather(t, e0, n, out, e));
    if (t->swap) swap_elems(out, n, t->dtype);
    return MFS_OK;
}

int64_t mfs_tensor_read(const mfs_tensor *t, uint64_t off, void *buf, size_t len, mfs_err *e)
{
    if (off >= t->nbytes) return 0;
    if (len > t->nbytes - off) len = (size_t)(t->nbytes - off);
    if (len == 0) return 0;
    int rc = MFS_OK;
    switch (t->enc) {
    case MFS_ENC_PLAIN:
        rc = mfs_src_read_exact(t->src, buf, len, t->offset + off, e);
        break;
    case MFS_ENC_CUSTOM:
        if (t->lock) pthread_mutex_lock(t->lock);
        rc = t->read(t, off, buf, len, e);
        if (t->lock) pthread_mutex_unlock(t->lock);
        break;
    case MFS_ENC_BYTESWAP:
    case MFS_ENC_STRIDED: {
        unsigned isz = mfs_dtype_get(t->dtype)->itemsize;
        unsigned char *tmp = NULL;
        size_t done = 0;
        while (done < len && rc == MFS_OK) {
            uint64_t pos = off + done;
            uint64_t e0 = pos / isz;
            size_t skip = (size_t)(pos % isz);
            size_t want = len - done;
            size_t n = (skip + want + isz - 1) / isz;
            if (n * isz > CHUNK) n = CHUNK / isz;
            if (skip == 0 && n * isz <= want) {
                rc = read_elems(t, e0, n, (unsigned char *)buf + done, e);
                done += n * isz;
                continue;
            }
            if (!tmp && !(tmp = malloc(CHUNK))) {
                rc = mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
                break;
            }
            rc = read_elems(t, e0, n, tmp, e);
            size_t take = n * isz - skip;
            if (take > want) take = want;
            memcpy((unsigned char *)buf + done, tmp + skip, take);
            done += take;
        }
        free(tmp);
        break;
    }
    }
    if (rc != MFS_OK) {
        if (e && !e->errnum) e->errnum = EIO;
        return -1;
    }
    return (int64_t)len;
}

size_t mfs_tensor_shape_str(const mfs_tensor *t, char *buf, size_t n)
{
    size_t need = 0;
    char tmp[32];
    #define PUT(s)                                                             \
        do {                                                                   \
            size_t l_ = strlen(s);                                             \
            if (need + l_ < n) memcpy(buf + need, s, l_);                      \
            need += l_;                                                        \
        } while (0)
    PUT("[");
    for (int i = 0; i < t->ndim; i++) {
        snprintf(tmp, sizeof tmp, i ? ", %llu" : "%llu", (unsigned long long)t->shape[i]);
        PUT(tmp);
    }
    PUT("]");
    #undef PUT
    if (n) buf[need < n ? need : n - 1] = 0;
    return need;
}

static const char *enc_name(enum mfs_encoding enc)
{
    switch (enc) {
    case MFS_ENC_PLAIN: return "plain";
    case MFS_ENC_BYTESWAP: return "byteswap";
    case MFS_ENC_STRIDED: return "strided";
    default: return "reader";
    }
}

json_t *mfs_tensor_info_json(const mfs_tensor *t) { return mfs_tensor_info_json_sized(t, 0); }

json_t *mfs_tensor_info_json_sized(const mfs_tensor *t, int sizing)
{
    json_t *o = json_object(), *shape = json_array();
    for (int i = 0; i < t->ndim; i++) json_array_append_new(shape, json_integer((json_int_t)t->shape[i]));
    json_object_set_new(o, "dtype", json_string(mfs_dtype_get(t->dtype)->name));
    json_object_set_new(o, "shape", shape);
    json_object_set_new(o, "nbytes", json_integer((json_int_t)t->nbytes));
    if (t->src && t->src->path[0]) json_object_set_new(o, "file", json_string(t->src->path));
    json_object_set_new(o, "encoding", json_string(enc_name(t->enc)));
    if (t->enc != MFS_ENC_CUSTOM) json_object_set_new(o, "offset", json_integer((json_int_t)t->offset));
    if (t->enc == MFS_ENC_STRIDED) {
        json_t *st = json_array();
        for (int i = 0; i < t->ndim; i++) json_array_append_new(st, json_integer(t->strides[i]));
        json_object_set_new(o, "strides", st);
        json_object_set_new(o, "storage_offset", json_integer((json_int_t)t->storage_offset));
        json_object_set_new(o, "byteswap", json_boolean(t->swap));
    }
    json_object_set_new(o, "compression", t->compression ? json_string(t->compression) : json_null());
    if (t->info) json_object_update(o, t->info);
    if (t->info_fn) {
        json_t *x = t->info_fn(t, sizing);
        if (x) json_object_update(o, x);
        json_decref(x);
    }
    return o;
}
