/* torch_zip.c: torch.save zip archives (FORMATS.md §6.1) and TorchScript
 * archives (§6.5), which share the container.
 *
 * open()  lists the archive, finds the archive folder, reads the small
 *         records (byteorder, version) and runs data.pkl (and
 *         constants.pkl for TorchScript) through the pickle VM.
 * build() maps the object onto tensors/, layers/, optimizer/, metadata/
 *         (torch_model.c), shows the object graph under raw/data.pkl/
 *         (raw/constants.pkl/), every other member under raw/<member>,
 *         and the pickles' globals under security/.
 *
 * Storages: persistent id ('storage', type, key, location, numel) names
 * record <folder>/data/<key> (constants.pkl: <folder>/constants/<key>).
 * A stored record (the torch writer never compresses, and aligns data to
 * 64 bytes) is used in place: the tensor's locator points at the archive
 * file itself at the member's data offset, so reads are plain preads.
 * A deflated record (an archive rewritten by another tool) goes through
 * the zip member source, which inflates on demand. Nothing is read at
 * mount time but the pickles and the small text records. */
#include "readers/torch.h"
#include "core/zip.h"
#include "core/log.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PICKLE_LIMIT ((uint64_t)1 << 30)

struct tzip {
    struct mfs_zip *z;
    char prefix[1024];
    int torchscript;
    int big_endian;
    mfs_pk_heap *h;
    mfs_pk *root, *consts;
    mfs_src *root_src, *const_src;
    uint32_t const_first_id;   /* objects with id >= this come from constants.pkl */
    mfs_src **msrc;            /* deflated member sources, by member index */
    struct mfs_torch torch;
    struct mfs_pk_where where;
};

int mfs_torch_zip_bid(const struct mfs_probe *p, int best, int torchscript)
{
    if (best >= 80 || p->is_dir || p->head_len < 4 || memcmp(p->head, "PK\003\004", 4) != 0) return -1;
    struct mfs_zip *z = mfs_probe_zip(p);
    char prefix[1024];
    if (!z || mfs_torch_zip_prefix(z, prefix, sizeof prefix) < 0) return -1;
    if (mfs_torch_zip_find(z, prefix, "data.pkl") < 0) return -1;
    int ts = mfs_torch_zip_find(z, prefix, "constants.pkl") >= 0;
    if (ts != torchscript) return -1;
    return ts ? 80 : 64;
}

/* Member source for deflated member @i, created once per member. */
static mfs_src *member_src(struct tzip *s, size_t i, mfs_err *e)
{
    if (!s->msrc && !(s->msrc = calloc(s->z->count, sizeof *s->msrc))) {
        mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
        return NULL;
    }
    if (!s->msrc[i]) {
        s->msrc[i] = mfs_zip_member_src(s->z, i, e);
        if (!s->msrc[i] && e) e->status = MFS_FATAL;
    }
    return s->msrc[i];
}

static int resolve(struct mfs_torch *c, const mfs_pk *pid, struct mfs_torch_store *st, mfs_err *e)
{
    struct tzip *s = c->ctx;
    struct mfs_torch_pid p;
    MFS_FORWARD(mfs_torch_parse_pid(c->h, pid, &p, e));
    const char *dir = s->const_first_id && pid->id >= s->const_first_id ? "constants/" : "data/";
    char rel[1100];
    snprintf(rel, sizeof rel, "%s%s", dir, p.key);
    st->dtype = p.dtype;
    st->key = mfs_pk_strndup(c->h, rel, strlen(rel), e);
    if (!st->key) return MFS_FATAL;
    st->location = p.location;
    st->numel = p.numel;
    long i = mfs_torch_zip_find(s->z, s->prefix, rel);
    if (i < 0) {
        if (p.numel == 0) { /* empty storages may have no record */
            st->src = s->z->src;
            st->off = 0;
            st->nbytes = 0;
            return MFS_OK;
        }
        if (p.location && strncmp(p.location, "meta", 4) == 0) {
            st->src = NULL;
            return MFS_OK;
        }
        return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)pid->offset,
                           "storage record %s%s is missing from the archive", s->prefix, rel);
    }
    const struct mfs_zip_member *m = &s->z->m[i];
    if (m->method == 0) {
        st->src = s->z->src;
        st->off = m->data_offset;
    } else {
        if (!(st->src = member_src(s, (size_t)i, e))) return MFS_FATAL;
        st->off = 0;
    }
    st->nbytes = m->size;
    return MFS_OK;
}

int mfs_torch_zip_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    struct tzip *s = calloc(1, sizeof *s);
    MFS_CHECK(s, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    *state = s;
    s->z = mfs_zip_open(p->src, e);
    if (!s->z) return MFS_FATAL;
    MFS_CHECK(mfs_torch_zip_prefix(s->z, s->prefix, sizeof s->prefix) == 0, e, MFS_FATAL, EINVAL, -1,
              "torch zip: cannot find the archive folder");
    char bo[64];
    if (mfs_torch_zip_record(s->z, s->prefix, "byteorder", bo, sizeof bo) == 0) {
        MFS_CHECK(!strcmp(bo, "little") || !strcmp(bo, "big"), e, MFS_FATAL, EINVAL, -1,
                  "torch zip: byteorder record is \"%s\", not little or big", bo);
        s->big_endian = !strcmp(bo, "big");
    }
    s->h = mfs_pk_heap_new(NULL);
    MFS_CHECK(s->h, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    MFS_FORWARD(mfs_torch_load_member(s->z, s->prefix, "data.pkl", s->h, &s->root, &s->root_src, e));
    if (mfs_torch_zip_find(s->z, s->prefix, "constants.pkl") >= 0) {
        s->torchscript = 1;
        s->const_first_id = mfs_pk_heap_count(s->h) + 1;
        MFS_FORWARD(mfs_torch_load_member(s->z, s->prefix, "constants.pkl", s->h, &s->consts,
                                          &s->const_src, e));
    }
    return MFS_OK;
}

/* metadata/: the archive's small records. */
static int records(struct tzip *s, mfs_tree *t, mfs_err *e)
{
    static const char *const recs[][2] = {
        {"byteorder", "byteorder"}, {"version", "version"}, {".data/version", "version"},
        {".format_version", "format_version"}, {".storage_alignment", "storage_alignment"},
        {".data/serialization_id", "serialization_id"}, {"archive_format", "archive_format"},
    };
    uint32_t md = mfs_tree_top(t, MFS_TOP_METADATA);
    char buf[256];
    if (!md) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    size_t pl = strlen(s->prefix);
    if (!mfs_tree_add_textf(t, md, "archive_name", "%.*s\n", (int)(pl ? pl - 1 : 0), s->prefix))
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (size_t i = 0; i < sizeof recs / sizeof *recs; i++)
        if (mfs_torch_zip_record(s->z, s->prefix, recs[i][0], buf, sizeof buf) == 0 &&
            !mfs_tree_lookup_path(t, md, recs[i][1]) &&
            !mfs_tree_add_textf(t, md, recs[i][1], "%s\n", buf))
            return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    return MFS_OK;
}

/* TorchScript constants: tensors/CONSTANTS.c<i>, as code/ refers to them. */
static int constants(struct tzip *s, mfs_tree *t, mfs_err *e)
{
    size_t n;
    mfs_pk **v = mfs_pk_items(s->consts, &n);
    char name[64];
    for (size_t i = 0; i < n; i++) {
        mfs_tensor *tn;
        int rc = mfs_torch_tensor(&s->torch, v[i], &tn, e);
        if (rc < 0) return rc;
        if (rc != 1) continue;
        snprintf(name, sizeof name, "CONSTANTS.c%zu", i);
        if (!mfs_tree_add_model_tensor(t, name, tn))
            return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    return MFS_OK;
}

int mfs_torch_zip_build(void *state, mfs_tree *t, mfs_err *e)
{
    struct tzip *s = state;
    struct mfs_pk_raw_hooks hk;
    int warn = 0, rc;
    mfs_torch_init(&s->torch, t, s->h, resolve, s);
    s->torch.swap = s->big_endian;
    MFS_FORWARD(mfs_torch_build_model(&s->torch, s->root, e));
    if (s->consts) MFS_FORWARD(constants(s, t, e));
    MFS_FORWARD(records(s, t, e));

    uint32_t raw = mfs_tree_top(t, MFS_TOP_RAW);
    MFS_CHECK(raw, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    mfs_torch_raw_hooks(&s->torch, &hk);
    rc = mfs_pk_raw_build(t, raw, "data.pkl", s->root, s->root_src, "raw", &hk, &s->where, e);
    MFS_FORWARD(rc);
    warn |= rc == MFS_WARN;
    if (s->consts) {
        rc = mfs_pk_raw_build(t, raw, "constants.pkl", s->consts, s->const_src, "raw", &hk,
                              &s->where, e);
        MFS_FORWARD(rc);
        warn |= rc == MFS_WARN;
    }
    MFS_FORWARD(mfs_torch_zip_members(t, raw, s->z, s->prefix, 1, e));

    static const char *const names[] = {"data.pkl", "constants.pkl"};
    MFS_FORWARD(mfs_pk_security_build(t, s->h, names, 2, &s->where, e));
    return warn ? MFS_WARN : MFS_OK;
}

void mfs_torch_zip_close(void *state)
{
    struct tzip *s = state;
    if (!s) return;
    if (s->msrc)
        for (size_t i = 0; i < s->z->count; i++) mfs_src_unref(s->msrc[i]);
    free(s->msrc);
    mfs_torch_destroy(&s->torch);
    mfs_pk_where_free(&s->where);
    mfs_src_unref(s->root_src);
    mfs_src_unref(s->const_src);
    mfs_pk_heap_free(s->h);
    mfs_zip_free(s->z);
    free(s);
}
