/* h5_tensor.c: an HDF5 dataset as an mfs_tensor.
 *
 * Types. A dataset's HDF5 type maps to a dtype and a *memory type*: the
 * type H5Dread converts to so that the bytes come out as the canonical
 * C-order little-endian data (HDF5 does the big-endian swap). Integers
 * and IEEE floats (float16 and bfloat16 too, recognised by their bit
 * fields) map directly; h5py's bool (an int8 enum FALSE/TRUE) is bool;
 * h5py's complex (compound of two floats "r", "i") is complex64/128; a
 * fixed-size array type of numbers adds its dimensions to the shape;
 * Keras 3 bfloat16 (a 2-byte dataset with attribute dtype="bfloat16") is
 * bfloat16; any other fixed-size type (opaque, compound) is shown as its
 * raw bytes: uint8 with an extra last dimension of the type's size.
 * Strings are text (h5_dataset_text), references and vlen sequences are
 * skipped.
 *
 * Locators. A contiguous, unfiltered, non-external, allocated dataset
 * whose stored bytes are already the canonical bytes (or their per-element
 * byte swap) is a PLAIN/BYTESWAP locator at H5Dget_offset(): the core
 * preads it with no HDF5 call and no lock. Everything else (chunked,
 * compressed, compact, not yet allocated = fill value, converted types)
 * is a CUSTOM locator whose read callback maps the byte range
 * [off, off+len) to the flat element range it covers and selects exactly
 * those elements as a union of at most 2*rank hyperslab boxes, so HDF5
 * reads only the chunks that hold them; partial elements at the edges go
 * through a small bounce buffer. The dataset stays open after its first
 * read (its chunk cache, sized to hold a few chunks, then serves the
 * neighbouring reads); at most MAX_OPEN datasets stay open, the least
 * recently read is closed first. Reads run under h5_lock (the tensor's
 * `lock`). */
#include "readers/h5_lib.h"
#include "readers/h5_chunks.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPEN 64
#define CACHE_MIN ((size_t)1 << 20)
#define CACHE_MAX ((size_t)64 << 20)
#define CACHE_BUDGET ((size_t)512 << 20) /* all open datasets' caches */

struct h5_dctx {
    struct h5_model *m;
    char *path;                /* dataset path, to open lazily */
    hid_t dset;                /* open dataset or H5I_INVALID_HID */
    hid_t mem;                 /* memory type (owned) */
    int nd;                    /* dataspace rank (0 = scalar) */
    hsize_t dims[MFS_MAX_DIMS];
    size_t esz;                /* canonical bytes per HDF5 element */
    size_t swap;               /* >1: byte-swap units of this size after reading */
    size_t chunk_bytes;        /* chunked: bytes of one chunk, else 0 */
    size_t cache_bytes;        /* its chunk cache size (0: not chunked) */
    int converts;              /* file type != memory type: HDF5 converts */
    struct h5z *z;             /* gzip/shuffle chunks decoded here (h5_chunks.c) */
    size_t conv_size;          /* max(file, memory) element size */
    unsigned long long last_use;
};

static unsigned long long g_tick;
static int g_open;          /* datasets kept open, all models (under h5_lock) */
static size_t g_cache;      /* their chunk caches' sizes added up */

/* ---- type mapping ------------------------------------------------------- */

struct tmap {
    mfs_dtype dt;
    hid_t mem;          /* owned; H5I_INVALID_HID when not mapped */
    int be;             /* stored big-endian */
    int plain_ok;       /* stored bytes == canonical bytes (after per-item swap if be) */
    size_t swap;        /* manual swap unit after raw reads (enum BE) */
    int extra_nd;       /* extra trailing dims from array types / raw bytes */
    hsize_t extra[8];
    char desc[96];
};

static mfs_dtype int_dtype(size_t size, int sign)
{
    switch (size) {
    case 1: return sign ? MFS_DT_I8 : MFS_DT_U8;
    case 2: return sign ? MFS_DT_I16 : MFS_DT_U16;
    case 4: return sign ? MFS_DT_I32 : MFS_DT_U32;
    case 8: return sign ? MFS_DT_I64 : MFS_DT_U64;
    default: return MFS_DT_INVALID;
    }
}

/* Maps integer/float/bitfield type @ft; 0 on success, -1 if unsupported.
 * Sets dt, mem, be, plain_ok. */
static int map_number(hid_t ft, struct tmap *m)
{
    H5T_class_t c = H5Tget_class(ft);
    size_t size = H5Tget_size(ft);
    m->be = H5Tget_order(ft) == H5T_ORDER_BE;
    size_t prec = H5Tget_precision(ft);
    int off = H5Tget_offset(ft);
    if (c == H5T_INTEGER || c == H5T_BITFIELD) {
        int sign = c == H5T_INTEGER && H5Tget_sign(ft) == H5T_SGN_2;
        m->dt = int_dtype(size, sign);
        if (m->dt == MFS_DT_INVALID) return -1;
        if (c == H5T_BITFIELD) {
            m->mem = H5Tcopy(ft);
            if (m->mem >= 0 && size > 1) H5Tset_order(m->mem, H5T_ORDER_LE);
        } else {
            hid_t std;
            switch (size) {
            case 1: std = sign ? H5T_STD_I8LE : H5T_STD_U8LE; break;
            case 2: std = sign ? H5T_STD_I16LE : H5T_STD_U16LE; break;
            case 4: std = sign ? H5T_STD_I32LE : H5T_STD_U32LE; break;
            default: std = sign ? H5T_STD_I64LE : H5T_STD_U64LE; break;
            }
            m->mem = H5Tcopy(std);
        }
        m->plain_ok = prec == size * 8 && off == 0;
        snprintf(m->desc, sizeof m->desc, "%s%zu %s", c == H5T_BITFIELD ? "bitfield" :
                 sign ? "int" : "uint", size * 8, m->be ? "big-endian" : "little-endian");
        return m->mem >= 0 ? 0 : -1;
    }
    if (c != H5T_FLOAT) return -1;
    size_t spos, epos, esize, mpos, msize;
    if (H5Tget_fields(ft, &spos, &epos, &esize, &mpos, &msize) < 0) return -1;
    int std = 0;
    if (size == 2 && spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10) {
        m->dt = MFS_DT_F16, std = 1;
    } else if (size == 2 && spos == 15 && epos == 7 && esize == 8 && mpos == 0 && msize == 7) {
        m->dt = MFS_DT_BF16, std = 1;
    } else if (size == 4) {
        m->dt = MFS_DT_F32;
        std = spos == 31 && epos == 23 && esize == 8 && mpos == 0 && msize == 23;
    } else if (size == 8) {
        m->dt = MFS_DT_F64;
        std = spos == 63 && epos == 52 && esize == 11 && mpos == 0 && msize == 52;
    } else if (size > 8 && size <= 16) {
        m->dt = MFS_DT_F64; /* long double: converted (precision lost) */
    } else {
        return -1;
    }
    if (m->dt == MFS_DT_F32) m->mem = H5Tcopy(H5T_IEEE_F32LE);
    else if (m->dt == MFS_DT_F64) m->mem = H5Tcopy(H5T_IEEE_F64LE);
    else {
        /* half types: same layout, little-endian (HDF5's order conversion) */
        m->mem = H5Tcopy(ft);
        if (m->mem >= 0) H5Tset_order(m->mem, H5T_ORDER_LE);
    }
    m->plain_ok = std && prec == size * 8 && off == 0 && H5Tget_norm(ft) == H5T_NORM_IMPLIED;
    snprintf(m->desc, sizeof m->desc, "float%zu %s", size * 8, m->be ? "big-endian" : "little-endian");
    return m->mem >= 0 ? 0 : -1;
}

/* h5py's bool: an enum of a 1-byte integer with exactly FALSE=0, TRUE=1. */
static int is_h5py_bool(hid_t ft)
{
    if (H5Tget_nmembers(ft) != 2 || H5Tget_size(ft) != 1) return 0;
    for (unsigned i = 0; i < 2; i++) {
        char *name = H5Tget_member_name(ft, i);
        signed char val = -1;
        int ok = name && H5Tget_member_value(ft, i, &val) >= 0 &&
                 ((strcmp(name, "FALSE") == 0 && val == 0) || (strcmp(name, "TRUE") == 0 && val == 1));
        H5free_memory(name);
        if (!ok) return 0;
    }
    return 1;
}

/* h5py's complex: compound {r: float, i: float} of equal types. */
static int map_complex(hid_t ft, struct tmap *m)
{
    if (H5Tget_nmembers(ft) != 2) return -1;
    size_t size = H5Tget_size(ft);
    if (size != 8 && size != 16) return -1;
    hid_t a = H5Tget_member_type(ft, 0), b = H5Tget_member_type(ft, 1);
    int rc = -1;
    if (a < 0 || b < 0) goto out;
    if (H5Tget_class(a) != H5T_FLOAT || H5Tequal(a, b) <= 0 || H5Tget_size(a) * 2 != size ||
        H5Tget_member_offset(ft, 0) != 0 || H5Tget_member_offset(ft, 1) != size / 2)
        goto out;
    struct tmap sub = {0};
    sub.mem = H5I_INVALID_HID;
    if (map_number(a, &sub) < 0 || (sub.dt != MFS_DT_F32 && sub.dt != MFS_DT_F64)) {
        if (sub.mem >= 0) H5Tclose(sub.mem);
        goto out;
    }
    char *n0 = H5Tget_member_name(ft, 0), *n1 = H5Tget_member_name(ft, 1);
    m->mem = H5Tcreate(H5T_COMPOUND, size);
    if (m->mem >= 0 && n0 && n1 && H5Tinsert(m->mem, n0, 0, sub.mem) >= 0 &&
        H5Tinsert(m->mem, n1, size / 2, sub.mem) >= 0) {
        m->dt = sub.dt == MFS_DT_F32 ? MFS_DT_C64 : MFS_DT_C128;
        m->be = sub.be;
        m->plain_ok = sub.plain_ok && !sub.be; /* BE complex: per-component swap */
        snprintf(m->desc, sizeof m->desc, "complex%zu %s", size * 8,
                 sub.be ? "big-endian" : "little-endian");
        rc = 0;
    }
    H5free_memory(n0);
    H5free_memory(n1);
    H5Tclose(sub.mem);
out:
    if (a >= 0) H5Tclose(a);
    if (b >= 0) H5Tclose(b);
    return rc;
}

/* Fills @m for file type @ft. Returns H5K_TENSOR, H5K_STRINGS or H5K_SKIP
 * (with *why). @bf16 is set when the dataset says dtype="bfloat16". */
static enum h5_dkind map_type(hid_t ft, int bf16, struct tmap *m, const char **why)
{
    memset(m, 0, sizeof *m);
    m->mem = H5I_INVALID_HID;
    H5T_class_t c = H5Tget_class(ft);
    size_t size = H5Tget_size(ft);
    if (c == H5T_STRING) return H5K_STRINGS;
    if (bf16 && size == 2 && (c == H5T_INTEGER || c == H5T_OPAQUE || c == H5T_BITFIELD ||
                              c == H5T_FLOAT)) {
        /* Keras 3: raw bfloat16 bits in a 2-byte type (FORMATS.md §2.2) */
        m->dt = MFS_DT_BF16;
        m->be = c != H5T_OPAQUE && H5Tget_order(ft) == H5T_ORDER_BE;
        m->mem = H5Tcopy(ft);
        m->swap = m->be ? 2 : 0;
        m->plain_ok = 1;
        snprintf(m->desc, sizeof m->desc, "bfloat16 (Keras dtype attribute)");
        return m->mem >= 0 ? H5K_TENSOR : H5K_SKIP;
    }
    switch (c) {
    case H5T_INTEGER:
    case H5T_FLOAT:
    case H5T_BITFIELD:
        if (map_number(ft, m) == 0) return H5K_TENSOR;
        break;
    case H5T_ENUM:
        if (is_h5py_bool(ft)) {
            m->dt = MFS_DT_BOOL;
            m->mem = H5Tcopy(ft);
            m->plain_ok = 1;
            snprintf(m->desc, sizeof m->desc, "bool (h5py enum)");
            return H5K_TENSOR;
        } else {
            hid_t base = H5Tget_super(ft);
            if (base >= 0 && H5Tget_class(base) == H5T_INTEGER) {
                m->dt = int_dtype(H5Tget_size(base), H5Tget_sign(base) == H5T_SGN_2);
                m->be = H5Tget_order(base) == H5T_ORDER_BE;
            }
            if (base >= 0) H5Tclose(base);
            if (m->dt != MFS_DT_INVALID) {
                m->mem = H5Tcopy(ft); /* enum -> int has no HDF5 conversion: raw + swap */
                m->swap = m->be ? size : 0;
                m->plain_ok = 1;
                snprintf(m->desc, sizeof m->desc, "enum of int%zu", size * 8);
                return H5K_TENSOR;
            }
        }
        break;
    case H5T_COMPOUND:
        if (map_complex(ft, m) == 0) return H5K_TENSOR;
        break;
    case H5T_ARRAY: {
        int nd = H5Tget_array_ndims(ft);
        hid_t base = H5Tget_super(ft);
        struct tmap sub;
        memset(&sub, 0, sizeof sub);
        sub.mem = H5I_INVALID_HID;
        if (nd > 0 && nd <= 8 && base >= 0 && H5Tget_array_dims2(ft, m->extra) == nd &&
            (H5Tget_class(base) == H5T_INTEGER || H5Tget_class(base) == H5T_FLOAT) &&
            map_number(base, &sub) == 0) {
            m->mem = H5Tarray_create2(sub.mem, (unsigned)nd, m->extra);
            m->dt = sub.dt;
            m->be = sub.be;
            m->plain_ok = sub.plain_ok;
            m->extra_nd = nd;
            snprintf(m->desc, sizeof m->desc, "array of %s", sub.desc);
        }
        if (sub.mem >= 0) H5Tclose(sub.mem);
        if (base >= 0) H5Tclose(base);
        if (m->mem >= 0) return H5K_TENSOR;
        m->extra_nd = 0;
        break;
    }
    default:
        break;
    }
    if (m->mem >= 0) H5Tclose(m->mem);
    m->mem = H5I_INVALID_HID;
    if (c == H5T_VLEN) {
        *why = "variable-length sequences are not shown";
        return H5K_SKIP;
    }
    if (c == H5T_REFERENCE) {
        *why = "object/region references are not shown";
        return H5K_SKIP;
    }
    if (size == 0 || size > (1u << 20)) {
        *why = "element type too large";
        return H5K_SKIP;
    }
    if (H5Tdetect_class(ft, H5T_VLEN) > 0 || H5Tdetect_class(ft, H5T_REFERENCE) > 0 ||
        (H5Tdetect_class(ft, H5T_STRING) > 0 && H5Tis_variable_str(ft) > 0)) {
        *why = "type holds variable-length parts";
        return H5K_SKIP;
    }
    /* raw bytes of any other fixed-size type, as stored */
    m->dt = MFS_DT_U8;
    m->mem = H5Tcopy(ft);
    m->plain_ok = 1;
    m->extra_nd = 1;
    m->extra[0] = size;
    snprintf(m->desc, sizeof m->desc, "raw %zu-byte elements (hdf5 class %d)", size, (int)c);
    return m->mem >= 0 ? H5K_TENSOR : H5K_SKIP;
}

/* dtype="bfloat16" attribute (Keras 3) on the dataset. */
static int has_bf16_attr(hid_t dset)
{
    if (h5_attr_exists(dset, "dtype") != 1) return 0;
    char *s = h5_attr_string(dset, "dtype", NULL);
    int r = s && strcmp(s, "bfloat16") == 0;
    free(s);
    return r;
}

/* ---- reading -------------------------------------------------------------- */

/* The flat C-order element range [a, b) of an array of shape @dims is a
 * union of at most 2*rank boxes: at each step the largest aligned block
 * that fits (coordinates fixed above dimension k, a run along k, whole
 * extents below). Each box is itself a contiguous flat run, so it can be
 * read straight into its place in the output. next_box() gives the box
 * starting at @a (start/count) and returns its element count. */
static uint64_t next_box(int nd, const hsize_t *dims, const uint64_t *S, uint64_t a, uint64_t b,
                         hsize_t *start, hsize_t *count)
{
    int k = nd - 1;
    for (int j = 0; j < nd; j++)
        if (a % S[j] == 0 && S[j] <= b - a) {
            k = j;
            break;
        }
    for (int j = 0; j < nd; j++) {
        start[j] = j <= k ? (a / S[j]) % dims[j] : 0;
        count[j] = j < k ? 1 : dims[j];
    }
    uint64_t n = (b - a) / S[k], room = dims[k] - start[k];
    count[k] = n < room ? n : room;
    return count[k] * S[k];
}

static void close_lru(struct h5_model *m)
{
    struct h5_dctx *victim = NULL;
    for (size_t i = 0; i < m->nctx; i++) {
        struct h5_dctx *c = m->ctx[i];
        if (c->dset >= 0 && (!victim || c->last_use < victim->last_use)) victim = c;
    }
    if (victim) {
        H5Dclose(victim->dset);
        victim->dset = H5I_INVALID_HID;
        g_open--;
        g_cache -= victim->cache_bytes;
    }
}

static int ensure_open(struct h5_dctx *c, mfs_err *e)
{
    c->last_use = ++g_tick;
    if (c->dset >= 0) return MFS_OK;
    for (int guard = 0; guard < MAX_OPEN + 1 && g_open > 0 &&
                        (g_open >= MAX_OPEN || g_cache + c->cache_bytes > CACHE_BUDGET); guard++)
        close_lru(c->m);
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl >= 0 && c->cache_bytes) H5Pset_chunk_cache(dapl, 12421, c->cache_bytes, 0.75);
    c->dset = H5Dopen2(c->m->file, c->path, dapl >= 0 ? dapl : H5P_DEFAULT);
    if (dapl >= 0) H5Pclose(dapl);
    if (c->dset < 0) return h5_err(e, MFS_FAILED, EIO, "%s: cannot open the dataset", c->path);
    g_open++;
    g_cache += c->cache_bytes;
    return MFS_OK;
}

static void swap_units(unsigned char *p, size_t n, size_t unit)
{
    for (size_t i = 0; i + unit <= n; i += unit)
        for (size_t a = 0, b = unit - 1; a < b; a++, b--) {
            unsigned char t = p[i + a];
            p[i + a] = p[i + b];
            p[i + b] = t;
        }
}

/* A transfer property list whose type-conversion buffer fits @n elements:
 * HDF5's default (1 MiB, and as much again for the background buffer of
 * compound conversions) is allocated and zeroed on every converting read,
 * which dominated small reads. H5P_DEFAULT when no conversion is needed
 * or on failure; the caller closes anything else. */
static hid_t xfer_plist(struct h5_dctx *c, uint64_t n)
{
    if (!c->converts) return H5P_DEFAULT;
    uint64_t want = n * c->conv_size;
    if (want < c->conv_size * 16) want = c->conv_size * 16;
    if (want > ((uint64_t)1 << 20)) return H5P_DEFAULT;
    hid_t dx = H5Pcreate(H5P_DATASET_XFER);
    if (dx < 0 || H5Pset_buffer(dx, (size_t)want, NULL, NULL) < 0) {
        if (dx >= 0) H5Pclose(dx);
        H5Eclear2(H5E_DEFAULT);
        return H5P_DEFAULT;
    }
    return dx;
}

/* Reads HDF5 elements [k0, k1) into @dst (canonical bytes), one H5Dread
 * per box (see next_box) with a memory space of the box's own shape:
 * libhdf5 1.10 maps a regular selection onto chunks with whole-hyperslab
 * arithmetic, but walks an irregular one (a union of boxes) or one whose
 * memory shape differs element by element, which was ~20x slower. */
static int read_elems(struct h5_dctx *c, uint64_t k0, uint64_t k1, void *dst, mfs_err *e)
{
    herr_t r = 0;
    hid_t dx = xfer_plist(c, k1 - k0);
    if (c->nd == 0) {
        r = H5Dread(c->dset, c->mem, H5S_ALL, H5S_ALL, dx, dst);
    } else {
        uint64_t S[MFS_MAX_DIMS];
        S[c->nd - 1] = 1;
        for (int k = c->nd - 2; k >= 0; k--) S[k] = S[k + 1] * c->dims[k + 1];
        hid_t fspace = H5Dget_space(c->dset);
        if (fspace < 0) r = -1;
        for (uint64_t a = k0; r >= 0 && a < k1;) {
            hsize_t start[MFS_MAX_DIMS], count[MFS_MAX_DIMS];
            uint64_t n = next_box(c->nd, c->dims, S, a, k1, start, count);
            hid_t mspace = H5Screate_simple(c->nd, count, NULL);
            r = -1;
            if (mspace >= 0 &&
                H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
                r = H5Dread(c->dset, c->mem, mspace, fspace, dx,
                            (unsigned char *)dst + (a - k0) * c->esz);
            if (mspace >= 0) H5Sclose(mspace);
            a += n;
        }
        if (fspace >= 0) H5Sclose(fspace);
    }
    if (dx != H5P_DEFAULT) H5Pclose(dx);
    if (r < 0)
        return h5_err(e, MFS_FAILED, EIO, "%s: reading elements [%llu, %llu) failed", c->path,
                      (unsigned long long)k0, (unsigned long long)k1);
    if (c->swap > 1) swap_units(dst, (size_t)(k1 - k0) * c->esz, c->swap);
    return MFS_OK;
}

/* Elements [k0, k1) into @dst: through h5_chunks.c when the dataset has a
 * decoder (taking h5_lock only to locate chunks, or for the libhdf5 path
 * when a chunk is unallocated), else through libhdf5 (caller holds the
 * lock). */
static int read_range(struct h5_dctx *c, uint64_t k0, uint64_t k1, void *dst, mfs_err *e)
{
    if (!c->z) return read_elems(c, k0, k1, dst, e);
    int rc = h5z_read(c->z, k0, k1, dst, e);
    if (rc != H5Z_FALLBACK) return rc;
    h5_enter();
    rc = ensure_open(c, e);
    if (rc == MFS_OK) rc = read_elems(c, k0, k1, dst, e);
    h5_leave();
    return rc;
}

/* Bytes [off, off+len) of the canonical data: whole elements straight
 * into @buf, partial ones at either end through a bounce buffer. */
static int read_bytes(struct h5_dctx *c, uint64_t off, void *buf, size_t len, mfs_err *e)
{
    uint64_t esz = c->esz, end = off + len;
    uint64_t ea = (off + esz - 1) / esz, eb = end / esz;
    unsigned char *out = buf;
    if (ea < eb) MFS_FORWARD(read_range(c, ea, eb, out + (ea * esz - off), e));
    unsigned char *tmp = NULL;
    if (off % esz || end % esz) {
        tmp = malloc(esz);
        if (!tmp) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    }
    int rc = MFS_OK;
    if (off % esz) { /* head: part of element off/esz */
        uint64_t k = off / esz;
        rc = read_range(c, k, k + 1, tmp, e);
        if (rc == MFS_OK) {
            uint64_t lo = off - k * esz, hi = end - k * esz < esz ? end - k * esz : esz;
            memcpy(out, tmp + lo, (size_t)(hi - lo));
        }
    }
    if (rc == MFS_OK && end % esz && !(off % esz && off / esz == eb)) { /* tail */
        rc = read_range(c, eb, eb + 1, tmp, e);
        if (rc == MFS_OK) memcpy(out + (eb * esz - off), tmp, (size_t)(end - eb * esz));
    }
    free(tmp);
    return rc;
}

/* The CUSTOM read callback of libhdf5-read tensors (the core holds
 * h5_lock around it). */
static int h5_read_cb(const mfs_tensor *t, uint64_t off, void *buf, size_t len, mfs_err *e)
{
    struct h5_dctx *c = t->read_ctx;
    h5_thread_init();
    MFS_FORWARD(ensure_open(c, e));
    return read_bytes(c, off, buf, len, e);
}

/* The callback of tensors with a chunk decoder: no core lock, so reads
 * of such tensors run in parallel; h5_lock is taken inside only around
 * libhdf5 calls. */
static int h5_read_fast_cb(const mfs_tensor *t, uint64_t off, void *buf, size_t len, mfs_err *e)
{
    return read_bytes(t->read_ctx, off, buf, len, e);
}

/* h5z_locate_fn: where a chunk lives, asked of libhdf5 under the lock. */
static int locate_chunk(void *ctx, const hsize_t *offset, haddr_t *addr, hsize_t *size,
                        unsigned *mask, mfs_err *e)
{
    struct h5_dctx *c = ctx;
    h5_enter();
    int rc = ensure_open(c, e);
    if (rc == MFS_OK && H5Dget_chunk_info_by_coord(c->dset, offset, mask, addr, size) < 0)
        rc = h5_err(e, MFS_FAILED, EIO, "%s: cannot locate a chunk", c->path);
    h5_leave();
    return rc == MFS_OK ? 0 : -1;
}

void h5_tensor_close_all(struct h5_model *m)
{
    for (size_t i = 0; i < m->nctx; i++) {
        struct h5_dctx *c = m->ctx[i];
        if (c->dset >= 0) {
            H5Dclose(c->dset);
            g_open--;
            g_cache -= c->cache_bytes;
        }
        if (c->mem >= 0) H5Tclose(c->mem);
        h5z_free(c->z);
        free(c->path);
        free(c);
    }
    free(m->ctx);
    m->ctx = NULL;
    m->nctx = m->capctx = 0;
}

/* ---- dataset -> tensor ---------------------------------------------------- */

static const char *filter_name(H5Z_filter_t id)
{
    switch (id) {
    case H5Z_FILTER_DEFLATE: return "gzip";
    case H5Z_FILTER_SHUFFLE: return "shuffle";
    case H5Z_FILTER_FLETCHER32: return "fletcher32";
    case H5Z_FILTER_SZIP: return "szip";
    case H5Z_FILTER_NBIT: return "nbit";
    case H5Z_FILTER_SCALEOFFSET: return "scaleoffset";
    case 32000: return "lzf";
    case 32001: return "blosc";
    case 32004: return "lz4";
    case 32015: return "zstd";
    default: return NULL;
    }
}

int h5_tensor_from_dataset(struct h5_model *m, mfs_tree *t, hid_t dset, const char *path,
                           mfs_tensor **out, enum h5_dkind *kind, const char **why, mfs_err *e)
{
    *out = NULL;
    *why = NULL;
    int rc = MFS_FAILED;
    struct tmap tm;
    memset(&tm, 0, sizeof tm);
    tm.mem = H5I_INVALID_HID;
    struct h5_dctx *c = NULL;
    json_t *info = NULL;
    /* A defined raw-data address means contiguous, allocated, unfiltered
     * and not external (HDF5 gives none for chunked, compact and external
     * storage): no need for the creation property list, whose copy is a
     * good part of a dataset's cost at mount. */
    haddr_t addr = H5Dget_offset(dset);
    H5Eclear2(H5E_DEFAULT);
    hid_t ft = H5Dget_type(dset), space = H5Dget_space(dset);
    hid_t dcpl = addr == HADDR_UNDEF ? H5Dget_create_plist(dset) : H5I_INVALID_HID;
    if (ft < 0 || space < 0 || (addr == HADDR_UNDEF && dcpl < 0)) {
        h5_err(e, MFS_FAILED, EIO, "%s: cannot read the dataset's header", path);
        goto out;
    }
    *kind = map_type(ft, H5Tget_size(ft) == 2 && has_bf16_attr(dset), &tm, why);
    if (*kind != H5K_TENSOR) {
        rc = MFS_OK;
        goto out;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(space);
    int nd = sc == H5S_SIMPLE ? H5Sget_simple_extent_ndims(space) : 0;
    hsize_t dims[MFS_MAX_DIMS];
    if (sc == H5S_NULL) {
        *kind = H5K_SKIP;
        *why = "null dataspace (no elements, no shape)";
        rc = MFS_OK;
        goto out;
    }
    if (nd < 0 || nd + tm.extra_nd > MFS_MAX_DIMS || H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
        h5_err(e, MFS_FAILED, EINVAL, "%s: bad dataspace (rank %d)", path, nd);
        goto out;
    }
    H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_CONTIGUOUS;
    if (layout == H5D_VIRTUAL || (dcpl >= 0 && H5Pget_external_count(dcpl) > 0)) {
        *kind = H5K_SKIP;
        *why = layout == H5D_VIRTUAL ? "virtual dataset: data lives in other files"
                                     : "external storage: data lives in other files";
        rc = MFS_OK;
        goto out;
    }
    mfs_tensor *tn = mfs_tree_tensor_new(t);
    if (!tn) {
        mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        goto out;
    }
    tn->dtype = tm.dt;
    uint64_t shape[MFS_MAX_DIMS];
    for (int i = 0; i < nd; i++) shape[i] = dims[i];
    for (int i = 0; i < tm.extra_nd; i++) shape[nd + i] = tm.extra[i];
    if (mfs_tensor_set_shape(tn, nd + tm.extra_nd, shape, e) != MFS_OK) {
        mfs_err_prefix(e, "%s", path);
        rc = MFS_FAILED;
        goto out;
    }

    info = json_object();
    json_object_set_new(info, "hdf5_path", json_string(path));
    json_object_set_new(info, "hdf5_type", json_string(tm.desc));
    json_object_set_new(info, "hdf5_layout", json_string(layout == H5D_CHUNKED ? "chunked"
                                                           : layout == H5D_COMPACT ? "compact"
                                                                                   : "contiguous"));
    size_t chunk_bytes = 0, band = 0;
    const char *compression = NULL;
    int nfilt = dcpl >= 0 ? H5Pget_nfilters(dcpl) : 0;
    if (layout == H5D_CHUNKED) {
        hsize_t cd[MFS_MAX_DIMS];
        int cnd = H5Pget_chunk(dcpl, MFS_MAX_DIMS, cd);
        json_t *cj = json_array();
        chunk_bytes = H5Tget_size(tm.mem);
        for (int i = 0; i < cnd && i < MFS_MAX_DIMS; i++) {
            json_array_append_new(cj, json_integer((json_int_t)cd[i]));
            if (cd[i] && chunk_bytes < ((size_t)1 << 40) / cd[i]) chunk_bytes *= cd[i];
        }
        /* the chunks one C-order sweep keeps in use at once: a row of
         * chunks across all but the first dimension */
        band = chunk_bytes;
        for (int i = 1; i < cnd && i < nd && band < CACHE_MAX; i++) {
            hsize_t across = cd[i] ? (dims[i] + cd[i] - 1) / cd[i] : 1;
            band = across > CACHE_MAX / (band ? band : 1) ? CACHE_MAX : band * (size_t)across;
        }
        json_object_set_new(info, "hdf5_chunks", cj);
    }
    if (nfilt > 0) {
        json_t *fj = json_array();
        for (int i = 0; i < nfilt; i++) {
            unsigned flags = 0, cdv[8];
            size_t ncd = 8;
            char fname[64] = "";
            H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cdv, sizeof fname,
                                             fname, NULL);
            const char *n = filter_name(id);
            json_array_append_new(fj, json_string(n ? n : fname[0] ? fname : "unknown"));
            if (n && id != H5Z_FILTER_SHUFFLE && id != H5Z_FILTER_FLETCHER32 && !compression)
                compression = n;
            if (id >= 0 && H5Zfilter_avail(id) <= 0 && !(flags & H5Z_FLAG_OPTIONAL)) {
                if (!*why) *why = "compressed with a filter libhdf5 does not have here";
            }
        }
        json_object_set_new(info, "hdf5_filters", fj);
    }
    tn->compression = compression;
    if (*why) { /* data unreadable: keep the tensor's description, mark it */
        json_object_set_new(info, "unreadable", json_string(*why));
    }

    /* PLAIN straight from the source when the stored bytes are canonical */
    if (layout == H5D_CONTIGUOUS && nfilt == 0 && tm.plain_ok && tm.swap == 0 &&
        addr != HADDR_UNDEF && H5Dget_storage_size(dset) == tn->nbytes && tn->nbytes > 0 &&
        (!tm.be || tm.extra_nd == 0)) {
        mfs_err pe = {0};
        mfs_src *ps = m->plain_src ? m->plain_src : m->src;
        uint64_t base = m->plain_src ? m->plain_base : 0;
        if ((uint64_t)addr <= m->src->size && tn->nbytes <= m->src->size - (uint64_t)addr &&
            mfs_tensor_set_plain(tn, ps, base + (uint64_t)addr, tm.be, &pe) == MFS_OK) {
            tn->info = info;
            info = NULL;
            *out = tn;
            rc = MFS_OK;
            goto out;
        }
        /* beyond the end: let HDF5 report it at read time */
    }

    c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        goto out;
    }
    if (m->nctx == m->capctx) {
        size_t cap = m->capctx ? m->capctx * 2 : 64;
        void **nv = realloc(m->ctx, cap * sizeof *nv);
        if (!nv) {
            mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            goto out;
        }
        m->ctx = nv;
        m->capctx = cap;
    }
    c->m = m;
    c->dset = H5I_INVALID_HID;
    c->mem = tm.mem;
    tm.mem = H5I_INVALID_HID;
    c->nd = nd;
    memcpy(c->dims, dims, sizeof(hsize_t) * (size_t)nd);
    c->esz = H5Tget_size(c->mem);
    c->swap = tm.swap;
    c->chunk_bytes = chunk_bytes;
    if (chunk_bytes) {
        /* two sweeps at once (two readers, or readahead and a reader),
         * with room for their bands to overlap in time */
        size_t want = 3 * band + 2 * chunk_bytes > 4 * chunk_bytes ? 3 * band + 2 * chunk_bytes
                                                                    : 4 * chunk_bytes;
        c->cache_bytes = want < CACHE_MIN ? CACHE_MIN : want > CACHE_MAX ? CACHE_MAX : want;
    }
    c->converts = H5Tequal(ft, c->mem) <= 0;
    c->conv_size = H5Tget_size(ft) > c->esz ? H5Tget_size(ft) : c->esz;
    m->ctx[m->nctx++] = c;
    /* gzip/shuffle chunks of a type needing at most a byte swap: decoded
     * by h5_chunks.c, in parallel (MFS_H5_CHUNKS=0 in the environment: off) */
    size_t zswap = 0;
    int zok = layout == H5D_CHUNKED && nd >= 1 && dcpl >= 0 && !*why;
    if (zok && !c->converts) zswap = tm.swap;
    else if (zok && tm.be && tm.plain_ok && tm.extra_nd == 0 && tm.swap == 0 &&
             tm.dt != MFS_DT_C64 && tm.dt != MFS_DT_C128)
        zswap = c->esz;
    else zok = 0;
    const char *zenv = getenv("MFS_H5_CHUNKS");
    if (zok && !(zenv && strcmp(zenv, "0") == 0)) {
        struct h5z_geom g;
        memset(&g, 0, sizeof g);
        g.nd = nd;
        memcpy(g.dims, dims, sizeof(hsize_t) * (size_t)nd);
        g.esz = c->esz;
        g.swap = zswap;
        if (h5z_eligible(dcpl, &g)) c->z = h5z_new(&g, m->src, c->cache_bytes, locate_chunk, c);
        H5Eclear2(H5E_DEFAULT);
    }
    if (c->z) {
        mfs_tensor_set_custom(tn, h5_read_fast_cb, c, m->src, NULL);
        json_object_set_new(info, "decoder", json_string("modelfs (zlib, parallel)"));
    } else {
        mfs_tensor_set_custom(tn, h5_read_cb, c, m->src, &h5_lock);
    }
    c = NULL;
    tn->info = info;
    info = NULL;
    *out = tn;
    rc = MFS_OK;
out:
    if (c) {
        free(c->path);
        free(c);
    }
    json_decref(info);
    if (tm.mem >= 0) H5Tclose(tm.mem);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    if (ft >= 0) H5Tclose(ft);
    return rc;
}
