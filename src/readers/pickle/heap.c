/* heap.c: the arena that owns every object of the pickle VM.
 *
 * Chunks of 64 KiB (or one chunk per large request) are chained and freed
 * together by mfs_pk_heap_free. Every allocation is counted against
 * limits.max_alloc and every object against limits.max_objects, so a
 * hostile pickle (a billion EMPTY_LIST opcodes, a LONG4 of 2 GiB) ends in
 * a clear error instead of exhausting memory. */
#include "readers/pickle/vm_priv.h"
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#define CHUNK 65536

void mfs_pk_limits_default(struct mfs_pk_limits *l)
{
    l->max_input = (uint64_t)1 << 30;
    l->max_alloc = (uint64_t)2 << 30;
    l->max_objects = 50u * 1000 * 1000;
    l->max_depth = 10000;
    l->max_stack = 50u * 1000 * 1000;
    l->max_memo = 50u * 1000 * 1000;
    l->max_long = 65536;
    l->inline_max = 65536;
}

mfs_pk_heap *mfs_pk_heap_new(const struct mfs_pk_limits *lim)
{
    mfs_pk_heap *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    if (lim) h->lim = *lim;
    else mfs_pk_limits_default(&h->lim);
    if (h->lim.max_objects > UINT32_MAX - 1) h->lim.max_objects = UINT32_MAX - 1;
    return h;
}

void mfs_pk_heap_free(mfs_pk_heap *h)
{
    if (!h) return;
    struct mfs_pk_chunk *c = h->chunks;
    while (c) {
        struct mfs_pk_chunk *n = c->next;
        free(c);
        c = n;
    }
    free(h->globals);
    free(h);
}

uint32_t mfs_pk_heap_count(const mfs_pk_heap *h) { return h ? h->count : 0; }
uint64_t mfs_pk_heap_bytes(const mfs_pk_heap *h) { return h ? h->bytes : 0; }

const struct mfs_pk_global_ref *mfs_pk_heap_globals(const mfs_pk_heap *h, size_t *n)
{
    *n = h ? h->nglobals : 0;
    return h ? h->globals : NULL;
}

void *mfs_pk_alloc(mfs_pk_heap *h, size_t n, mfs_err *e)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (n > h->lim.max_alloc || h->bytes > h->lim.max_alloc - n) {
        mfs_err_set(e, MFS_FATAL, ENOMEM, -1,
                    "pickle: heap limit of %llu bytes exceeded",
                    (unsigned long long)h->lim.max_alloc);
        return NULL;
    }
    struct mfs_pk_chunk *c = h->chunks;
    if (!c || c->cap - c->used < n) {
        int big = n > CHUNK / 4;
        size_t cap = big ? n : CHUNK;
        struct mfs_pk_chunk *nc = malloc(sizeof *nc + cap);
        if (!nc) {
            mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "pickle: out of memory");
            return NULL;
        }
        nc->used = 0;
        nc->cap = cap;
        if (big && c) {
            /* a large block goes behind the current chunk, which keeps
             * serving small requests */
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            h->chunks = nc;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    h->bytes += n;
    memset(p, 0, n);
    return p;
}

mfs_pk *mfs_pk_new(mfs_pk_heap *h, enum mfs_pk_kind kind, uint64_t offset, mfs_err *e)
{
    if (h->count >= h->lim.max_objects) {
        mfs_err_set(e, MFS_FATAL, ENOMEM, (int64_t)offset,
                    "pickle: byte %llu: more than %llu objects",
                    (unsigned long long)offset, (unsigned long long)h->lim.max_objects);
        return NULL;
    }
    mfs_pk *o = mfs_pk_alloc(h, sizeof *o, e);
    if (!o) return NULL;
    o->kind = (uint8_t)kind;
    o->id = ++h->count;
    o->offset = offset;
    return o;
}

char *mfs_pk_strndup(mfs_pk_heap *h, const char *s, size_t len, mfs_err *e)
{
    if (len == SIZE_MAX) {
        mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "pickle: string too long");
        return NULL;
    }
    char *p = mfs_pk_alloc(h, len + 1, e);
    if (!p) return NULL;
    if (len) memcpy(p, s, len);
    p[len] = 0;
    return p;
}

mfs_pk *mfs_pk_new_str(mfs_pk_heap *h, const char *s, size_t len, uint64_t offset, mfs_err *e)
{
    mfs_pk *o = mfs_pk_new(h, MFS_PK_STR, offset, e);
    if (!o) return NULL;
    char *d = mfs_pk_strndup(h, s, len, e);
    if (!d) return NULL;
    o->u.s.data = d;
    o->u.s.len = len;
    o->u.s.off = offset;
    return o;
}

/* Grows *v (n used, *cap slots) to hold one more pointer. */
static int grow(mfs_pk_heap *h, mfs_pk ***v, size_t n, size_t *cap, mfs_err *e)
{
    if (n < *cap) return MFS_OK;
    size_t nc = *cap ? *cap * 2 : 4;
    if (nc > SIZE_MAX / sizeof(mfs_pk *))
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "pickle: container too large");
    mfs_pk **nv = mfs_pk_alloc(h, nc * sizeof *nv, e);
    if (!nv) return MFS_FATAL;
    if (n) memcpy(nv, *v, n * sizeof *nv);
    *v = nv;
    *cap = nc;
    return MFS_OK;
}

int mfs_pk_seq_push(mfs_pk_heap *h, mfs_pk *seq, mfs_pk *item, mfs_err *e)
{
    MFS_FORWARD(grow(h, &seq->u.seq.v, seq->u.seq.n, &seq->u.seq.cap, e));
    seq->u.seq.v[seq->u.seq.n++] = item;
    return MFS_OK;
}

int mfs_pk_dict_push(mfs_pk_heap *h, mfs_pk *d, mfs_pk *k, mfs_pk *v, mfs_err *e)
{
    size_t cap = d->u.dict.cap;
    MFS_FORWARD(grow(h, &d->u.dict.k, d->u.dict.n, &cap, e));
    if (cap != d->u.dict.cap) {
        mfs_pk **nv = mfs_pk_alloc(h, cap * sizeof *nv, e);
        if (!nv) return MFS_FATAL;
        if (d->u.dict.n) memcpy(nv, d->u.dict.v, d->u.dict.n * sizeof *nv);
        d->u.dict.v = nv;
        d->u.dict.cap = cap;
    }
    d->u.dict.k[d->u.dict.n] = k;
    d->u.dict.v[d->u.dict.n] = v;
    d->u.dict.n++;
    return MFS_OK;
}

struct mfs_pk_extra *mfs_pk_extra_get(mfs_pk_heap *h, mfs_pk *o, mfs_err *e)
{
    if (!o->x) o->x = mfs_pk_alloc(h, sizeof *o->x, e);
    return o->x;
}

int mfs_pk_heap_add_global(mfs_pk_heap *h, const struct mfs_pk_global_ref *r, mfs_err *e)
{
    if (h->nglobals == h->capglobals) {
        size_t nc = h->capglobals ? h->capglobals * 2 : 16;
        if (nc > h->lim.max_objects)
            return mfs_err_set(e, MFS_FATAL, ENOMEM, (int64_t)r->offset,
                               "pickle: too many globals");
        struct mfs_pk_global_ref *ng = realloc(h->globals, nc * sizeof *ng);
        if (!ng) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "pickle: out of memory");
        h->globals = ng;
        h->capglobals = nc;
    }
    h->globals[h->nglobals++] = *r;
    return MFS_OK;
}
