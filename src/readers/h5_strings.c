/* h5_strings.c: the contents of string and scalar datasets, read whole at
 * mount (h5_raw.c shows string datasets as text files; the Keras views
 * read iteration counts). Bounded by the caller's limit; fixed-length
 * strings are cut at their first NUL and at most their width, vlen
 * strings read with the file's character set. Caller holds h5_lock. */
#include "readers/h5_lib.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *h5_dataset_text(hid_t dset, size_t limit, size_t *len, mfs_err *e)
{
    hid_t ft = H5Dget_type(dset), space = H5Dget_space(dset), mem = H5I_INVALID_HID;
    char *res = NULL;
    void *buf = NULL;
    hssize_t n = 0;
    int vlen = 0;
    if (ft < 0 || space < 0) {
        h5_err(e, MFS_FAILED, EIO, "cannot read a string dataset's header");
        goto out;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(space);
    n = sc == H5S_NULL ? 0 : sc == H5S_SCALAR ? 1 : H5Sget_simple_extent_npoints(space);
    size_t w = H5Tget_size(ft);
    vlen = H5Tis_variable_str(ft) > 0;
    size_t per = vlen ? sizeof(char *) : w;
    if (n < 0 || per == 0 || (size_t)n > limit / per) {
        mfs_err_set(e, MFS_FAILED, EFBIG, -1, "string dataset larger than %zu bytes", limit);
        goto out;
    }
    buf = calloc((size_t)n + 1, per);
    if (vlen) {
        mem = H5Tcopy(H5T_C_S1);
        if (mem >= 0) {
            H5Tset_size(mem, H5T_VARIABLE);
            H5Tset_cset(mem, H5Tget_cset(ft));
        }
    } else {
        mem = H5Tcopy(ft);
    }
    if (!buf || mem < 0) {
        mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        goto out;
    }
    if (n > 0 && H5Dread(dset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        h5_err(e, MFS_FAILED, EIO, "cannot read a string dataset");
        vlen = 0; /* nothing to reclaim */
        goto out;
    }
    size_t total = 0;
    for (hssize_t i = 0; i < n; i++) {
        const char *s = vlen ? ((char **)buf)[i] : (char *)buf + (size_t)i * w;
        total += (s ? (vlen ? strlen(s) : strnlen(s, w)) : 0) + 1;
        if (total > limit) break;
    }
    if (total > limit) {
        mfs_err_set(e, MFS_FAILED, EFBIG, -1, "string dataset larger than %zu bytes", limit);
        goto out;
    }
    res = malloc(total + 1);
    if (!res) {
        mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
        goto out;
    }
    size_t pos = 0;
    for (hssize_t i = 0; i < n; i++) {
        const char *s = vlen ? ((char **)buf)[i] : (char *)buf + (size_t)i * w;
        size_t l = s ? (vlen ? strlen(s) : strnlen(s, w)) : 0;
        if (l) memcpy(res + pos, s, l);
        pos += l;
        res[pos++] = '\n';
    }
    res[pos] = 0;
    *len = pos;
out:
    if (vlen && buf && mem >= 0 && n > 0) H5Dvlen_reclaim(mem, space, H5P_DEFAULT, buf);
    free(buf);
    if (mem >= 0) H5Tclose(mem);
    if (space >= 0) H5Sclose(space);
    if (ft >= 0) H5Tclose(ft);
    return res;
}

int h5_read_scalar_i64(hid_t dset, long long *v)
{
    hid_t space = H5Dget_space(dset), ft = H5Dget_type(dset);
    int rc = MFS_FAILED;
    if (space < 0 || ft < 0) goto out;
    hssize_t n = H5Sget_simple_extent_npoints(space);
    H5T_class_t c = H5Tget_class(ft);
    if (n != 1) goto out;
    if (c == H5T_INTEGER) {
        if (H5Dread(dset, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0) rc = MFS_OK;
    } else if (c == H5T_FLOAT) {
        double d;
        if (H5Dread(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &d) >= 0 &&
            d > -9e18 && d < 9e18) {
            *v = (long long)d;
            rc = MFS_OK;
        }
    }
out:
    H5Eclear2(H5E_DEFAULT);
    if (ft >= 0) H5Tclose(ft);
    if (space >= 0) H5Sclose(space);
    return rc;
}
