/* zip.c: read-only zip archives over a byte source.
 *
 * Listing. libzip is the authority on what the archive holds: we open it
 * through a zip_source_function that preads our mfs_src, so every kind of
 * source (file, memory, a member of another archive) works, and libzip's
 * checks of the end-of-central-directory records apply. libzip does not
 * say where a member's bytes begin, and that offset is what lets a stored
 * member be served with pread straight from the file. So we also walk the
 * central directory ourselves (EOCD, ZIP64 locator/EOCD, entries with
 * their ZIP64 extra field), just far enough to get each member's local
 * header offset, read the 30-byte local header (its name and extra
 * lengths differ from the central copy, so the data offset can only be
 * computed from it), and cross-check count, names, sizes, method and CRC
 * against libzip's listing: an archive on which the two disagree is
 * refused rather than served with guessed offsets. Every offset and size
 * is checked against the source size.
 *
 * Member sources. A stored member is a window source: pread at
 * data_offset + off on the archive. A deflated member is an inflater with
 * restart points after zlib's examples/zran.c, built lazily: decoding
 * proceeds into a 32 KiB circular window, and whenever it crosses a
 * deflate block boundary more than `span` bytes of output after the last
 * access point, it records a new one (compressed offset, bit offset, the
 * 32 KiB window). A read at `off` restarts from the last point at or
 * before `off` (inflatePrime + inflateSetDictionary), or continues the
 * live stream when that is closer, so sequential reads cost O(n) in all
 * and a small read near the end of a big member inflates at most `span`
 * bytes once the index reaches that far. Memory is bounded: span grows
 * with the member so that there are at most MAX_POINTS points (32 KiB
 * each). One mutex per member source serialises its decoder; the window
 * doubles as a cache of the last 32 KiB decoded. */
#include "core/zip.h"
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>
#include <zlib.h>

/* ---------------------------------------------------------------- utils */

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

/* Upgrades an error already set in @e (a failed read) to MFS_FATAL. */
static int fatal(mfs_err *e)
{
    if (e) e->status = MFS_FATAL;
    return MFS_FATAL;
}

/* The public struct plus what only zip.c needs. */
struct zip_priv {
    struct mfs_zip pub;
    uint16_t *flags;     /* general purpose flags per member (bit 0: encrypted) */
};

/* ------------------------------------------------ libzip over an mfs_src */

struct zsrc_ctx {
    mfs_src *src;
    uint64_t pos;
    zip_error_t err;
    /* the central directory, read once by parse_cd: libzip reads it entry
     * by entry (a 46-byte header, then the name: two preads a member) */
    const unsigned char *cd;
    uint64_t cd_off, cd_size;
};

/* zip_source_callback for a read-only seekable source over ctx->src. */
static zip_int64_t zsrc_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    struct zsrc_ctx *c = ud;
    switch (cmd) {
    case ZIP_SOURCE_OPEN:
        c->pos = 0;
        return 0;
    case ZIP_SOURCE_READ: {
        if (c->pos >= c->src->size) return 0;
        if (c->cd && c->pos >= c->cd_off && c->pos - c->cd_off <= c->cd_size &&
            len <= c->cd_size - (c->pos - c->cd_off)) {
            memcpy(data, c->cd + (c->pos - c->cd_off), (size_t)len);
            c->pos += len;
            return (zip_int64_t)len;
        }
        mfs_err e;
        int64_t n = mfs_src_read(c->src, data, (size_t)(len > SIZE_MAX ? SIZE_MAX : len), c->pos, &e);
        if (n < 0) {
            zip_error_set(&c->err, ZIP_ER_READ, EIO);
            return -1;
        }
        c->pos += (uint64_t)n;
        return n;
    }
    case ZIP_SOURCE_CLOSE:
        return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = ZIP_SOURCE_GET_ARGS(zip_stat_t, data, len, &c->err);
        if (!st) return -1;
        zip_stat_init(st);
        st->size = c->src->size;
        st->valid |= ZIP_STAT_SIZE;
        return sizeof *st;
    }
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&c->err, data, len);
    case ZIP_SOURCE_FREE:
        return 0; /* ctx lives on mfs_zip_open's stack */
    case ZIP_SOURCE_SEEK: {
        zip_int64_t p = zip_source_seek_compute_offset(c->pos, c->src->size, data, len, &c->err);
        if (p < 0) return -1;
        c->pos = (uint64_t)p;
        return 0;
    }
    case ZIP_SOURCE_TELL:
        return (zip_int64_t)c->pos;
    case ZIP_SOURCE_SUPPORTS:
        return ZIP_SOURCE_SUPPORTS_SEEKABLE;
    default:
        zip_error_set(&c->err, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
}

/* ------------------------------------------- our own central directory */

#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define SIG_CDH 0x02014b50u
#define SIG_LFH 0x04034b50u
#define CD_MAX (1ull << 31) /* sanity limit on the central directory size */

/* find_cd() : locates the central directory. Sets *cd_off, *cd_size,
 * *count. @return MFS_OK or MFS_FATAL with @e set. */
static int find_cd(mfs_src *src, uint64_t *cd_off, uint64_t *cd_size, uint64_t *count, mfs_err *e)
{
    uint64_t size = src->size;
    MFS_CHECK(size >= 22, e, MFS_FATAL, EINVAL, 0, "not a zip: %llu bytes is too short",
              (unsigned long long)size);
    size_t tl = (size_t)(size < 65557 ? size : 65557);
    unsigned char *tail = malloc(tl);
    MFS_CHECK(tail, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (mfs_src_read_exact(src, tail, tl, size - tl, e) < 0) {
        free(tail);
        return fatal(e);
    }
    /* The last EOCD signature whose comment ends within the file. */
    long at = -1;
    for (long i = (long)tl - 22; i >= 0; i--) {
        if (le32(tail + i) == SIG_EOCD && (size_t)i + 22 + le16(tail + i + 20) <= tl) {
            at = i;
            break;
        }
    }
    if (at < 0) {
        free(tail);
        return mfs_err_set(e, MFS_FATAL, EINVAL, -1, "not a zip: no end of central directory record");
    }
    uint64_t eocd = size - tl + (uint64_t)at;
    const unsigned char *p = tail + at;
    uint64_t n = le16(p + 10), csz = le32(p + 12), coff = le32(p + 16);
    int multidisk = le16(p + 4) != 0 || le16(p + 6) != 0;
    int z64 = at >= 20 && le32(p - 20) == SIG_LOC64;
    uint64_t cd_end = eocd;
    if (z64) {
        uint64_t off64 = le64(p - 20 + 8);
        unsigned char r[56];
        free(tail);
        tail = NULL;
        MFS_CHECK(eocd >= 76 && off64 <= eocd - 76, e, MFS_FATAL, EINVAL, (int64_t)eocd - 20,
                  "zip64 end of central directory offset %llu out of range",
                  (unsigned long long)off64);
        if (mfs_src_read_exact(src, r, sizeof r, off64, e) < 0) return fatal(e);
        MFS_CHECK(le32(r) == SIG_EOCD64, e, MFS_FATAL, EINVAL, (int64_t)off64,
                  "bad zip64 end of central directory signature");
        n = le64(r + 32);
        csz = le64(r + 40);
        coff = le64(r + 48);
        cd_end = off64;
    } else {
        free(tail);
        MFS_CHECK(!multidisk, e, MFS_FATAL, EINVAL, (int64_t)eocd,
                  "multi-disk zip archives are not supported");
    }
    MFS_CHECK(coff <= cd_end && csz <= cd_end - coff, e, MFS_FATAL, EINVAL, (int64_t)eocd,
              "central directory [%llu, +%llu) lies outside the archive (ends at %llu)",
              (unsigned long long)coff, (unsigned long long)csz, (unsigned long long)cd_end);
    MFS_CHECK(csz <= CD_MAX && n <= csz / 46, e, MFS_FATAL, EINVAL, (int64_t)eocd,
              "central directory claims %llu entries in %llu bytes",
              (unsigned long long)n, (unsigned long long)csz);
    *cd_off = coff;
    *cd_size = csz;
    *count = n;
    return MFS_OK;
}

/* parse_cd() : fills z->m[i] (name, sizes, method, crc, data_offset)
 * and flags from the central directory and local headers. @return MFS_OK
 * or MFS_FATAL with @e set; partially filled members are freed by the
 * caller through mfs_zip_free. On MFS_OK *@keep is the central
 * directory's bytes (malloc'd, the caller frees). */
static int parse_cd(struct zip_priv *zp, uint64_t cd_off, uint64_t cd_size, unsigned char **keep,
                    mfs_err *e)
{
    struct mfs_zip *z = &zp->pub;
    mfs_src *src = z->src;
    unsigned char *cd = mfs_src_slurp(src, cd_off, cd_size, CD_MAX, e);
    if (!cd) return fatal(e);
    uint64_t pos = 0;
    int rc = MFS_OK;
    for (size_t i = 0; i < z->count; i++) {
        int64_t at = (int64_t)(cd_off + pos);
        if (cd_size - pos < 46 || le32(cd + pos) != SIG_CDH) {
            rc = mfs_err_set(e, MFS_FATAL, EINVAL, at, "bad central directory entry %zu", i);
            goto out;
        }
        const unsigned char *h = cd + pos;
        uint64_t nl = le16(h + 28), xl = le16(h + 30), cl = le16(h + 32);
        if (cd_size - pos - 46 < nl + xl + cl) {
            rc = mfs_err_set(e, MFS_FATAL, EINVAL, at, "central directory entry %zu is truncated", i);
            goto out;
        }
        struct mfs_zip_member *m = &z->m[i];
        zp->flags[i] = le16(h + 8);
        m->method = le16(h + 10);
        m->crc = le32(h + 16);
        m->comp_size = le32(h + 20);
        m->size = le32(h + 24);
        uint64_t lho = le32(h + 42);
        m->name = malloc(nl + 1);
        if (!m->name) {
            rc = mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            goto out;
        }
        memcpy(m->name, h + 46, nl);
        m->name[nl] = 0;
        m->is_dir = nl > 0 && m->name[nl - 1] == '/';
        /* ZIP64 extended information: the fields whose 32-bit copy is all
         * ones follow, in this order (APPNOTE 4.5.3). */
        const unsigned char *x = h + 46 + nl, *xe = x + xl;
        while (xe - x >= 4) {
            uint16_t id = le16(x), dl = le16(x + 2);
            if ((size_t)(xe - x - 4) < dl) break;
            if (id == 0x0001) {
                const unsigned char *d = x + 4, *de = d + dl;
                if (m->size == 0xFFFFFFFFu && de - d >= 8) m->size = le64(d), d += 8;
                if (m->comp_size == 0xFFFFFFFFu && de - d >= 8) m->comp_size = le64(d), d += 8;
                if (lho == 0xFFFFFFFFu && de - d >= 8) lho = le64(d), d += 8;
            }
            x += 4 + dl;
        }
        pos += 46 + nl + xl + cl;

        /* The local header: its name/extra lengths give the data offset. */
        unsigned char l[30];
        if (lho > src->size || src->size - lho < 30 + nl) {
            rc = mfs_err_set(e, MFS_FATAL, EINVAL, at,
                             "member %s: local header offset %llu out of range", m->name,
                             (unsigned long long)lho);
            goto out;
        }
        if (mfs_src_read_exact(src, l, 30, lho, e) < 0) {
            rc = fatal(e);
            goto out;
        }
        if (le32(l) != SIG_LFH || le16(l + 26) != nl) {
            rc = mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)lho,
                             "member %s: bad local header", m->name);
            goto out;
        }
        m->data_offset = lho + 30 + nl + le16(l + 28);
        if (m->data_offset > src->size || m->comp_size > src->size - m->data_offset) {
            rc = mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)lho,
                             "member %s: data [%llu, +%llu) lies outside the archive (%llu bytes)",
                             m->name, (unsigned long long)m->data_offset,
                             (unsigned long long)m->comp_size, (unsigned long long)src->size);
            goto out;
        }
        if (m->method == 0 && m->comp_size != m->size && !(zp->flags[i] & 1)) {
            rc = mfs_err_set(e, MFS_FATAL, EINVAL, at,
                             "member %s: stored but sizes differ (%llu vs %llu)", m->name,
                             (unsigned long long)m->comp_size, (unsigned long long)m->size);
            goto out;
        }
    }
out:
    if (rc == MFS_OK) *keep = cd;
    else free(cd);
    return rc;
}

/* cross_check() : compares our listing with libzip's. MFS_OK or MFS_FATAL. */
static int cross_check(struct mfs_zip *z, zip_t *za, mfs_err *e)
{
    zip_int64_t n = zip_get_num_entries(za, 0);
    MFS_CHECK(n >= 0 && (uint64_t)n == z->count, e, MFS_FATAL, EINVAL, -1,
              "zip: central directory lists %zu members, libzip %lld", z->count, (long long)n);
    for (size_t i = 0; i < z->count; i++) {
        zip_stat_t st;
        const struct mfs_zip_member *m = &z->m[i];
        MFS_CHECK(zip_stat_index(za, i, ZIP_FL_ENC_RAW, &st) == 0, e, MFS_FATAL, EINVAL, -1,
                  "zip: libzip cannot stat member %zu: %s", i, zip_strerror(za));
        int ok = (st.valid & ZIP_STAT_NAME) && strcmp(st.name, m->name) == 0;
        ok = ok && (!(st.valid & ZIP_STAT_SIZE) || st.size == m->size);
        ok = ok && (!(st.valid & ZIP_STAT_COMP_SIZE) || st.comp_size == m->comp_size);
        ok = ok && (!(st.valid & ZIP_STAT_COMP_METHOD) || st.comp_method == m->method);
        ok = ok && (!(st.valid & ZIP_STAT_CRC) || st.crc == m->crc);
        MFS_CHECK(ok, e, MFS_FATAL, EINVAL, -1,
                  "zip: member %zu (%s): central directory disagrees with libzip", i, m->name);
    }
    return MFS_OK;
}

struct mfs_zip *mfs_zip_open(mfs_src *src, mfs_err *e)
{
    struct zip_priv *zp = NULL;
    zip_source_t *zs = NULL;
    zip_t *za = NULL;
    struct zsrc_ctx c = {.src = src};
    unsigned char *cd = NULL;
    zip_error_t ze;
    uint64_t cd_off = 0, cd_size = 0, count = 0;

    zip_error_init(&c.err);
    zip_error_init(&ze);
    if (find_cd(src, &cd_off, &cd_size, &count, e) < 0) goto fail;
    zp = calloc(1, sizeof *zp);
    if (zp) {
        zp->pub.m = calloc(count ? count : 1, sizeof *zp->pub.m);
        zp->flags = calloc(count ? count : 1, sizeof *zp->flags);
    }
    if (!zp || !zp->pub.m || !zp->flags) {
        mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        goto fail;
    }
    zp->pub.src = mfs_src_ref(src);
    zp->pub.count = (size_t)count;
    if (parse_cd(zp, cd_off, cd_size, &cd, e) < 0) goto fail;
    c.cd = cd, c.cd_off = cd_off, c.cd_size = cd_size;

    zs = zip_source_function_create(zsrc_cb, &c, &ze);
    if (!zs) {
        mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "zip: %s", zip_error_strerror(&ze));
        goto fail;
    }
    za = zip_open_from_source(zs, ZIP_RDONLY, &ze);
    if (!za) {
        mfs_err_set(e, MFS_FATAL, EINVAL, -1, "not a readable zip: %s", zip_error_strerror(&ze));
        zip_source_free(zs);
        goto fail;
    }
    if (cross_check(&zp->pub, za, e) < 0) goto fail;
    zip_discard(za); /* frees zs */
    free(cd);
    zip_error_fini(&ze);
    zip_error_fini(&c.err);
    return &zp->pub;
fail:
    if (za) zip_discard(za);
    free(cd);
    zip_error_fini(&ze);
    zip_error_fini(&c.err);
    mfs_zip_free(zp ? &zp->pub : NULL);
    return NULL;
}

void mfs_zip_free(struct mfs_zip *z)
{
    if (!z) return;
    struct zip_priv *zp = (struct zip_priv *)z;
    for (size_t i = 0; z->m && i < z->count; i++) free(z->m[i].name);
    free(z->m);
    free(zp->flags);
    mfs_src_unref(z->src);
    free(zp);
}

long mfs_zip_find(const struct mfs_zip *z, const char *name)
{
    for (size_t i = 0; z && i < z->count; i++)
        if (strcmp(z->m[i].name, name) == 0) return (long)i;
    return -1;
}

/* ------------------------------------------------------ stored members */

struct window {
    mfs_src *src;  /* the archive, referenced */
    uint64_t base; /* data_offset */
};

static int64_t window_pread(mfs_src *s, void *buf, size_t len, uint64_t off, mfs_err *e)
{
    struct window *w = s->ctx;
    if (off >= s->size) return 0;
    if (len > s->size - off) len = (size_t)(s->size - off);
    return mfs_src_read(w->src, buf, len, w->base + off, e);
}

static void window_close(mfs_src *s)
{
    struct window *w = s->ctx;
    if (!w) return;
    mfs_src_unref(w->src);
    free(w);
}

static const struct mfs_src_ops window_ops = {window_pread, window_close};

/* ---------------------------------------------------- deflated members */

#define WIN 32768u             /* deflate's window: what a restart point keeps */
#define IN_CHUNK 65536u        /* compressed bytes read per pread */
#define SPAN_MIN (1u << 20)    /* an access point every >= 1 MiB of output */
#define MAX_POINTS 1024u       /* at most 32 MiB of windows per member */

struct point {
    uint64_t out;              /* uncompressed offset of the block start */
    uint64_t in;               /* compressed offset of the byte holding its first bit */
    int bits;                  /* bits of the byte before `in` that belong to it (0..7) */
    unsigned char *window;     /* the WIN bytes of output before `out` */
};

struct inflater {
    pthread_mutex_t mu;
    mfs_src *src;              /* the archive, referenced */
    uint64_t base;             /* compressed data offset in src */
    uint64_t csize, usize;
    uint32_t crc;              /* expected CRC-32 of the whole member */
    uint64_t span;
    struct point *pts;
    size_t npts, cap;
    /* the live stream */
    int live;                  /* zs is initialised */
    int win_valid;             /* win/out_pos/wpos describe real output */
    z_stream zs;
    uint64_t in_pos;           /* compressed bytes read so far (fed to zs) */
    uint64_t out_pos;          /* uncompressed bytes produced so far */
    unsigned wpos;             /* where the next output goes in win */
    int from_start;            /* session began at 0: running CRC is meaningful */
    uLong run_crc;
    unsigned char win[WIN];
    unsigned char in[IN_CHUNK];
    uint64_t inflated_total;   /* test hook: bytes inflated over the lifetime */
};

static void infl_end(struct inflater *f)
{
    if (f->live) inflateEnd(&f->zs);
    f->live = 0;
}

/* infl_start() : a fresh session at point @p (NULL: the stream start).
 * MFS_OK or MFS_FAILED (EIO) with @e set. */
static int infl_start(struct inflater *f, const struct point *p, mfs_err *e)
{
    infl_end(f);
    memset(&f->zs, 0, sizeof f->zs);
    if (inflateInit2(&f->zs, -15) != Z_OK)
        return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "inflateInit2 failed");
    f->live = 1;
    f->win_valid = 0;
    f->zs.avail_in = 0;
    f->wpos = 0;
    if (!p) {
        f->in_pos = f->out_pos = 0;
        f->from_start = 1;
        f->run_crc = crc32(0L, Z_NULL, 0);
        memset(f->win, 0, WIN);
        f->win_valid = 1;
        return MFS_OK;
    }
    f->from_start = 0;
    f->in_pos = p->in;
    f->out_pos = p->out;
    if (p->bits) {
        unsigned char b;
        if (mfs_src_read_exact(f->src, &b, 1, f->base + p->in - 1, e) < 0) {
            infl_end(f);
            return MFS_FAILED;
        }
        inflatePrime(&f->zs, p->bits, b >> (8 - p->bits));
    }
    memcpy(f->win, p->window, WIN); /* with wpos = 0, win is "the last WIN bytes" */
    inflateSetDictionary(&f->zs, f->win, WIN);
    f->win_valid = 1;
    return MFS_OK;
}

/* maybe_add_point() : records an access point at the current block boundary
 * when the index is to be extended. Silently skipped on OOM or when full. */
static void maybe_add_point(struct inflater *f)
{
    uint64_t last = f->npts ? f->pts[f->npts - 1].out : 0;
    if (f->out_pos <= last || f->out_pos - last < f->span || f->npts >= MAX_POINTS) return;
    if (f->npts == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 8;
        struct point *np = realloc(f->pts, nc * sizeof *np);
        if (!np) return;
        f->pts = np;
        f->cap = nc;
    }
    unsigned char *w = malloc(WIN);
    if (!w) return;
    /* circular: the oldest byte is at wpos */
    memcpy(w, f->win + f->wpos, WIN - f->wpos);
    memcpy(w + (WIN - f->wpos), f->win, f->wpos);
    struct point *p = &f->pts[f->npts++];
    p->out = f->out_pos;
    p->in = f->in_pos - f->zs.avail_in;
    p->bits = f->zs.data_type & 7;
    p->window = w;
}

/* infl_step() : one inflate() call producing into the window; the new
 * bytes are win[*at, *at + *got) for output [out_pos - *got, out_pos).
 * MFS_OK, or MFS_FAILED with @e set (corrupt or truncated stream). */
static int infl_step(struct inflater *f, unsigned *at, unsigned *got, mfs_err *e)
{
    uint64_t left = f->csize - f->in_pos;
    if (f->zs.avail_in == 0 && left > 0) {
        size_t n = left < IN_CHUNK ? (size_t)left : IN_CHUNK;
        if (mfs_src_read_exact(f->src, f->in, n, f->base + f->in_pos, e) < 0) return MFS_FAILED;
        f->in_pos += n;
        f->zs.next_in = f->in;
        f->zs.avail_in = (uInt)n;
    }
    if (f->wpos == WIN) f->wpos = 0;
    f->zs.next_out = f->win + f->wpos;
    f->zs.avail_out = WIN - f->wpos;
    uInt in_before = f->zs.avail_in;
    int r = inflate(&f->zs, Z_BLOCK);
    unsigned n = (WIN - f->wpos) - f->zs.avail_out;
    int64_t where = (int64_t)(f->base + f->in_pos - f->zs.avail_in);
    int progress = n > 0 || f->zs.avail_in != in_before;
    /* Without input left, inflate may still finish from the bits it
     * holds (the end-of-block code); no progress then means truncation. */
    if (!progress && f->zs.avail_in == 0 && f->in_pos == f->csize && r != Z_STREAM_END) {
        infl_end(f);
        f->win_valid = 0;
        return mfs_err_set(e, MFS_FAILED, EIO, (int64_t)(f->base + f->csize),
                           "deflate stream truncated at %llu of %llu bytes",
                           (unsigned long long)f->out_pos, (unsigned long long)f->usize);
    }
    if (r != Z_OK && r != Z_STREAM_END && !(r == Z_BUF_ERROR && progress)) {
        infl_end(f);
        f->win_valid = 0;
        return mfs_err_set(e, MFS_FAILED, EIO, where, "corrupt deflate data: %s",
                           f->zs.msg ? f->zs.msg : "inflate failed");
    }
    if (n > f->usize - f->out_pos) {
        infl_end(f);
        f->win_valid = 0;
        return mfs_err_set(e, MFS_FAILED, EIO, where, "deflate stream longer than %llu bytes",
                           (unsigned long long)f->usize);
    }
    *at = f->wpos;
    *got = n;
    if (f->from_start) f->run_crc = crc32(f->run_crc, f->win + f->wpos, n);
    f->wpos += n;
    f->out_pos += n;
    f->inflated_total += n;
    if (r == Z_STREAM_END) {
        int bad_len = f->out_pos != f->usize, bad_crc = f->from_start && f->run_crc != f->crc;
        infl_end(f);
        f->win_valid = !bad_len && !bad_crc;
        if (bad_len)
            return mfs_err_set(e, MFS_FAILED, EIO, where, "deflate stream ends at %llu of %llu bytes",
                               (unsigned long long)f->out_pos, (unsigned long long)f->usize);
        if (bad_crc)
            return mfs_err_set(e, MFS_FAILED, EIO, where, "CRC-32 mismatch (stored %08x, computed %08lx)",
                               f->crc, f->run_crc);
        return MFS_OK;
    }
    if ((f->zs.data_type & 128) && !(f->zs.data_type & 64)) maybe_add_point(f);
    return MFS_OK;
}

/* The window holds output [out_pos - min(WIN, out_pos), out_pos) ending at
 * wpos; copy what of [off, off+len) it has. Returns bytes copied. */
static size_t from_window(struct inflater *f, uint64_t off, unsigned char *buf, size_t len)
{
    uint64_t have = f->out_pos < WIN ? f->out_pos : WIN;
    if (!f->win_valid || off < f->out_pos - have || off >= f->out_pos) return 0;
    size_t n = (size_t)(f->out_pos - off);
    if (n > len) n = len;
    /* the byte at out_pos - k sits at (wpos - k) mod WIN */
    unsigned back = (unsigned)(f->out_pos - off);
    unsigned i = (f->wpos + WIN - back) % WIN;
    size_t first = WIN - i < n ? WIN - i : n;
    memcpy(buf, f->win + i, first);
    memcpy(buf + first, f->win, n - first);
    return n;
}

static int64_t infl_pread(mfs_src *s, void *vbuf, size_t len, uint64_t off, mfs_err *e)
{
    struct inflater *f = s->ctx;
    unsigned char *buf = vbuf;
    if (off >= f->usize) return 0;
    if (len > f->usize - off) len = (size_t)(f->usize - off);
    size_t done = 0;
    pthread_mutex_lock(&f->mu);
    while (done < len) {
        uint64_t o = off + done;
        size_t c = from_window(f, o, buf + done, len - done);
        if (c) {
            done += c;
            continue;
        }
        /* best restart point at or before o */
        const struct point *p = NULL;
        for (size_t k = f->npts; k-- > 0;)
            if (f->pts[k].out <= o) {
                p = &f->pts[k];
                break;
            }
        uint64_t pstart = p ? p->out : 0;
        if (!f->live || f->out_pos > o || pstart > f->out_pos) {
            if (infl_start(f, p, e) < 0) goto fail;
        }
        while (f->out_pos <= o) {
            unsigned at, got;
            if (infl_step(f, &at, &got, e) < 0) goto fail;
            if (!f->live && f->out_pos <= o) { /* unreachable: usize > o */
                mfs_err_set(e, MFS_FAILED, EIO, -1, "deflate stream ended early");
                goto fail;
            }
        }
        /* the last step produced <= WIN bytes ending past o: o is in the
         * window. At the end of the member, run the stream to its end
         * marker so that its length and CRC get checked. */
        while (f->live && f->out_pos == f->usize) {
            unsigned at, got;
            if (infl_step(f, &at, &got, e) < 0) goto fail;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return (int64_t)done;
fail:
    pthread_mutex_unlock(&f->mu);
    return -1;
}

static void infl_close(mfs_src *s)
{
    struct inflater *f = s->ctx;
    if (!f) return;
    infl_end(f);
    for (size_t k = 0; k < f->npts; k++) free(f->pts[k].window);
    free(f->pts);
    mfs_src_unref(f->src);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static const struct mfs_src_ops infl_ops = {infl_pread, infl_close};

/** mfs_zip__inflated_bytes() : test hook (declared in tests/unit/test_zip.c,
 *  not in zip.h): bytes a deflated member source has inflated over its
 *  lifetime, or 0 for other sources. Lets tests check that the restart
 *  points are used. */
uint64_t mfs_zip__inflated_bytes(mfs_src *s)
{
    if (!s || s->ops != &infl_ops) return 0;
    struct inflater *f = s->ctx;
    pthread_mutex_lock(&f->mu);
    uint64_t n = f->inflated_total;
    pthread_mutex_unlock(&f->mu);
    return n;
}

mfs_src *mfs_zip_member_src(struct mfs_zip *z, size_t i, mfs_err *e)
{
    struct zip_priv *zp = (struct zip_priv *)z;
    if (!z || i >= z->count) {
        mfs_err_set(e, MFS_FAILED, EINVAL, -1, "zip: no member %zu", i);
        return NULL;
    }
    const struct mfs_zip_member *m = &z->m[i];
    char *path = NULL;
    mfs_src *s = NULL;
    if (zp->flags[i] & 1) {
        mfs_err_set(e, MFS_FAILED, ENOTSUP, (int64_t)m->data_offset,
                    "zip member %s is encrypted", m->name);
        return NULL;
    }
    if (m->method != 0 && m->method != 8) {
        mfs_err_set(e, MFS_FAILED, ENOTSUP, (int64_t)m->data_offset,
                    "zip member %s: compression method %u is not supported (only stored and deflate)",
                    m->name, m->method);
        return NULL;
    }
    if (asprintf(&path, "%s:%s", z->src->path ? z->src->path : "", m->name) < 0) path = NULL;
    if (m->method == 0) {
        struct window *w = calloc(1, sizeof *w);
        if (w) {
            w->src = mfs_src_ref(z->src);
            w->base = m->data_offset;
            s = mfs_src_new_custom(&window_ops, w, m->size, path ? path : m->name);
            if (!s) {
                mfs_src_unref(w->src);
                free(w);
            }
        }
    } else {
        struct inflater *f = calloc(1, sizeof *f);
        if (f) {
            pthread_mutex_init(&f->mu, NULL);
            f->src = mfs_src_ref(z->src);
            f->base = m->data_offset;
            f->csize = m->comp_size;
            f->usize = m->size;
            f->crc = m->crc;
            f->span = m->size / MAX_POINTS > SPAN_MIN ? m->size / MAX_POINTS : SPAN_MIN;
            s = mfs_src_new_custom(&infl_ops, f, m->size, path ? path : m->name);
            if (!s) {
                mfs_src_unref(f->src);
                pthread_mutex_destroy(&f->mu);
                free(f);
            }
        }
    }
    free(path);
    if (!s) mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    return s;
}

void *mfs_zip_read_member(struct mfs_zip *z, size_t i, uint64_t limit, mfs_err *e)
{
    if (!z || i >= z->count) {
        mfs_err_set(e, MFS_FAILED, EINVAL, -1, "zip: no member %zu", i);
        return NULL;
    }
    const struct mfs_zip_member *m = &z->m[i];
    if (m->size > limit || m->size >= SIZE_MAX) {
        mfs_err_set(e, MFS_FAILED, EFBIG, (int64_t)m->data_offset,
                    "zip member %s: %llu bytes exceeds the limit of %llu", m->name,
                    (unsigned long long)m->size, (unsigned long long)limit);
        return NULL;
    }
    mfs_src *s = mfs_zip_member_src(z, i, e);
    if (!s) return NULL;
    unsigned char *buf = malloc((size_t)m->size + 1);
    if (!buf) {
        mfs_src_unref(s);
        mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        return NULL;
    }
    /* read_exact in slices so a deflated member decodes in one session
     * (its CRC is then checked by the inflater) */
    uint64_t done = 0;
    while (done < m->size) {
        size_t n = m->size - done > (1u << 24) ? (1u << 24) : (size_t)(m->size - done);
        if (mfs_src_read_exact(s, buf + done, n, done, e) < 0) {
            mfs_err_prefix(e, "zip member %s", m->name);
            free(buf);
            mfs_src_unref(s);
            return NULL;
        }
        done += n;
    }
    mfs_src_unref(s);
    if (m->method == 0) {
        uLong c = crc32(0L, Z_NULL, 0);
        for (uint64_t o = 0; o < m->size; o += 1u << 30) {
            uInt n = m->size - o > (1u << 30) ? (1u << 30) : (uInt)(m->size - o);
            c = crc32(c, buf + o, n);
        }
        if (c != m->crc) {
            mfs_err_set(e, MFS_FAILED, EIO, (int64_t)m->data_offset,
                        "zip member %s: CRC-32 mismatch (stored %08x, computed %08lx)", m->name,
                        m->crc, c);
            free(buf);
            return NULL;
        }
    }
    buf[m->size] = 0;
    return buf;
}
