/* h5_attr.c: reading HDF5 attributes the way Keras and h5py write them.
 *
 * Keras stores names as numpy "S" arrays (fixed-length, NUL-padded, no
 * terminator when a name fills the width), h5py >= 3 stores Python str
 * as variable-length UTF-8 and bytes as variable-length ASCII, h5py 2
 * stored fixed-length strings; a layer without weights has
 * weight_names = [] which numpy turns into an empty float64 array; lists
 * too long for one object header are split into "<name>0", "<name>1"...
 * (FORMATS.md §1.2, §1.5). The readers here accept all of these.
 *
 * Every function needs h5_lock held by the caller. Element counts and
 * byte sizes are bounded (ATTR_MAX_*) so a corrupt header cannot make us
 * allocate absurd amounts. */
#include "readers/h5_lib.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATTR_MAX_ELEMS ((hssize_t)16 * 1024 * 1024)
#define ATTR_MAX_BYTES ((size_t)256 * 1024 * 1024)

void h5_strv_free(struct h5_strv *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

int h5_strv_push(struct h5_strv *s, const char *str)
{
    char **v = realloc(s->v, (s->n + 1) * sizeof *v);
    if (!v) return -1;
    s->v = v;
    if (!(s->v[s->n] = strdup(str))) return -1;
    s->n++;
    return 0;
}

int h5_attr_exists(hid_t obj, const char *name)
{
    htri_t r = H5Aexists(obj, name);
    if (r < 0) {
        H5Eclear2(H5E_DEFAULT);
        return -1;
    }
    return r > 0;
}

/* Number of elements of @space (scalar = 1, null = 0), or -1 when absurd. */
static hssize_t space_npoints(hid_t space)
{
    H5S_class_t c = H5Sget_simple_extent_type(space);
    if (c == H5S_NULL) return 0;
    if (c == H5S_SCALAR) return 1;
    hssize_t n = H5Sget_simple_extent_npoints(space);
    if (n < 0 || n > ATTR_MAX_ELEMS) return -1;
    return n;
}

/* Reads all elements of string-typed attribute @aid into @out. */
static int read_strings(hid_t aid, hid_t ftype, hid_t space, hssize_t n, struct h5_strv *out,
                        const char *name, mfs_err *e)
{
    int rc = MFS_FATAL;
    hid_t mem = H5I_INVALID_HID;
    out->v = calloc((size_t)n ? (size_t)n : 1, sizeof *out->v);
    if (!out->v) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    if (H5Tis_variable_str(ftype) > 0) {
        char **buf = calloc((size_t)n, sizeof *buf);
        mem = H5Tcopy(H5T_C_S1);
        if (!buf || mem < 0 || H5Tset_size(mem, H5T_VARIABLE) < 0 ||
            H5Tset_cset(mem, H5Tget_cset(ftype)) < 0) {
            free(buf);
            h5_err(e, MFS_FATAL, ENOMEM, "attribute %s: cannot set up a string type", name);
            goto out;
        }
        if (H5Aread(aid, mem, buf) < 0) {
            free(buf);
            h5_err(e, MFS_FATAL, EINVAL, "attribute %s: cannot read its strings", name);
            goto out;
        }
        int oom = 0;
        for (hssize_t i = 0; i < n; i++) {
            out->v[i] = strdup(buf[i] ? buf[i] : "");
            if (!out->v[i]) oom = 1;
            out->n = (size_t)i + 1;
        }
        H5Dvlen_reclaim(mem, space, H5P_DEFAULT, buf);
        free(buf);
        if (oom) {
            mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            goto out;
        }
    } else {
        size_t w = H5Tget_size(ftype);
        if (w == 0 || (size_t)n > ATTR_MAX_BYTES / w) {
            mfs_err_set(e, MFS_FATAL, EINVAL, -1, "attribute %s: %lld strings of %zu bytes is "
                        "too large", name, (long long)n, w);
            goto out;
        }
        char *buf = malloc((size_t)n * w);
        mem = H5Tcopy(ftype);
        if (!buf || mem < 0) {
            free(buf);
            mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            goto out;
        }
        if (H5Aread(aid, mem, buf) < 0) {
            free(buf);
            h5_err(e, MFS_FATAL, EINVAL, "attribute %s: cannot read its strings", name);
            goto out;
        }
        int space_pad = H5Tget_strpad(ftype) == H5T_STR_SPACEPAD;
        int oom = 0;
        for (hssize_t i = 0; i < n; i++) {
            const char *s = buf + (size_t)i * w;
            size_t len = strnlen(s, w);
            if (space_pad)
                while (len > 0 && s[len - 1] == ' ') len--;
            out->v[i] = strndup(s, len);
            if (!out->v[i]) oom = 1;
            out->n = (size_t)i + 1;
        }
        free(buf);
        if (oom) {
            mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
            goto out;
        }
    }
    rc = MFS_OK;
out:
    if (mem >= 0) H5Tclose(mem);
    if (rc != MFS_OK) h5_strv_free(out);
    return rc;
}

int h5_attr_strings(hid_t obj, const char *name, struct h5_strv *out, mfs_err *e)
{
    out->v = NULL;
    out->n = 0;
    if (h5_attr_exists(obj, name) != 1) return MFS_FAILED;
    int rc = MFS_FATAL;
    hid_t aid = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ftype = aid >= 0 ? H5Aget_type(aid) : H5I_INVALID_HID;
    hid_t space = aid >= 0 ? H5Aget_space(aid) : H5I_INVALID_HID;
    if (aid < 0 || ftype < 0 || space < 0) {
        h5_err(e, MFS_FATAL, EINVAL, "attribute %s: cannot open it", name);
        goto out;
    }
    hssize_t n = space_npoints(space);
    if (n < 0) {
        mfs_err_set(e, MFS_FATAL, EINVAL, -1, "attribute %s: bad or huge dataspace", name);
        goto out;
    }
    if (n == 0) { /* [] of any type */
        rc = MFS_OK;
        goto out;
    }
    if (H5Tget_class(ftype) != H5T_STRING) {
        mfs_err_set(e, MFS_FATAL, EINVAL, -1, "attribute %s: expected strings, found another "
                    "type", name);
        goto out;
    }
    rc = read_strings(aid, ftype, space, n, out, name, e);
out:
    if (space >= 0) H5Sclose(space);
    if (ftype >= 0) H5Tclose(ftype);
    if (aid >= 0) H5Aclose(aid);
    return rc;
}

int h5_attr_strings_chunked(hid_t obj, const char *name, struct h5_strv *out, mfs_err *e)
{
    int rc = h5_attr_strings(obj, name, out, e);
    if (rc != MFS_FAILED) return rc;
    out->v = NULL;
    out->n = 0;
    char part[512];
    int found = 0;
    for (int k = 0; k < 1000000; k++) {
        snprintf(part, sizeof part, "%s%d", name, k);
        struct h5_strv chunk;
        rc = h5_attr_strings(obj, part, &chunk, e);
        if (rc == MFS_FAILED) break;
        if (rc != MFS_OK) {
            h5_strv_free(out);
            return rc;
        }
        found = 1;
        char **nv = realloc(out->v, (out->n + chunk.n + 1) * sizeof *nv);
        if (!nv) {
            h5_strv_free(&chunk);
            h5_strv_free(out);
            return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        }
        out->v = nv;
        memcpy(out->v + out->n, chunk.v, chunk.n * sizeof *nv);
        out->n += chunk.n;
        free(chunk.v);
    }
    return found ? MFS_OK : MFS_FAILED;
}

char *h5_attr_string(hid_t obj, const char *name, mfs_err *e)
{
    struct h5_strv s;
    mfs_err tmp = {0};
    if (h5_attr_strings(obj, name, &s, &tmp) != MFS_OK) {
        H5Eclear2(H5E_DEFAULT);
        (void)e;
        return NULL;
    }
    char *r = NULL;
    if (s.n == 1) {
        r = s.v[0];
        s.v[0] = NULL;
    }
    h5_strv_free(&s);
    return r;
}

/* ---- numbers and generic values ------------------------------------------ */

void h5_fmt_double(char *buf, double v, int is_f32)
{
    if (isnan(v)) {
        strcpy(buf, "nan");
        return;
    }
    if (isinf(v)) {
        strcpy(buf, v < 0 ? "-inf" : "inf");
        return;
    }
    int maxp = is_f32 ? 9 : 17;
    for (int p = 1; p <= maxp; p++) {
        snprintf(buf, 32, "%.*g", p, v);
        double back = strtod(buf, NULL);
        if (is_f32 ? (float)back == (float)v : back == v) return;
    }
    snprintf(buf, 32, "%.17g", v);
}

/* An attribute's values in a form text and JSON can be made from. */
enum vkind { V_STR, V_INT, V_UINT, V_FLOAT, V_ENUM, V_OTHER };
struct values {
    enum vkind kind;
    size_t n;
    int is_f32;
    struct h5_strv s;        /* V_STR, V_ENUM (member names) */
    long long *i;            /* V_INT */
    unsigned long long *u;   /* V_UINT */
    double *d;               /* V_FLOAT */
    char desc[96];           /* V_OTHER */
};

static void values_free(struct values *v)
{
    h5_strv_free(&v->s);
    free(v->i);
    free(v->u);
    free(v->d);
}

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_TIME: return "time";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "vlen";
    case H5T_ARRAY: return "array";
    default: return "unknown";
    }
}

/* Reads attribute @aid into @v. MFS_OK (V_OTHER for unsupported types) or
 * MFS_FATAL with @e set. */
static int read_values(hid_t aid, struct values *v, mfs_err *e)
{
    memset(v, 0, sizeof *v);
    int rc = MFS_FATAL;
    hid_t ftype = H5Aget_type(aid), space = H5Aget_space(aid), mem = H5I_INVALID_HID;
    void *raw = NULL;
    if (ftype < 0 || space < 0) {
        h5_err(e, MFS_FATAL, EINVAL, "cannot open an attribute");
        goto out;
    }
    hssize_t n = space_npoints(space);
    if (n < 0) {
        mfs_err_set(e, MFS_FATAL, EINVAL, -1, "attribute with a bad or huge dataspace");
        goto out;
    }
    v->n = (size_t)n;
    H5T_class_t c = H5Tget_class(ftype);
    size_t size = H5Tget_size(ftype);
    if (n == 0) {
        v->kind = V_STR;
        rc = MFS_OK;
        goto out;
    }
    switch (c) {
    case H5T_STRING:
        v->kind = V_STR;
        rc = read_strings(aid, ftype, space, n, &v->s, "?", e);
        goto out;
    case H5T_INTEGER: {
        int sign = H5Tget_sign(ftype) == H5T_SGN_2;
        v->kind = sign ? V_INT : V_UINT;
        void *buf = calloc((size_t)n, 8);
        if (!buf) break;
        if (H5Aread(aid, sign ? H5T_NATIVE_LLONG : H5T_NATIVE_ULLONG, buf) < 0) {
            free(buf);
            h5_err(e, MFS_FATAL, EINVAL, "cannot read an integer attribute");
            goto out;
        }
        if (sign) v->i = buf;
        else v->u = buf;
        rc = MFS_OK;
        goto out;
    }
    case H5T_FLOAT: {
        v->kind = V_FLOAT;
        v->is_f32 = size <= 4;
        v->d = calloc((size_t)n, sizeof *v->d);
        if (!v->d) break;
        if (H5Aread(aid, H5T_NATIVE_DOUBLE, v->d) < 0) {
            h5_err(e, MFS_FATAL, EINVAL, "cannot read a float attribute");
            goto out;
        }
        rc = MFS_OK;
        goto out;
    }
    case H5T_ENUM: {
        if (size == 0 || size > 16 || (size_t)n > ATTR_MAX_BYTES / size) break;
        raw = malloc((size_t)n * size);
        mem = H5Tcopy(ftype);
        v->s.v = calloc((size_t)n, sizeof(char *));
        if (!raw || mem < 0 || !v->s.v) break;
        if (H5Aread(aid, mem, raw) < 0) {
            h5_err(e, MFS_FATAL, EINVAL, "cannot read an enum attribute");
            goto out;
        }
        v->kind = V_ENUM;
        for (hssize_t k = 0; k < n; k++) {
            char name[128];
            if (H5Tenum_nameof(ftype, (char *)raw + (size_t)k * size, name, sizeof name) < 0) {
                H5Eclear2(H5E_DEFAULT);
                snprintf(name, sizeof name, "?");
            }
            v->s.v[k] = strdup(name);
            v->s.n = (size_t)k + 1;
            if (!v->s.v[k]) break;
        }
        rc = MFS_OK;
        goto out;
    }
    default:
        v->kind = V_OTHER;
        snprintf(v->desc, sizeof v->desc, "<hdf5 %s, %zu bytes x %lld>", class_name(c), size,
                 (long long)n);
        rc = MFS_OK;
        goto out;
    }
    mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory reading an attribute");
out:
    free(raw);
    if (mem >= 0) H5Tclose(mem);
    if (space >= 0) H5Sclose(space);
    if (ftype >= 0) H5Tclose(ftype);
    if (rc != MFS_OK) values_free(v);
    return rc;
}

/* Appends @s (+ "\n") to a growing buffer. 0 or -1 on OOM. */
struct sbuf {
    char *p;
    size_t n, cap;
};
static int sb_line(struct sbuf *b, const char *s, size_t len)
{
    if (b->n + len + 2 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (b->n + len + 2 > cap) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n++] = '\n';
    b->p[b->n] = 0;
    return 0;
}

char *h5_attr_text(hid_t aid, size_t *len, mfs_err *e)
{
    struct values v;
    if (read_values(aid, &v, e) != MFS_OK) return NULL;
    struct sbuf b = {0};
    int bad = sb_line(&b, "", 0); /* allocate; the empty line is removed */
    b.n = 0;
    char num[40];
    for (size_t k = 0; !bad && k < (v.kind == V_OTHER ? 1 : v.n); k++) {
        switch (v.kind) {
        case V_STR:
        case V_ENUM: bad = sb_line(&b, v.s.v[k], strlen(v.s.v[k])); break;
        case V_INT: snprintf(num, sizeof num, "%lld", v.i[k]); bad = sb_line(&b, num, strlen(num)); break;
        case V_UINT: snprintf(num, sizeof num, "%llu", v.u[k]); bad = sb_line(&b, num, strlen(num)); break;
        case V_FLOAT: h5_fmt_double(num, v.d[k], v.is_f32); bad = sb_line(&b, num, strlen(num)); break;
        case V_OTHER: bad = sb_line(&b, v.desc, strlen(v.desc)); break;
        }
    }
    values_free(&v);
    if (bad) {
        free(b.p);
        mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        return NULL;
    }
    *len = b.n;
    return b.p;
}

static json_t *one_json(const struct values *v, size_t k)
{
    switch (v->kind) {
    case V_STR: {
        json_t *s = json_string(v->s.v[k]); /* NULL for invalid UTF-8 */
        return s ? s : json_string("<not valid UTF-8>");
    }
    case V_ENUM:
        if (strcmp(v->s.v[k], "TRUE") == 0) return json_true();
        if (strcmp(v->s.v[k], "FALSE") == 0) return json_false();
        return json_string(v->s.v[k]);
    case V_INT: return json_integer(v->i[k]);
    case V_UINT: return json_integer((json_int_t)v->u[k]);
    case V_FLOAT: {
        if (!isfinite(v->d[k])) {
            char num[40];
            h5_fmt_double(num, v->d[k], 0);
            return json_string(num);
        }
        return json_real(v->d[k]);
    }
    default: return json_string(v->desc);
    }
}

json_t *h5_attr_json(hid_t obj, const char *name)
{
    if (h5_attr_exists(obj, name) != 1) return NULL;
    hid_t aid = H5Aopen(obj, name, H5P_DEFAULT);
    if (aid < 0) {
        H5Eclear2(H5E_DEFAULT);
        return NULL;
    }
    struct values v;
    mfs_err e = {0};
    json_t *r = NULL;
    hid_t space = H5Aget_space(aid);
    int scalar = space >= 0 && H5Sget_simple_extent_type(space) == H5S_SCALAR;
    if (space >= 0) H5Sclose(space);
    if (read_values(aid, &v, &e) == MFS_OK) {
        if (v.kind == V_OTHER) r = json_string(v.desc);
        else if (scalar && v.n == 1) r = one_json(&v, 0);
        else {
            r = json_array();
            for (size_t k = 0; r && k < v.n; k++) json_array_append_new(r, one_json(&v, k));
        }
        values_free(&v);
    }
    H5Eclear2(H5E_DEFAULT);
    H5Aclose(aid);
    return r;
}
