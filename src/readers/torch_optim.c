/* torch_optim.c: an optimizer state_dict -> optimizer/ (FORMATS.md §6.6).
 *
 *   {'state': {0: {'step': ..., 'exp_avg': T, 'exp_avg_sq': T}, ...},
 *    'param_groups': [{'lr': ..., 'params': [0, 1, 2, 3]}, ...]}
 *
 * optimizer/config.json   param_groups (tensors described, not read)
 * optimizer/step          the step count when stored as a Python number
 * optimizer/mapping       how state entries were named, one line each:
 *                         "<index> <name>" plus a first line saying how
 *                         (param_names / model order / guessed / index)
 * optimizer/state/<param>/<slot>   tensor dirs (non-tensor slots: files)
 *
 * Naming a state index after a parameter (no direct link in the file):
 * param_names when the groups carry them; else indices are consecutive
 * over param_groups' params lists, and the i-th is the model's i-th
 * parameter (registration order) when the counts match and every slot
 * tensor has its parameter's shape; else, when some model parameters are
 * frozen (missing from the optimizer), matching by shape in order, marked
 * "guessed" (only when matching from the front and from the back agree);
 * else the index itself. */
#include "readers/torch.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int oom(mfs_err *e) { return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "out of memory"); }

int mfs_torch_is_optimizer(const mfs_pk *o)
{
    const mfs_pk *d = mfs_pk_as_dict(o);
    if (!d) return 0;
    const mfs_pk *st = mfs_pk_dict_get(o, "state"), *pg = mfs_pk_dict_get(o, "param_groups");
    return st && pg && mfs_pk_as_dict(st) && (pg->kind == MFS_PK_LIST || pg->kind == MFS_PK_TUPLE);
}

/* The shape-bearing slot tensor of a state entry (exp_avg,
 * momentum_buffer ...: any tensor with ndim > 0), or NULL. */
static mfs_tensor *slot_tensor(struct mfs_torch *c, const mfs_pk *entry)
{
    const mfs_pk *d = mfs_pk_as_dict(entry);
    mfs_err e = {0};
    for (size_t i = 0; d && i < d->u.dict.n; i++) {
        mfs_tensor *tn;
        if (mfs_torch_tensor(c, d->u.dict.v[i], &tn, &e) > 0 && tn->ndim > 0) return tn;
    }
    return NULL;
}

static int same_shape(const mfs_tensor *a, const mfs_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* The state entry for param index @idx, or NULL. */
static const mfs_pk *state_of(const mfs_pk *state, int64_t idx)
{
    const mfs_pk *d = mfs_pk_as_dict(state);
    int64_t k;
    for (size_t i = 0; d && i < d->u.dict.n; i++)
        if (mfs_pk_int(d->u.dict.k[i], &k) && k == idx) return d->u.dict.v[i];
    return NULL;
}

int mfs_torch_add_optimizer(struct mfs_torch *c, const mfs_pk *o, const char *sub,
                            const char *const *names, mfs_tensor *const *tensors, size_t n,
                            mfs_err *e)
{
    uint32_t top = mfs_tree_top(c->t, MFS_TOP_OPTIMIZER);
    if (!top) return oom(e);
    uint32_t dir = sub ? mfs_tree_mkdir(c->t, top, sub) : top;
    if (!dir) return oom(e);
    const mfs_pk *state = mfs_pk_dict_get(o, "state");
    const mfs_pk *groups = mfs_pk_dict_get(o, "param_groups");

    json_t *cfg = mfs_torch_json(c, groups);
    if (!cfg || !mfs_tree_add_json(c->t, dir, "config.json", cfg)) {
        json_decref(cfg);
        return oom(e);
    }
    json_decref(cfg);

    /* the flat list of parameter indexes, and param_names if every group has them */
    size_t ng, total = 0;
    mfs_pk **g = mfs_pk_items(groups, &ng);
    int have_pn = ng > 0;
    for (size_t i = 0; i < ng; i++) {
        size_t np, nn;
        mfs_pk_items(mfs_pk_dict_get(g[i], "params"), &np);
        mfs_pk **pn = mfs_pk_items(mfs_pk_dict_get(g[i], "param_names"), &nn);
        if (nn != np) have_pn = 0;
        for (size_t j = 0; j < nn && have_pn; j++) have_pn = pn[j]->kind == MFS_PK_STR && pn[j]->u.s.data;
        total += np;
    }
    int64_t *idx = calloc(total ? total : 1, sizeof *idx);
    const char **pname = calloc(total ? total : 1, sizeof *pname);
    int rc = MFS_OK;
    const char *how = "index";
    char *map = NULL;
    size_t maplen = 0;
    FILE *mf = NULL;
    if (!idx || !pname) {
        rc = oom(e);
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < ng; i++) {
        size_t np, nn;
        mfs_pk **p = mfs_pk_items(mfs_pk_dict_get(g[i], "params"), &np);
        mfs_pk **pn = mfs_pk_items(mfs_pk_dict_get(g[i], "param_names"), &nn);
        for (size_t j = 0; j < np; j++, k++) {
            if (!mfs_pk_int(p[j], &idx[k])) idx[k] = -1;
            if (have_pn) pname[k] = pn[j]->u.s.data;
        }
    }
    if (have_pn) {
        how = "param_names";
    } else if (n && total == n) {
        int ok = 1;
        for (size_t i = 0; i < total && ok; i++) {
            mfs_tensor *st = slot_tensor(c, state_of(state, idx[i]));
            ok = !st || same_shape(st, tensors[i]);
        }
        if (ok) {
            for (size_t i = 0; i < total; i++) pname[i] = names[i];
            how = "model parameter order";
        }
    } else if (n && total && total < n) {
        /* frozen parameters: match shapes in order, from the front and from
         * the back; accept only when both succeed and agree (else the
         * assignment is ambiguous, e.g. a frozen bias next to a norm
         * weight of the same shape) */
        const char **back = calloc(total, sizeof *back);
        int ok = back != NULL;
        size_t m = 0;
        for (size_t i = 0; i < total && ok; i++) {
            mfs_tensor *st = slot_tensor(c, state_of(state, idx[i]));
            while (m < n && st && !same_shape(st, tensors[m])) m++;
            if (m >= n) ok = 0;
            else pname[i] = names[m++];
        }
        m = n;
        for (size_t i = total; i-- > 0 && ok;) {
            mfs_tensor *st = slot_tensor(c, state_of(state, idx[i]));
            while (m > 0 && st && !same_shape(st, tensors[m - 1])) m--;
            if (m == 0) ok = 0;
            else back[i] = names[--m];
        }
        for (size_t i = 0; i < total && ok; i++) ok = back[i] == pname[i];
        free(back);
        if (ok) how = "guessed (shapes matched in model parameter order; some parameters are not optimized)";
        else memset(pname, 0, total * sizeof *pname);
    }

    /* state/<param>/<slot> */
    mf = open_memstream(&map, &maplen);
    if (!mf) {
        rc = oom(e);
        goto out;
    }
    fprintf(mf, "# names from: %s\n", how);
    const mfs_pk *sd = mfs_pk_as_dict(state);
    uint32_t sdir = 0;
    char key[1024], slot[1024], buf[256];
    for (size_t i = 0; sd && i < sd->u.dict.n && rc >= 0; i++) {
        int64_t id;
        const char *name = NULL;
        mfs_pk_key_name(sd->u.dict.k[i], key, sizeof key);
        if (mfs_pk_int(sd->u.dict.k[i], &id))
            for (size_t j = 0; j < total; j++)
                if (idx[j] == id && pname[j]) name = pname[j];
        if (!name) name = key;
        fprintf(mf, "%s %s\n", key, name);
        if (!sdir && !(sdir = mfs_tree_mkdir(c->t, dir, "state"))) {
            rc = oom(e);
            break;
        }
        /* the parameter name is one component even when it holds '/' */
        uint32_t pdir = mfs_tree_mkdir(c->t, sdir, name);
        const mfs_pk *ent = mfs_pk_as_dict(sd->u.dict.v[i]);
        if (!pdir) {
            rc = oom(e);
            break;
        }
        for (size_t j = 0; ent && j < ent->u.dict.n && rc >= 0; j++) {
            mfs_pk_key_name(ent->u.dict.k[j], slot, sizeof slot);
            const mfs_pk *v = ent->u.dict.v[j];
            mfs_tensor *tn;
            int r = mfs_torch_tensor(c, v, &tn, e);
            if (r < 0) rc = r;
            else if (r == 1) rc = mfs_tree_add_tensor_name(c->t, pdir, slot, tn) ? MFS_OK : oom(e);
            else if (v->kind <= MFS_PK_STR)
                rc = mfs_tree_add_textf(c->t, pdir, slot, "%s\n",
                                        v->kind == MFS_PK_STR && v->u.s.data ? v->u.s.data
                                                                             : mfs_pk_repr(v, buf, sizeof buf))
                         ? MFS_OK : oom(e);
        }
    }
    /* step: the first state entry's Python-number step */
    if (rc >= 0 && sd && sd->u.dict.n) {
        const mfs_pk *step = mfs_pk_dict_get(sd->u.dict.v[0], "step");
        double dv;
        if (step && (step->kind == MFS_PK_INT || step->kind == MFS_PK_FLOAT) && mfs_pk_num(step, &dv) &&
            !mfs_tree_add_textf(c->t, dir, "step", "%s\n", mfs_pk_repr(step, buf, sizeof buf)))
            rc = oom(e);
    }
    fclose(mf);
    mf = NULL;
    if (rc >= 0 && !mfs_tree_add_text(c->t, dir, "mapping", map, maplen)) rc = oom(e);
out:
    if (mf) fclose(mf);
    free(map);
    free(idx);
    free(pname);
    return rc;
}
