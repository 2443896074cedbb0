/* h5_vfd.c: an HDF5 virtual file driver over an mfs_src.
 *
 * libhdf5 normally opens files by name (the sec2 driver: open + pread).
 * modelfs also needs to open HDF5 bytes that are not a file of their own:
 * the model.weights.h5 member of a .keras zip, stored uncompressed at some
 * offset of the archive. Extracting it or loading it as a file image
 * (H5Pset_file_image) would copy the whole member; instead this driver
 * answers HDF5's reads with mfs_src_read at the member's window, so the
 * h5 is read in place, and only the bytes HDF5 asks for are touched.
 * Plain files go through the same driver, so there is one I/O path
 * (and fuzzing can use memory sources).
 *
 * HDF5 addresses seen by a driver are absolute in the driver's "file"
 * (HDF5 adds the superblock's base address itself), so H5Dget_offset()
 * is an offset in the mfs_src too: the PLAIN locators of h5_tensor.c use
 * it directly.
 *
 * The driver is read-only: write/truncate fail, and open refuses any
 * flag but read-only. It keeps no state besides the source pointer and
 * the end-of-address HDF5 sets; every call happens under h5_lock. */
#include "readers/h5_lib.h"
#include <H5FDpublic.h>
#include <stdlib.h>
#include <string.h>

struct vfd_fapl {
    mfs_src *src;
};

struct vfd_file {
    H5FD_t pub;      /* must come first: HDF5 fills it in */
    mfs_src *src;    /* borrowed: the model keeps it alive */
    haddr_t eoa;
};

static hid_t g_driver = H5I_INVALID_HID;

static void *vfd_fapl_get(H5FD_t *f)
{
    struct vfd_file *file = (struct vfd_file *)f;
    struct vfd_fapl *fa = malloc(sizeof *fa);
    if (fa) fa->src = file->src;
    return fa;
}

static void *vfd_fapl_copy(const void *old)
{
    struct vfd_fapl *fa = malloc(sizeof *fa);
    if (fa) *fa = *(const struct vfd_fapl *)old;
    return fa;
}

static herr_t vfd_fapl_free(void *fa)
{
    free(fa);
    return 0;
}

static H5FD_t *vfd_open(const char *name, unsigned flags, hid_t fapl, haddr_t maxaddr)
{
    (void)name;
    (void)maxaddr;
    if (flags & (H5F_ACC_RDWR | H5F_ACC_TRUNC | H5F_ACC_CREAT | H5F_ACC_EXCL)) return NULL;
    const struct vfd_fapl *fa = H5Pget_driver_info(fapl);
    if (!fa || !fa->src) return NULL;
    struct vfd_file *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->src = fa->src;
    f->eoa = 0;
    return &f->pub;
}

static herr_t vfd_close(H5FD_t *f)
{
    free(f);
    return 0;
}

/* Two open files are the same when they read the same source; HDF5 uses
 * this to share one file object between opens of the same file. */
static int vfd_cmp(const H5FD_t *a, const H5FD_t *b)
{
    const struct vfd_file *x = (const struct vfd_file *)a, *y = (const struct vfd_file *)b;
    if (x->src < y->src) return -1;
    if (x->src > y->src) return 1;
    return 0;
}

static herr_t vfd_query(const H5FD_t *f, unsigned long *flags)
{
    (void)f;
    /* Same read-side features as sec2: metadata accumulation (fewer small
     * reads while parsing headers) and the raw-data sieve buffer. */
    *flags = H5FD_FEAT_AGGREGATE_METADATA | H5FD_FEAT_ACCUMULATE_METADATA |
             H5FD_FEAT_DATA_SIEVE | H5FD_FEAT_AGGREGATE_SMALLDATA;
    return 0;
}

static haddr_t vfd_get_eoa(const H5FD_t *f, H5FD_mem_t type)
{
    (void)type;
    return ((const struct vfd_file *)f)->eoa;
}

static herr_t vfd_set_eoa(H5FD_t *f, H5FD_mem_t type, haddr_t addr)
{
    (void)type;
    ((struct vfd_file *)f)->eoa = addr;
    return 0;
}

static haddr_t vfd_get_eof(const H5FD_t *f, H5FD_mem_t type)
{
    (void)type;
    return (haddr_t)((const struct vfd_file *)f)->src->size;
}

static herr_t vfd_get_handle(H5FD_t *f, hid_t fapl, void **handle)
{
    (void)fapl;
    *handle = &((struct vfd_file *)f)->src;
    return 0;
}

/* Reads [addr, addr+size): bytes past the end of the source read as
 * zeros, like sec2 (HDF5 itself checks the end of address against the
 * end of file when it opens a file, which catches truncation). */
static herr_t vfd_read(H5FD_t *f, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size,
                       void *buf)
{
    (void)type;
    (void)dxpl;
    struct vfd_file *file = (struct vfd_file *)f;
    if (addr == HADDR_UNDEF || addr > (haddr_t)INT64_MAX || size > (size_t)INT64_MAX ||
        addr + size < addr)
        return -1;
    unsigned char *p = buf;
    uint64_t off = addr;
    while (size > 0) {
        if (off >= file->src->size) {
            memset(p, 0, size);
            break;
        }
        mfs_err e = {0};
        int64_t got = mfs_src_read(file->src, p, size, off, &e);
        if (got < 0) return -1;
        if (got == 0) {
            memset(p, 0, size);
            break;
        }
        p += got;
        off += (uint64_t)got;
        size -= (size_t)got;
    }
    return 0;
}

static herr_t vfd_write(H5FD_t *f, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size,
                        const void *buf)
{
    (void)f, (void)type, (void)dxpl, (void)addr, (void)size, (void)buf;
    return -1;
}

static herr_t vfd_truncate(H5FD_t *f, hid_t dxpl, hbool_t closing)
{
    (void)f, (void)dxpl, (void)closing;
    return 0; /* nothing to do for a read-only file */
}

static const H5FD_class_t vfd_class = {
    .name = "modelfs-src",
    .maxaddr = (haddr_t)INT64_MAX,
    .fc_degree = H5F_CLOSE_WEAK,
    .terminate = NULL,
    .sb_size = NULL,
    .sb_encode = NULL,
    .sb_decode = NULL,
    .fapl_size = sizeof(struct vfd_fapl),
    .fapl_get = vfd_fapl_get,
    .fapl_copy = vfd_fapl_copy,
    .fapl_free = vfd_fapl_free,
    .dxpl_size = 0,
    .dxpl_copy = NULL,
    .dxpl_free = NULL,
    .open = vfd_open,
    .close = vfd_close,
    .cmp = vfd_cmp,
    .query = vfd_query,
    .get_type_map = NULL,
    .alloc = NULL,
    .free = NULL,
    .get_eoa = vfd_get_eoa,
    .set_eoa = vfd_set_eoa,
    .get_eof = vfd_get_eof,
    .get_handle = vfd_get_handle,
    .read = vfd_read,
    .write = vfd_write,
    .flush = NULL,
    .truncate = vfd_truncate,
    .lock = NULL,
    .unlock = NULL,
    .fl_map = H5FD_FLMAP_DICHOTOMY,
};

hid_t h5_vfd_fapl(mfs_src *src)
{
    if (g_driver < 0) {
        g_driver = H5FDregister(&vfd_class);
        if (g_driver < 0) return H5I_INVALID_HID;
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return H5I_INVALID_HID;
    struct vfd_fapl fa = {src};
    if (H5Pset_driver(fapl, g_driver, &fa) < 0) {
        H5Pclose(fapl);
        return H5I_INVALID_HID;
    }
    return fapl;
}
