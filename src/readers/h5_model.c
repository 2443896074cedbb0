/* h5_model.c: the state every HDF5-based reader shares.
 *
 * Four readers bid on an HDF5 signature (rd_hdf5.c, rd_keras_h5.c,
 * rd_keras_h5_weights.c, rd_keras3_weights_h5.c) and one on a .keras zip
 * (rd_keras_v3.c). Bidders may only peek at the head and tail bytes, so
 * they guess the Keras flavour from attribute and link names visible
 * there (h5_bid); open() then detects the layout for real from the file's
 * root (detect()) and build() shows what the file holds, whichever of the
 * four won: the reader only decides the `format` id.
 *
 * Order of work: h5_model_open() runs the canary (a forked child doing
 * the same open + build into a scratch tree + a few small reads: see
 * h5_lib.c) and only then opens the file in this process; the file stays
 * open until close because CUSTOM tensors read through it. */
#include "readers/h5_lib.h"
#include "core/log.h"
#include "core/model.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct h5_model *h5_model_alloc(mfs_src *src, const char *label, const char *reader,
                                const char *raw_prefix)
{
    struct h5_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->file = H5I_INVALID_HID;
    m->label = strdup(label ? label : "?");
    m->raw_prefix = strdup(raw_prefix ? raw_prefix : "");
    m->reader = reader;
    if (!m->label || !m->raw_prefix) {
        free(m->label);
        free(m->raw_prefix);
        free(m);
        return NULL;
    }
    m->src = mfs_src_ref(src);
    return m;
}

static int link_is_group(hid_t loc, const char *path)
{
    /* H5Lexists needs every intermediate component to exist */
    char buf[256];
    size_t n = strlen(path);
    if (n >= sizeof buf) return 0;
    memcpy(buf, path, n + 1);
    for (char *p = buf;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (H5Lexists(loc, buf, H5P_DEFAULT) <= 0) {
                H5Eclear2(H5E_DEFAULT);
                return 0;
            }
            *p = c;
            if (!c) break;
        }
    }
    H5O_info_t oi;
    if (H5Oget_info_by_name2(loc, buf, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    return oi.type == H5O_TYPE_GROUP;
}

/* Layout from the root group (FORMATS.md §1.1, §2.1, §2.2). */
static enum h5_layout detect(hid_t f)
{
    hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    if (root < 0) {
        H5Eclear2(H5E_DEFAULT);
        return H5L_GENERIC;
    }
    enum h5_layout l = H5L_GENERIC;
    if (link_is_group(root, "model_weights") || h5_attr_exists(root, "model_config") == 1)
        l = H5L_KERAS_FULL;
    else if (h5_attr_exists(root, "layer_names") == 1 || h5_attr_exists(root, "layer_names0") == 1)
        l = H5L_KERAS_WEIGHTS;
    else if (link_is_group(root, "vars") || link_is_group(root, "optimizer/vars") ||
             link_is_group(root, "layers") || link_is_group(root, "_layer_checkpoint_dependencies"))
        l = H5L_KERAS3_WEIGHTS;
    H5Gclose(root);
    H5Eclear2(H5E_DEFAULT);
    return l;
}

/* Builds everything into @t; caller holds the lock. */
static int build_locked(struct h5_model *m, mfs_tree *t, mfs_err *e)
{
    uint32_t raw = mfs_tree_top(t, MFS_TOP_RAW);
    if (raw && m->raw_prefix[0]) raw = mfs_tree_mkdir(t, raw, m->raw_prefix);
    if (!raw) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    MFS_FORWARD(h5_raw_walk(m, t, raw, e));
    int rc = MFS_OK;
    switch (m->layout) {
    case H5L_KERAS_FULL:
    case H5L_KERAS_WEIGHTS: rc = h5_keras_build(m, t, e); break;
    case H5L_KERAS3_WEIGHTS: rc = h5_keras3_build(m, t, e); break;
    default: rc = h5_generic_build(m, t, e); break;
    }
    if (rc < 0) return rc;
    return m->warned ? MFS_WARN : MFS_OK;
}

/* Reads the start of small CUSTOM tensors through the library (decoders,
 * chunk indexes), 2 MiB in all, results ignored: a file that crashes
 * libhdf5 there does it now, during the open, not later in a mounted
 * daemon. The HDF5 lock must be held (the callbacks are called directly). */
static void probe_reads(struct h5_model *m)
{
    uint64_t budget = (uint64_t)2 << 20;
    unsigned char *buf = malloc((size_t)256 << 10);
    for (size_t i = 0; buf && i < m->nent && budget > 0; i++) {
        mfs_tensor *tn = m->ent[i].tensor;
        if (!tn || tn->enc != MFS_ENC_CUSTOM || tn->nbytes == 0) continue;
        uint64_t n = tn->nbytes < ((uint64_t)256 << 10) ? tn->nbytes : (uint64_t)256 << 10;
        if (n > budget) n = budget;
        mfs_err re = {0};
        tn->read(tn, 0, buf, (size_t)n, &re);
        budget -= n;
    }
    free(buf);
}

void h5_model_probe_isolated(struct h5_model *m)
{
    if (mfs_open_isolated()) probe_reads(m);
}

/* The canary child's work (see h5_lib.c): 0 when done without a crash.
 * Open or build *errors* also return 0: the parent repeats the same
 * deterministic steps and reports them with a proper message. */
int h5_model_canary(mfs_src *src, const char *label, struct h5_model *tmpl)
{
    struct h5_model *m = h5_model_alloc(src, label, tmpl->reader, tmpl->raw_prefix);
    if (!m) return 0;
    m->config = tmpl->config;
    mfs_err e = {0};
    mfs_log_set_quiet(1);
    m->file = h5_open_src(src, label, &e);
    if (m->file < 0) return 0;
    m->layout = detect(m->file);
    mfs_tree *t = mfs_tree_new();
    if (!t) return 0;
    struct timespec T0, T1, T2;
    clock_gettime(CLOCK_MONOTONIC, &T0);
    if (build_locked(m, t, &e) < 0) return 0;
    clock_gettime(CLOCK_MONOTONIC, &T1);
    probe_reads(m);
    clock_gettime(CLOCK_MONOTONIC, &T2);
    if (getenv("MFS_H5_CANARY_DEBUG"))
        fprintf(stderr, "canary: build %.1f ms, reads %.1f ms\n",
                (T1.tv_sec - T0.tv_sec) * 1e3 + (T1.tv_nsec - T0.tv_nsec) / 1e6,
                (T2.tv_sec - T1.tv_sec) * 1e3 + (T2.tv_nsec - T1.tv_nsec) / 1e6);
    return 0;
}

int h5_model_open(struct h5_model *m, mfs_err *e)
{
    h5_enter();
    int rc = MFS_OK;
    if (h5_canary_enabled()) rc = h5_canary_run(m->src, m->label, m, e);
    if (rc == MFS_OK) {
        m->file = h5_open_src(m->src, m->label, e);
        if (m->file < 0) rc = MFS_FATAL;
        else m->layout = detect(m->file);
    }
    h5_leave();
    return rc;
}

int h5_model_build(struct h5_model *m, mfs_tree *t, mfs_err *e)
{
    h5_enter();
    int rc = build_locked(m, t, e);
    if (rc >= 0) h5_model_probe_isolated(m);
    h5_leave();
    if (rc >= 0) h5_warns_flush(&m->warns);
    return rc;
}

void h5_model_free(struct h5_model *m)
{
    if (!m) return;
    h5_enter();
    h5_tensor_close_all(m);
    if (m->file >= 0) H5Fclose(m->file);
    /* libhdf5 keeps freed blocks on its free lists for reuse; give them
     * back when a model goes (a daemon opens one model, fuzzers millions) */
    H5garbage_collect();
    H5Eclear2(H5E_DEFAULT);
    h5_leave();
    for (size_t i = 0; i < m->nent; i++) free(m->ent[i].path);
    free(m->ent);
    free(m->idx);
    h5_warns_free(&m->warns);
    free(m->label);
    free(m->raw_prefix);
    json_decref(m->config);
    json_decref(m->keras_meta);
    mfs_src_unref(m->src);
    mfs_src_unref(m->plain_src);
    free(m);
}

void h5_warn(struct h5_model *m, const char *fmt, ...)
{
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    h5_warns_add(&m->warns, "%s: %s", m->label, buf);
    m->warned = 1;
}

char *h5_strip_colon(const char *name)
{
    size_t n = strlen(name), k = n;
    while (k > 0 && name[k - 1] >= '0' && name[k - 1] <= '9') k--;
    if (k < n && k > 1 && name[k - 1] == ':') n = k - 1;
    return strndup(name, n);
}

/* ---- metadata from attributes ------------------------------------------- */

int h5_meta_attrs(struct h5_model *m, mfs_tree *t, hid_t obj, const char *const *skip, mfs_err *e)
{
    H5O_info_t oi;
    if (H5Oget_info2(obj, &oi, H5O_INFO_NUM_ATTRS) < 0) {
        H5Eclear2(H5E_DEFAULT);
        return MFS_OK;
    }
    uint32_t meta = 0;
    for (hsize_t i = 0; i < oi.num_attrs && i < 100000; i++) {
        char name[1024];
        hid_t aid = H5Aopen_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT);
        if (aid < 0 || H5Aget_name(aid, sizeof name, name) <= 0) {
            if (aid >= 0) H5Aclose(aid);
            H5Eclear2(H5E_DEFAULT);
            continue;
        }
        int skipped = 0;
        for (size_t k = 0; skip && skip[k]; k++) {
            size_t sl = strlen(skip[k]);
            if (sl && skip[k][sl - 1] == '*') skipped |= strncmp(skip[k], name, sl - 1) == 0;
            else skipped |= strcmp(skip[k], name) == 0;
        }
        if (skipped) {
            H5Aclose(aid);
            continue;
        }
        size_t len = 0;
        mfs_err ae = {0};
        char *text = h5_attr_text(aid, &len, &ae);
        H5Aclose(aid);
        H5Eclear2(H5E_DEFAULT);
        if (!text) {
            h5_warn(m, "attribute %s: %s", name, ae.msg);
            continue;
        }
        if (!meta && !(meta = mfs_tree_top(t, MFS_TOP_METADATA))) {
            free(text);
            return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        }
        json_t *j = NULL;
        if (len > 1 && (text[0] == '{' || text[0] == '['))
            j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        uint32_t id;
        if (j && (json_is_object(j) || json_is_array(j))) {
            char jn[1100];
            snprintf(jn, sizeof jn, "%s.json", name);
            id = mfs_tree_add_json(t, meta, jn, j);
        } else {
            id = mfs_tree_add_text(t, meta, name, text, len);
        }
        json_decref(j);
        free(text);
        if (!id) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    return MFS_OK;
}

/* ---- plain HDF5 ----------------------------------------------------------- */

int h5_generic_build(struct h5_model *m, mfs_tree *t, mfs_err *e)
{
    for (size_t i = 0; i < m->nent; i++) {
        if (!m->ent[i].tensor) continue;
        if (!mfs_tree_add_model_tensor(t, m->ent[i].path, m->ent[i].tensor))
            return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    hid_t root = H5Gopen2(m->file, "/", H5P_DEFAULT);
    if (root < 0) return h5_err(e, MFS_FATAL, EINVAL, "cannot open the root group");
    int rc = h5_meta_attrs(m, t, root, NULL, e);
    H5Gclose(root);
    return rc;
}

/* ---- reader callbacks and bids ------------------------------------------- */

int h5_reader_open(const struct mfs_probe *p, const char *reader, void **state, mfs_err *e)
{
    *state = NULL;
    if (!p->src) return mfs_err_set(e, MFS_FATAL, EINVAL, -1, "not a regular file");
    struct h5_model *m = h5_model_alloc(p->src, p->path, reader, "");
    if (!m) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    *state = m;
    return h5_model_open(m, e);
}

int h5_reader_build(void *state, mfs_tree *t, mfs_err *e) { return h5_model_build(state, t, e); }

void h5_reader_close(void *state) { h5_model_free(state); }

int h5_bid(const struct mfs_probe *p, enum h5_layout layout)
{
    if (!p->head || h5_sig_offset(p->head, p->head_len) < 0) return -1;
    /* h5py/Keras files keep the root group's attribute names and its link
     * names (local heap) in the first kilobytes; a big file's tail may
     * hold them when attributes were written last. */
#define HAS(s) (h5_mem_has(p->head, p->head_len, s) || h5_mem_has(p->tail, p->tail_len, s))
    int full = HAS("model_config") || HAS("model_weights");
    int weights = HAS("layer_names");
    int k3 = HAS("vars") && (HAS("layers") || HAS("optimizer") || HAS("_layer_checkpoint_dependencies"));
#undef HAS
    switch (layout) {
    case H5L_GENERIC: return 64; /* the 8-byte signature */
    case H5L_KERAS_FULL: return full ? 64 + 96 : -1;            /* + "model_config" */
    case H5L_KERAS_WEIGHTS: return weights && !full ? 64 + 88 : -1; /* + "layer_names" */
    case H5L_KERAS3_WEIGHTS: return k3 && !full && !weights ? 64 + 80 : -1; /* "vars"+"layers" */
    }
    return -1;
}
