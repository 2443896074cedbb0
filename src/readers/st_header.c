/* st_header.c: safetensors header parsing and validation (st_header.h).
 *
 * Layout: u64 LE N, N bytes of JSON (an object), then the byte buffer all
 * data_offsets are relative to. Validation follows the reference reader
 * (safetensors/src/tensor.rs): N <= 100,000,000 and 8+N <= file size;
 * each entry has a known dtype, a shape of non-negative integers and
 * [begin, end] with end-begin = nbytes of that shape, inside the buffer;
 * entries may not overlap. Gaps are tolerated (the reference refuses
 * them; refusing would only hide a readable file). */
#include "readers/st_header.h"
#include "readers/common.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; mfs_dtype dt; } st_dtypes[] = {
    {"BOOL", MFS_DT_BOOL}, {"U8", MFS_DT_U8}, {"I8", MFS_DT_I8},
    {"U16", MFS_DT_U16}, {"I16", MFS_DT_I16}, {"U32", MFS_DT_U32},
    {"I32", MFS_DT_I32}, {"U64", MFS_DT_U64}, {"I64", MFS_DT_I64},
    {"F16", MFS_DT_F16}, {"BF16", MFS_DT_BF16}, {"F32", MFS_DT_F32},
    {"F64", MFS_DT_F64}, {"C64", MFS_DT_C64}, {"F8_E4M3", MFS_DT_F8_E4M3FN},
    {"F8_E5M2", MFS_DT_F8_E5M2}, {"F8_E4M3FNUZ", MFS_DT_F8_E4M3FNUZ},
    {"F8_E5M2FNUZ", MFS_DT_F8_E5M2FNUZ}, {"F8_E8M0", MFS_DT_F8_E8M0},
};

static mfs_dtype st_dtype(const char *s)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (!strcmp(s, st_dtypes[i].name)) return st_dtypes[i].dt;
    return MFS_DT_INVALID;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

int mfs_st_bid_bytes(const unsigned char *head, size_t head_len, uint64_t size)
{
    if (head_len < 10) return -1;
    uint64_t n = le64(head);
    if (n < 2 || n > MFS_ST_HEADER_MAX || n > size - 8) return -1;
    if (head[8] != '{') return -1;
    /* 37 bits: a bounded length (~27 bits of the 64 are fixed zero) + '{';
     * a quote or '}' after optional spaces adds a little more */
    size_t i = 9;
    while (i < head_len && (head[i] == ' ' || head[i] == '\n')) i++;
    if (i < head_len && head[i] != '"' && head[i] != '}') return -1;
    return 40;
}

/* Parses entry @name (object @v) and checks it against the buffer size
 * @buf. Sets *dt, shape, *b, *end. MFS_OK or MFS_FATAL. */
static int check_entry(const char *name, json_t *v, uint64_t buf, mfs_dtype *dt, int *ndim,
                       uint64_t *shape, uint64_t *b, uint64_t *end, mfs_err *e)
{
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    MFS_CHECK(json_is_object(v) && json_is_string(jd) && json_is_array(js) && json_is_array(jo) &&
                  json_array_size(jo) == 2,
              e, MFS_FATAL, EINVAL, 8,
              "header entry \"%s\" lacks dtype, shape or data_offsets", name);
    *dt = st_dtype(json_string_value(jd));
    MFS_CHECK(*dt != MFS_DT_INVALID, e, MFS_FATAL, EINVAL, 8, "entry \"%s\": unknown dtype %s",
              name, json_string_value(jd));
    MFS_CHECK(json_array_size(js) <= 32, e, MFS_FATAL, EINVAL, 8, "entry \"%s\": too many dims", name);
    *ndim = (int)json_array_size(js);
    for (int i = 0; i < *ndim; i++) {
        json_t *d = json_array_get(js, (size_t)i);
        MFS_CHECK(json_is_integer(d) && json_integer_value(d) >= 0, e, MFS_FATAL, EINVAL, 8,
                  "entry \"%s\": shape[%d] is not a non-negative integer", name, i);
        shape[i] = (uint64_t)json_integer_value(d);
    }
    json_t *j0 = json_array_get(jo, 0), *j1 = json_array_get(jo, 1);
    MFS_CHECK(json_is_integer(j0) && json_is_integer(j1) && json_integer_value(j0) >= 0 &&
                  json_integer_value(j1) >= json_integer_value(j0),
              e, MFS_FATAL, EINVAL, 8, "entry \"%s\": bad data_offsets", name);
    *b = (uint64_t)json_integer_value(j0);
    *end = (uint64_t)json_integer_value(j1);
    MFS_CHECK(*end <= buf, e, MFS_FATAL, EINVAL, 8,
              "entry \"%s\": data_offsets end %llu beyond the %llu-byte buffer (file truncated?)",
              name, (unsigned long long)*end, (unsigned long long)buf);
    return MFS_OK;
}

struct span { uint64_t b, e; const char *name; };

static int cmp_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : (x->e < y->e ? -1 : x->e > y->e);
}

int mfs_st_open(mfs_src *src, struct mfs_st_file *f, mfs_err *e)
{
    memset(f, 0, sizeof *f);
    unsigned char lenb[8];
    MFS_CHECK(src->size >= 8, e, MFS_FATAL, EINVAL, 0, "file of %llu bytes is too short for a header",
              (unsigned long long)src->size);
    if (mfs_src_read_exact(src, lenb, 8, 0, e) != MFS_OK) return e->status = MFS_FATAL;
    uint64_t n = le64(lenb);
    MFS_CHECK(n <= MFS_ST_HEADER_MAX, e, MFS_FATAL, EINVAL, 0,
              "header length %llu exceeds the limit of 100000000", (unsigned long long)n);
    MFS_CHECK(n <= src->size - 8, e, MFS_FATAL, EINVAL, 0,
              "header length %llu exceeds the file size %llu (truncated?)", (unsigned long long)n,
              (unsigned long long)src->size);
    char *text = mfs_src_slurp(src, 8, n, MFS_ST_HEADER_MAX, e);
    if (!text) return MFS_FATAL;
    json_error_t je;
    json_t *h = json_loadb(text, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    free(text);
    MFS_CHECK(h, e, MFS_FATAL, EINVAL, 8 + (je.position > 0 ? je.position : 0),
              "header JSON: %s", je.text);
    if (!json_is_object(h)) {
        json_decref(h);
        return mfs_err_set(e, MFS_FATAL, EINVAL, 8, "header is not a JSON object");
    }
    uint64_t buf = src->size - 8 - n;
    size_t cnt = json_object_size(h), k = 0;
    struct span *sp = calloc(cnt ? cnt : 1, sizeof *sp);
    int rc = sp ? MFS_OK : mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    const char *name;
    json_t *v;
    json_object_foreach(h, name, v) {
        if (rc != MFS_OK) break;
        if (!strcmp(name, "__metadata__")) {
            if (!json_is_object(v)) rc = mfs_err_set(e, MFS_FATAL, EINVAL, 8, "__metadata__ is not an object");
            continue;
        }
        mfs_dtype dt;
        int nd;
        uint64_t shape[32], b, end;
        rc = check_entry(name, v, buf, &dt, &nd, shape, &b, &end, e);
        if (rc != MFS_OK) break;
        mfs_tensor tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.dtype = dt;
        rc = mfs_tensor_set_shape(&tmp, nd, shape, e);
        if (rc == MFS_OK && tmp.nbytes != end - b)
            rc = mfs_err_set(e, MFS_FATAL, EINVAL, 8,
                             "entry \"%s\": data_offsets span %llu bytes, shape and dtype need %llu",
                             name, (unsigned long long)(end - b), (unsigned long long)tmp.nbytes);
        sp[k++] = (struct span){b, end, name};
    }
    if (rc == MFS_OK) {
        qsort(sp, k, sizeof *sp, cmp_span);
        for (size_t i = 1; i < k; i++)
            if (sp[i].b < sp[i - 1].e && sp[i].e > sp[i].b) {
                rc = mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)(8 + n + sp[i].b),
                                 "entries \"%s\" and \"%s\" overlap", sp[i - 1].name, sp[i].name);
                break;
            }
    }
    free(sp);
    if (rc != MFS_OK) {
        json_decref(h);
        return rc;
    }
    f->src = mfs_src_ref(src);
    f->header = h;
    f->data_start = 8 + n;
    return MFS_OK;
}

void mfs_st_close(struct mfs_st_file *f)
{
    if (!f) return;
    json_decref(f->header);
    mfs_src_unref(f->src);
    f->header = NULL;
    f->src = NULL;
}

mfs_tensor *mfs_st_tensor(mfs_tree *t, const struct mfs_st_file *f, const char *name, mfs_err *e)
{
    json_t *v = json_object_get(f->header, name);
    if (!v || !strcmp(name, "__metadata__")) {
        mfs_err_set(e, MFS_FATAL, EINVAL, -1, "%s: no tensor \"%s\"", f->src->path, name);
        return NULL;
    }
    mfs_dtype dt;
    int nd;
    uint64_t shape[32], b, end;
    if (check_entry(name, v, f->src->size - f->data_start, &dt, &nd, shape, &b, &end, e) != MFS_OK)
        return NULL;
    mfs_tensor *tn = mfs_tree_tensor_new(t);
    if (!tn) {
        mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        return NULL;
    }
    tn->dtype = dt;
    if (mfs_tensor_set_shape(tn, nd, shape, e) != MFS_OK ||
        mfs_tensor_set_plain(tn, f->src, f->data_start + b, 0, e) != MFS_OK)
        return NULL;
    return tn;
}

int mfs_st_place(mfs_tree *t, const char *name, mfs_tensor *tn, const char *shard, mfs_err *e)
{
    if (shard) {
        tn->info = json_object();
        json_object_set_new(tn->info, "shard", json_string(shard));
    }
    MFS_CHECK(mfs_tree_add_model_tensor(t, name, tn) && mfs_add_layer_by_key(t, name, tn), e,
              MFS_FATAL, ENOMEM, -1, "out of memory");
    return MFS_OK;
}

int mfs_st_metadata(mfs_tree *t, uint32_t dir, const struct mfs_st_file *f, mfs_err *e)
{
    json_t *md = json_object_get(f->header, "__metadata__");
    const char *k;
    json_t *v;
    json_object_foreach(md, k, v) {
        MFS_CHECK(mfs_tree_add_value(t, dir, k, v), e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    return MFS_OK;
}
