/* v_stats.c: the `stats` view, computed on first read and cached in the
 * tensor.
 *
 * Eight lines "<name padded to 8><value right-aligned in 24>\n", so the
 * size is always 8*33 bytes and `ls -l` never has to compute anything.
 * min, max, mean, std (population) and absmax are over the finite values
 * (nan and inf are counted apart, as their own lines); complex tensors use
 * the magnitude; integer extremes are printed exactly; with no finite
 * value the float fields read "nan". Welford's update keeps mean/std
 * accurate in one pass over data read in 1 MiB chunks. */
#include "views/view.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE 33
#define NLINES 8
#define STEP (1u << 20)

uint64_t mfs_stats_size(const mfs_tensor *t) { return LINE * NLINES; }

struct acc {
    uint64_t n, nonzero, nan, inf;
    double mean, m2, min, max, absmax;
    int64_t imin, imax;   /* exact extremes for signed ints */
    uint64_t umin, umax;  /* and unsigned */
};

static void add(struct acc *a, double v)
{
    if (isnan(v)) {
        a->nan++;
        a->nonzero++;
        return;
    }
    if (v != 0) a->nonzero++;
    if (isinf(v)) {
        a->inf++;
        return;
    }
    a->n++;
    double d = v - a->mean;
    a->mean += d / (double)a->n;
    a->m2 += d * (v - a->mean);
    if (a->n == 1 || v < a->min) a->min = v;
    if (a->n == 1 || v > a->max) a->max = v;
    if (fabs(v) > a->absmax) a->absmax = fabs(v);
}

static void line(char *out, const char *name, const char *val)
{
    snprintf(out, LINE + 1, "%-8s%24s\n", name, val);
}

static void fval(char *buf, size_t n, double v, int have)
{
    if (!have || isnan(v)) snprintf(buf, n, "nan");
    else snprintf(buf, n, "%.16e", v);
}

/* Builds the stats text of @t (NLINES*LINE bytes + NUL) into @out. */
static int compute(const mfs_tensor *t, char *out, mfs_err *e)
{
    const struct mfs_dtype_info *in = mfs_dtype_get(t->dtype);
    struct acc a;
    memset(&a, 0, sizeof a);
    a.imin = INT64_MAX;
    a.imax = INT64_MIN;
    a.umin = UINT64_MAX;
    int opaque = in->kind == MFS_DK_OPAQUE;
    unsigned isz = in->itemsize;
    unsigned char *buf = opaque ? NULL : malloc(STEP);
    if (!opaque && !buf) return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory");
    uint64_t per = STEP / isz;
    for (uint64_t el = 0; !opaque && el < t->nelems; el += per) {
        uint64_t n = t->nelems - el < per ? t->nelems - el : per;
        if (mfs_tensor_read(t, el * isz, buf, (size_t)(n * isz), e) != (int64_t)(n * isz)) {
            free(buf);
            return MFS_FAILED;
        }
        for (uint64_t i = 0; i < n; i++) {
            const unsigned char *p = buf + i * isz;
            double im, v = mfs_dtype_to_double(t->dtype, p, &im);
            if (in->kind == MFS_DK_COMPLEX) v = hypot(v, im);
            add(&a, v);
            if (in->kind == MFS_DK_INT) {
                int64_t s = t->dtype == MFS_DT_I64 ? ({ int64_t x; memcpy(&x, p, 8); x; }) : (int64_t)v;
                if (s < a.imin) a.imin = s;
                if (s > a.imax) a.imax = s;
            } else if (in->kind == MFS_DK_UINT || in->kind == MFS_DK_BOOL) {
                uint64_t u = t->dtype == MFS_DT_U64 ? ({ uint64_t x; memcpy(&x, p, 8); x; }) : (uint64_t)v;
                if (u < a.umin) a.umin = u;
                if (u > a.umax) a.umax = u;
            }
        }
    }
    free(buf);
    char v[64];
    int have = a.n > 0;
    char *o = out;
    if (have && in->kind == MFS_DK_INT) {
        snprintf(v, sizeof v, "%lld", (long long)a.imin);
        line(o, "min", v);
        snprintf(v, sizeof v, "%lld", (long long)a.imax);
        line(o + LINE, "max", v);
    } else if (have && (in->kind == MFS_DK_UINT || in->kind == MFS_DK_BOOL)) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)a.umin);
        line(o, "min", v);
        snprintf(v, sizeof v, "%llu", (unsigned long long)a.umax);
        line(o + LINE, "max", v);
    } else {
        fval(v, sizeof v, a.min, have);
        line(o, "min", v);
        fval(v, sizeof v, a.max, have);
        line(o + LINE, "max", v);
    }
    fval(v, sizeof v, a.mean, have);
    line(o + 2 * LINE, "mean", v);
    fval(v, sizeof v, have ? sqrt(a.m2 / (double)a.n) : 0, have);
    line(o + 3 * LINE, "std", v);
    fval(v, sizeof v, a.absmax, have);
    line(o + 4 * LINE, "absmax", v);
    if (opaque) {
        line(o + 5 * LINE, "nonzero", "nan");
        line(o + 6 * LINE, "nan", "nan");
        line(o + 7 * LINE, "inf", "nan");
    } else {
        snprintf(v, sizeof v, "%llu", (unsigned long long)a.nonzero);
        line(o + 5 * LINE, "nonzero", v);
        snprintf(v, sizeof v, "%llu", (unsigned long long)a.nan);
        line(o + 6 * LINE, "nan", v);
        snprintf(v, sizeof v, "%llu", (unsigned long long)a.inf);
        line(o + 7 * LINE, "inf", v);
    }
    return MFS_OK;
}

int64_t mfs_stats_read(mfs_tensor *t, uint64_t off, void *buf, size_t len, mfs_err *e)
{
    struct mfs_tensor_cache *c = &t->cache;
    pthread_mutex_lock(&c->mu);
    if (!c->have_stats) {
        char *s = malloc(LINE * NLINES + 1);
        if (!s) {
            pthread_mutex_unlock(&c->mu);
            return mfs_err_set(e, MFS_FAILED, ENOMEM, -1, "out of memory"), -1;
        }
        if (compute(t, s, e) != MFS_OK) {
            free(s);
            pthread_mutex_unlock(&c->mu);
            return -1;
        }
        c->stats = s;
        c->have_stats = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return mfs_copy_range(c->stats, LINE * NLINES, off, buf, len);
}
