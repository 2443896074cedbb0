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
 * mount time but the pickles and the small text records.
 *
 * The archive is listed once, by the probe (mfs_probe_zip, shared with
 * the bidders); open() copies what build() and the tensors need into
 * `members` (names sorted for lookup, data offsets, sizes) and makes the
 * member sources of compressed members while the listing is at hand, so
 * a 2,000-tensor archive is not listed twice. */
#include "readers/torch.h"
#include "core/zip.h"
#include "core/log.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PICKLE_LIMIT ((uint64_t)1 << 30)

/* What we keep of one archive member below the folder. */
struct tmember {
    char *rel;          /* name below the archive folder (malloc'd) */
    uint64_t off, size; /* data offset in the archive, uncompressed size */
    int stored;
    mfs_src *src;       /* compressed members: their inflating source */
};

struct tzip {
    mfs_src *file;      /* the archive (referenced) */
    struct tmember *m;  /* sorted by rel */
    size_t nm;
    char prefix[1024];
    char *rec[7];       /* small records, see RECS */
    int torchscript;
    int big_endian;
    mfs_pk_heap *h;
    mfs_pk *root, *consts;
    mfs_src *root_src, *const_src;
    uint32_t const_first_id;   /* objects with id >= this come from constants.pkl */
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

static int cmp_member(const void *a, const void *b)
{
    return strcmp(((const struct tmember *)a)->rel, ((const struct tmember *)b)->rel);
}

static struct tmember *find_member(struct tzip *s, const char *rel)
{
    struct tmember k = {.rel = (char *)rel};
    return s->nm ? bsearch(&k, s->m, s->nm, sizeof *s->m, cmp_member) : NULL;
}

/* Copies the listing of the members below the folder (see top). */
static int copy_members(struct tzip *s, struct mfs_zip *z, mfs_err *e)
{
    size_t pl = strlen(s->prefix);
    s->m = calloc(z->count ? z->count : 1, sizeof *s->m);
    MFS_CHECK(s->m, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (size_t i = 0; i < z->count; i++) {
        const struct mfs_zip_member *zm = &z->m[i];
        if (zm->is_dir || strncmp(zm->name, s->prefix, pl) != 0 || !zm->name[pl]) continue;
        struct tmember *t = &s->m[s->nm];
        t->rel = strdup(zm->name + pl);
        MFS_CHECK(t->rel, e, MFS_FATAL, ENOMEM, -1, "out of memory");
        t->off = zm->data_offset;
        t->size = zm->size;
        t->stored = zm->method == 0;
        if (!t->stored) {
            mfs_err le = {0};
            t->src = mfs_zip_member_src(z, i, &le); /* NULL: unsupported method, left out */
        }
        s->nm++;
    }
    if (s->nm) qsort(s->m, s->nm, sizeof *s->m, cmp_member);
    return MFS_OK;
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
    struct tmember *m = find_member(s, rel);
    if (!m || (!m->stored && !m->src)) {
        if (p.numel == 0) { /* empty storages may have no record */
            st->src = s->file;
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
    if (m->stored) {
        st->src = s->file;
        st->off = m->off;
    } else {
        st->src = m->src;
        st->off = 0;
    }
    st->nbytes = m->size;
    return MFS_OK;
}

/* The archive's small records (read in open, placed in metadata/ by build). */
static const char *const RECS[][2] = {
    {"byteorder", "byteorder"}, {"version", "version"}, {".data/version", "version"},
    {".format_version", "format_version"}, {".storage_alignment", "storage_alignment"},
    {".data/serialization_id", "serialization_id"}, {"archive_format", "archive_format"},
};
#define NRECS (sizeof RECS / sizeof RECS[0])

static int records(struct tzip *s, struct mfs_zip *z, mfs_err *e)
{
    char buf[256];
    for (size_t i = 0; i < NRECS; i++)
        if (mfs_torch_zip_record(z, s->prefix, RECS[i][0], buf, sizeof buf) == 0)
            MFS_CHECK(s->rec[i] = strdup(buf), e, MFS_FATAL, ENOMEM, -1, "out of memory");
    return MFS_OK;
}

static int add_records(struct tzip *s, mfs_tree *t, mfs_err *e)
{
    uint32_t md = mfs_tree_top(t, MFS_TOP_METADATA);
    if (!md) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    size_t pl = strlen(s->prefix);
    if (!mfs_tree_add_textf(t, md, "archive_name", "%.*s\n", (int)(pl ? pl - 1 : 0), s->prefix))
        return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    for (size_t i = 0; i < NRECS; i++)
        if (s->rec[i] && !mfs_tree_lookup_path(t, md, RECS[i][1]) &&
            !mfs_tree_add_textf(t, md, RECS[i][1], "%s\n", s->rec[i]))
            return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    return MFS_OK;
}

/* raw/<member>: every member but the pickles and the storage records
 * (shown as tensors), e.g. TorchScript code/, records, extra/. */
static int add_members(struct tzip *s, mfs_tree *t, uint32_t raw, mfs_err *e)
{
    for (size_t i = 0; i < s->nm; i++) {
        const struct tmember *m = &s->m[i];
        size_t rl = strlen(m->rel);
        if ((rl > 4 && strcmp(m->rel + rl - 4, ".pkl") == 0 && !strchr(m->rel, '/')) ||
            !strncmp(m->rel, "data/", 5) || !strncmp(m->rel, "constants/", 10))
            continue;
        if (!m->stored && !m->src) continue; /* unsupported compression */
        if (!mfs_tree_add_src_range(t, raw, m->rel, m->stored ? s->file : m->src,
                                    m->stored ? m->off : 0, m->size))
            return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory");
    }
    return MFS_OK;
}

int mfs_torch_zip_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    struct tzip *s = calloc(1, sizeof *s);
    MFS_CHECK(s, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    *state = s;
    struct mfs_zip *z = mfs_probe_zip(p); /* borrowed: valid during open */
    MFS_CHECK(z, e, MFS_FATAL, EINVAL, 0, "not a readable zip archive");
    s->file = mfs_src_ref(z->src);
    MFS_CHECK(mfs_torch_zip_prefix(z, s->prefix, sizeof s->prefix) == 0, e, MFS_FATAL, EINVAL, -1,
              "torch zip: cannot find the archive folder");
    MFS_FORWARD(copy_members(s, z, e));
    MFS_FORWARD(records(s, z, e));
    char bo[64];
    if (mfs_torch_zip_record(z, s->prefix, "byteorder", bo, sizeof bo) == 0) {
        MFS_CHECK(!strcmp(bo, "little") || !strcmp(bo, "big"), e, MFS_FATAL, EINVAL, -1,
                  "torch zip: byteorder record is \"%s\", not little or big", bo);
        s->big_endian = !strcmp(bo, "big");
    }
    s->h = mfs_pk_heap_new(NULL);
    MFS_CHECK(s->h, e, MFS_FATAL, ENOMEM, -1, "out of memory");
    MFS_FORWARD(mfs_torch_load_member(z, s->prefix, "data.pkl", s->h, &s->root, &s->root_src, e));
    if (mfs_torch_zip_find(z, s->prefix, "constants.pkl") >= 0) {
        s->torchscript = 1;
        s->const_first_id = mfs_pk_heap_count(s->h) + 1;
        MFS_FORWARD(mfs_torch_load_member(z, s->prefix, "constants.pkl", s->h, &s->consts,
                                          &s->const_src, e));
    }
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
    MFS_FORWARD(add_records(s, t, e));

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
    MFS_FORWARD(add_members(s, t, raw, e));

    static const char *const names[] = {"data.pkl", "constants.pkl"};
    MFS_FORWARD(mfs_pk_security_build(t, s->h, names, 2, &s->where, e));
    return warn ? MFS_WARN : MFS_OK;
}

void mfs_torch_zip_close(void *state)
{
    struct tzip *s = state;
    if (!s) return;
    for (size_t i = 0; i < s->nm; i++) {
        free(s->m[i].rel);
        mfs_src_unref(s->m[i].src);
    }
    free(s->m);
    for (size_t i = 0; i < NRECS; i++) free(s->rec[i]);
    mfs_torch_destroy(&s->torch);
    mfs_pk_where_free(&s->where);
    mfs_src_unref(s->root_src);
    mfs_src_unref(s->const_src);
    mfs_pk_heap_free(s->h);
    mfs_src_unref(s->file);
    free(s);
}
