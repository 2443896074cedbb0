/* h5_chunks.c: gzip/shuffle chunks decoded in parallel, outside libhdf5.
 * See h5_chunks.h for why and when. Layout facts used (HDF5 file format
 * spec, "Data Storage - Filter Pipeline" and "Chunked Storage"): every
 * chunk is stored whole (edge chunks padded to the full chunk shape), in
 * C order of the chunk's own shape; filters run in pipeline order when
 * writing and in reverse when reading; the deflate filter writes a zlib
 * stream (compress2); the shuffle filter stores byte j of every element
 * together (all first bytes, then all second bytes, ...). */
#include "readers/h5_chunks.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { S_EMPTY = 0, S_LOADING, S_READY };

struct slot {
    uint64_t idx;            /* chunk index (C order over the chunk grid) */
    unsigned char *buf;      /* decoded chunk, chunk_bytes (S_READY) */
    unsigned long long last; /* LRU tick */
    int refs;                /* pinned while copied out or being decoded */
    int state;               /* S_EMPTY, S_LOADING (a thread decodes it), S_READY */
};

struct h5z {
    struct h5z_geom g;
    mfs_src *src;
    h5z_locate_fn locate;
    void *ctx;
    size_t chunk_bytes;
    hsize_t grid[MFS_MAX_DIMS];  /* chunks per dimension */
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* a slot left S_LOADING */
    struct slot *slots;
    size_t nslots;
    unsigned long long tick;
};

int h5z_eligible(hid_t dcpl, struct h5z_geom *g)
{
    if (H5Pget_layout(dcpl) != H5D_CHUNKED || H5Pget_external_count(dcpl) > 0) return 0;
    int cnd = H5Pget_chunk(dcpl, MFS_MAX_DIMS, g->cdims);
    if (cnd != g->nd || cnd < 1) return 0;
    int n = H5Pget_nfilters(dcpl), ndef = 0, nshuf = 0;
    if (n < 0 || n > 8) return 0;
    for (int i = 0; i < n; i++) {
        unsigned flags = 0, cd[8];
        size_t ncd = 8;
        char name[32];
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name, NULL);
        if (id == H5Z_FILTER_DEFLATE) ndef++;
        else if (id == H5Z_FILTER_SHUFFLE) nshuf++;
        else return 0;
        g->filt[i] = id;
    }
    g->nfilt = n;
    for (int i = 0; i < g->nd; i++)
        if (g->cdims[i] == 0) return 0;
    return ndef <= 1 && nshuf <= 1;
}

struct h5z *h5z_new(const struct h5z_geom *g, mfs_src *src, size_t cache_bytes,
                    h5z_locate_fn locate, void *ctx)
{
    struct h5z *z = calloc(1, sizeof *z);
    if (!z) return NULL;
    z->g = *g;
    uint64_t cb = g->esz;
    for (int i = 0; i < g->nd; i++) {
        if (g->cdims[i] > ((uint64_t)1 << 32) || cb > ((uint64_t)1 << 40) / g->cdims[i]) {
            free(z);
            return NULL;
        }
        cb *= g->cdims[i];
        z->grid[i] = (g->dims[i] + g->cdims[i] - 1) / g->cdims[i];
    }
    if (cb == 0 || cb > ((uint64_t)256 << 20)) { /* absurd chunk: libhdf5 path */
        free(z);
        return NULL;
    }
    z->chunk_bytes = (size_t)cb;
    size_t n = cache_bytes / z->chunk_bytes;
    z->nslots = n < 4 ? 4 : n > 4096 ? 4096 : n;
    z->slots = calloc(z->nslots, sizeof *z->slots);
    if (!z->slots) {
        free(z);
        return NULL;
    }
    pthread_mutex_init(&z->mu, NULL);
    pthread_cond_init(&z->cv, NULL);
    z->src = mfs_src_ref(src);
    z->locate = locate;
    z->ctx = ctx;
    return z;
}

void h5z_free(struct h5z *z)
{
    if (!z) return;
    for (size_t i = 0; i < z->nslots; i++) free(z->slots[i].buf);
    free(z->slots);
    pthread_mutex_destroy(&z->mu);
    pthread_cond_destroy(&z->cv);
    mfs_src_unref(z->src);
    free(z);
}

/* Undoes the shuffle filter: @n elements of @es bytes from @in to @out. */
static void unshuffle(const unsigned char *in, unsigned char *out, size_t n, size_t es)
{
    if (es == 4) {
        const unsigned char *a = in, *b = in + n, *c = in + 2 * n, *d = in + 3 * n;
        for (size_t i = 0; i < n; i++) {
            out[4 * i] = a[i];
            out[4 * i + 1] = b[i];
            out[4 * i + 2] = c[i];
            out[4 * i + 3] = d[i];
        }
        return;
    }
    for (size_t j = 0; j < es; j++)
        for (size_t i = 0; i < n; i++) out[i * es + j] = in[j * n + i];
}

/* Decodes chunk @idx (first element at @offset) into a new buffer.
 * @return the buffer (caller frees), NULL with @e set, or NULL with
 * *fallback set for an unallocated chunk. */
static unsigned char *decode(struct h5z *z, const hsize_t *offset, int *fallback, mfs_err *e)
{
    haddr_t addr;
    hsize_t size;
    unsigned mask = 0;
    if (z->locate(z->ctx, offset, &addr, &size, &mask, e) < 0) return NULL;
    if (addr == HADDR_UNDEF) {
        *fallback = 1;
        return NULL;
    }
    size_t cb = z->chunk_bytes;
    if (size == 0 || size > 2 * (hsize_t)cb + 65536 || addr > z->src->size ||
        size > z->src->size - addr) {
        mfs_err_set(e, MFS_FAILED, EIO, (int64_t)addr,
                    "chunk at byte %llu (%llu bytes) lies outside the file or is too large",
                    (unsigned long long)addr, (unsigned long long)size);
        return NULL;
    }
    unsigned char *raw = malloc((size_t)size), *bufs[2] = {NULL, NULL};
    if (!raw) {
        mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        return NULL;
    }
    if (mfs_src_read_exact(z->src, raw, (size_t)size, addr, e) != MFS_OK) {
        free(raw);
        return NULL;
    }
    /* filters in reverse pipeline order, ping-ponging between two buffers */
    unsigned char *cur = raw;
    size_t curlen = (size_t)size;
    int bad = 0;
    for (int i = z->g.nfilt - 1; i >= 0 && !bad; i--) {
        if (mask & (1u << i)) continue; /* skipped for this chunk */
        int w = cur == bufs[0] ? 1 : 0;
        if (!bufs[w] && !(bufs[w] = malloc(cb))) {
            bad = 2;
            break;
        }
        if (z->g.filt[i] == H5Z_FILTER_DEFLATE) {
            uLongf out = cb;
            uLong in = curlen;
            int r = uncompress2(bufs[w], &out, cur, &in);
            if (r != Z_OK || out != cb) {
                mfs_err_set(e, MFS_FAILED, EIO, (int64_t)addr,
                            "chunk at byte %llu: gzip data is corrupt (zlib %d, %lu of %zu bytes)",
                            (unsigned long long)addr, r, (unsigned long)out, cb);
                bad = 1;
                break;
            }
        } else { /* shuffle */
            if (curlen != cb) {
                bad = 3;
                break;
            }
            unshuffle(cur, bufs[w], cb / z->g.esz, z->g.esz);
        }
        cur = bufs[w];
        curlen = cb;
    }
    if (!bad && curlen != cb) bad = 3;
    for (int k = 0; k < 2; k++)
        if (bufs[k] != cur) free(bufs[k]);
    if (raw != cur) free(raw);
    if (bad) {
        free(cur);
        if (bad == 2) mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        else if (bad == 3)
            mfs_err_set(e, MFS_FAILED, EIO, (int64_t)addr,
                        "chunk at byte %llu: %zu bytes after its filters, expected %zu",
                        (unsigned long long)addr, curlen, cb);
        return NULL;
    }
    if (z->g.swap > 1)
        for (size_t i = 0; i + z->g.swap <= cb; i += z->g.swap)
            for (size_t x = i, y = i + z->g.swap - 1; x < y; x++, y--) {
                unsigned char t = cur[x];
                cur[x] = cur[y];
                cur[y] = t;
            }
    return cur;
}

/* A decoded chunk, pinned in the cache (*slot set) or private (*slot
 * NULL: caller frees). A chunk another thread is decoding is waited for
 * when @wait, else NULL with *busy set (the caller does other chunks
 * first: concurrent requests on one band of chunks, as readahead makes,
 * then decode different chunks in parallel instead of the same ones). */
static unsigned char *get_chunk(struct h5z *z, uint64_t idx, const hsize_t *offset, int wait,
                                struct slot **slot, int *busy, int *fallback, mfs_err *e)
{
    *slot = NULL;
    pthread_mutex_lock(&z->mu);
    for (;;) {
        struct slot *hit = NULL;
        for (size_t i = 0; i < z->nslots && !hit; i++)
            if (z->slots[i].state != S_EMPTY && z->slots[i].idx == idx) hit = &z->slots[i];
        if (!hit) break;
        if (hit->state == S_READY) {
            hit->refs++;
            hit->last = ++z->tick;
            *slot = hit;
            pthread_mutex_unlock(&z->mu);
            return hit->buf;
        }
        if (!wait) {
            pthread_mutex_unlock(&z->mu);
            *busy = 1;
            return NULL;
        }
        pthread_cond_wait(&z->cv, &z->mu);
    }
    struct slot *v = NULL; /* least recently used slot nobody holds */
    for (size_t i = 0; i < z->nslots; i++) {
        struct slot *x = &z->slots[i];
        if (x->refs == 0 && x->state != S_LOADING &&
            (!v || x->state == S_EMPTY || (v->state != S_EMPTY && x->last < v->last)))
            v = x;
    }
    if (v) {
        free(v->buf);
        v->buf = NULL;
        v->idx = idx;
        v->state = S_LOADING;
        v->refs = 1;
    }
    pthread_mutex_unlock(&z->mu);
    unsigned char *buf = decode(z, offset, fallback, e);
    if (!v) return buf; /* every slot pinned: private copy */
    pthread_mutex_lock(&z->mu);
    if (buf) {
        v->buf = buf;
        v->state = S_READY;
        v->last = ++z->tick;
        *slot = v;
    } else {
        v->state = S_EMPTY;
        v->refs = 0;
    }
    pthread_cond_broadcast(&z->cv);
    pthread_mutex_unlock(&z->mu);
    return buf;
}

/* Unpins what get_chunk gave (or frees a private copy). */
static void put_chunk(struct h5z *z, struct slot *slot, unsigned char *buf)
{
    if (!slot) {
        free(buf);
        return;
    }
    pthread_mutex_lock(&z->mu);
    slot->refs--;
    pthread_mutex_unlock(&z->mu);
}

/* Copies the part of box (start @s, count @n; stored C-contiguously at
 * @dst) that chunk @buf (first element at @o) holds. */
static void copy_part(const struct h5z *z, const hsize_t *s, const hsize_t *n, unsigned char *dst,
                      const hsize_t *o, const unsigned char *buf)
{
    int nd = z->g.nd;
    size_t es = z->g.esz;
    hsize_t lo[MFS_MAX_DIMS], hi[MFS_MAX_DIMS], g[MFS_MAX_DIMS];
    uint64_t BS[MFS_MAX_DIMS], CS[MFS_MAX_DIMS];
    BS[nd - 1] = CS[nd - 1] = 1;
    for (int j = nd - 2; j >= 0; j--) {
        BS[j] = BS[j + 1] * n[j + 1];
        CS[j] = CS[j + 1] * z->g.cdims[j + 1];
    }
    for (int j = 0; j < nd; j++) {
        lo[j] = s[j] > o[j] ? s[j] : o[j];
        hsize_t a = s[j] + n[j], b = o[j] + z->g.cdims[j];
        hi[j] = a < b ? a : b;
        if (lo[j] >= hi[j]) return;
        g[j] = lo[j];
    }
    size_t run = (size_t)(hi[nd - 1] - lo[nd - 1]) * es;
    for (;;) {
        uint64_t d = 0, c = 0;
        for (int j = 0; j < nd; j++) {
            d += (g[j] - s[j]) * BS[j];
            c += (g[j] - o[j]) * CS[j];
        }
        memcpy(dst + d * es, buf + c * es, run);
        int j = nd - 2;
        for (; j >= 0; j--) {
            if (++g[j] < hi[j]) break;
            g[j] = lo[j];
        }
        if (j < 0) break;
    }
}

/* Copies chunk @idx's part of the box; *busy when another thread is
 * decoding it and !@wait. */
static int do_chunk(struct h5z *z, uint64_t idx, const hsize_t *s, const hsize_t *n,
                    unsigned char *dst, int wait, int *busy, mfs_err *e)
{
    hsize_t o[MFS_MAX_DIMS];
    uint64_t r = idx;
    for (int j = z->g.nd - 1; j >= 0; j--) {
        o[j] = (r % z->grid[j]) * z->g.cdims[j];
        r /= z->grid[j];
    }
    struct slot *slot = NULL;
    int fallback = 0;
    *busy = 0;
    unsigned char *buf = get_chunk(z, idx, o, wait, &slot, busy, &fallback, e);
    if (!buf) return *busy ? MFS_OK : fallback ? H5Z_FALLBACK : MFS_FAILED;
    copy_part(z, s, n, dst, o, buf);
    put_chunk(z, slot, buf);
    return MFS_OK;
}

/* Reads one box (see h5_tensor.c next_box) into @dst: its chunks in C
 * order, those another thread is decoding left for a second pass. */
static int read_box(struct h5z *z, const hsize_t *s, const hsize_t *n, unsigned char *dst, mfs_err *e)
{
    int nd = z->g.nd;
    hsize_t clo[MFS_MAX_DIMS], chi[MFS_MAX_DIMS], c[MFS_MAX_DIMS];
    for (int j = 0; j < nd; j++) {
        clo[j] = s[j] / z->g.cdims[j];
        chi[j] = (s[j] + n[j] - 1) / z->g.cdims[j];
        c[j] = clo[j];
    }
    uint64_t later[256];
    size_t nlater = 0;
    for (;;) {
        uint64_t idx = 0;
        for (int j = 0; j < nd; j++) idx = idx * z->grid[j] + c[j];
        int busy = 0;
        int rc = do_chunk(z, idx, s, n, dst, nlater == 256, &busy, e);
        if (rc != MFS_OK) return rc;
        if (busy) later[nlater++] = idx;
        int j = nd - 1;
        for (; j >= 0; j--) {
            if (++c[j] <= chi[j]) break;
            c[j] = clo[j];
        }
        if (j < 0) break;
    }
    for (size_t i = 0; i < nlater; i++) {
        int busy = 0;
        int rc = do_chunk(z, later[i], s, n, dst, 1, &busy, e);
        if (rc != MFS_OK) return rc;
    }
    return MFS_OK;
}

int h5z_read(struct h5z *z, uint64_t k0, uint64_t k1, void *dst, mfs_err *e)
{
    int nd = z->g.nd;
    uint64_t S[MFS_MAX_DIMS];
    S[nd - 1] = 1;
    for (int k = nd - 2; k >= 0; k--) S[k] = S[k + 1] * z->g.dims[k + 1];
    for (uint64_t a = k0; a < k1;) {
        /* the largest aligned block that fits (as h5_tensor.c's next_box) */
        int k = nd - 1;
        for (int j = 0; j < nd; j++)
            if (a % S[j] == 0 && S[j] <= k1 - a) {
                k = j;
                break;
            }
        hsize_t start[MFS_MAX_DIMS], count[MFS_MAX_DIMS];
        for (int j = 0; j < nd; j++) {
            start[j] = j <= k ? (a / S[j]) % z->g.dims[j] : 0;
            count[j] = j < k ? 1 : z->g.dims[j];
        }
        uint64_t nk = (k1 - a) / S[k], room = z->g.dims[k] - start[k];
        count[k] = nk < room ? nk : room;
        int rc = read_box(z, start, count, (unsigned char *)dst + (a - k0) * z->g.esz, e);
        if (rc != MFS_OK) return rc;
        a += count[k] * S[k];
    }
    return MFS_OK;
}
