/* obj.c: inspecting the objects a pickle load made (see vm.h).
 *
 * Readers recognise what they know by pattern: "a CALL of GLOBAL
 * torch._utils._rebuild_tensor_v2 with a TUPLE of args", "the DICT view of
 * an OrderedDict call filled by SETITEMS". These helpers make those tests
 * one-liners and never fail: a mismatch is simply NULL/0. */
#include "readers/pickle/vm_priv.h"
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <inttypes.h>
#include <stdlib.h>

const char *mfs_pk_kind_name(int kind)
{
    switch (kind) {
    case MFS_PK_NONE: return "none";
    case MFS_PK_BOOL: return "bool";
    case MFS_PK_INT: return "int";
    case MFS_PK_FLOAT: return "float";
    case MFS_PK_STR: return "str";
    case MFS_PK_BYTES: return "bytes";
    case MFS_PK_BYTEARRAY: return "bytearray";
    case MFS_PK_LIST: return "list";
    case MFS_PK_TUPLE: return "tuple";
    case MFS_PK_SET: return "set";
    case MFS_PK_FROZENSET: return "frozenset";
    case MFS_PK_DICT: return "dict";
    case MFS_PK_GLOBAL: return "global";
    case MFS_PK_CALL: return "call";
    case MFS_PK_PERSID: return "persid";
    case MFS_PK_BUFFER: return "buffer";
    default: return "?";
    }
}

const char *mfs_pk_str(const mfs_pk *o)
{
    if (!o || (o->kind != MFS_PK_STR && o->kind != MFS_PK_BYTES)) return NULL;
    return o->u.s.data;
}

int mfs_pk_str_eq(const mfs_pk *o, const char *s)
{
    return o && o->kind == MFS_PK_STR && o->u.s.data && o->u.s.len == strlen(s) &&
           memcmp(o->u.s.data, s, o->u.s.len) == 0;
}

int mfs_pk_int(const mfs_pk *o, int64_t *v)
{
    if (!o) return 0;
    if (o->kind == MFS_PK_BOOL) { *v = o->u.b; return 1; }
    if (o->kind == MFS_PK_INT && !(o->flags & MFS_PK_F_BIG)) { *v = o->u.i.v; return 1; }
    return 0;
}

int mfs_pk_num(const mfs_pk *o, double *v)
{
    int64_t i;
    if (mfs_pk_int(o, &i)) { *v = (double)i; return 1; }
    if (o && o->kind == MFS_PK_FLOAT) { *v = o->u.f; return 1; }
    return 0;
}

int mfs_pk_global_is(const mfs_pk *o, const char *module, const char *name)
{
    return o && o->kind == MFS_PK_GLOBAL && strcmp(o->u.g.module, module) == 0 &&
           (!name || strcmp(o->u.g.name, name) == 0);
}

const mfs_pk *mfs_pk_call_of(const mfs_pk *o)
{
    if (!o || o->kind != MFS_PK_CALL) return NULL;
    const mfs_pk *c = o->u.call.callable;
    return c && c->kind == MFS_PK_GLOBAL ? c : NULL;
}

int mfs_pk_call_is(const mfs_pk *o, const char *module, const char *name)
{
    return mfs_pk_global_is(mfs_pk_call_of(o), module, name);
}

mfs_pk **mfs_pk_items(const mfs_pk *o, size_t *n)
{
    *n = 0;
    if (!o) return NULL;
    switch (o->kind) {
    case MFS_PK_LIST: case MFS_PK_TUPLE: case MFS_PK_SET: case MFS_PK_FROZENSET:
        *n = o->u.seq.n;
        return o->u.seq.v;
    case MFS_PK_CALL:
        if (o->x && o->x->items) {
            *n = o->x->items->u.seq.n;
            return o->x->items->u.seq.v;
        }
        return NULL;
    default:
        return NULL;
    }
}

size_t mfs_pk_nargs(const mfs_pk *o)
{
    if (!o || o->kind != MFS_PK_CALL || !o->u.call.args) return 0;
    const mfs_pk *a = o->u.call.args;
    return a->kind == MFS_PK_TUPLE || a->kind == MFS_PK_LIST ? a->u.seq.n : 0;
}

mfs_pk *mfs_pk_arg(const mfs_pk *o, size_t i)
{
    if (i >= mfs_pk_nargs(o)) return NULL;
    return o->u.call.args->u.seq.v[i];
}

mfs_pk *mfs_pk_state(const mfs_pk *o)
{
    if (!o || !o->x || !o->x->nstates) return NULL;
    return o->x->states[o->x->nstates - 1];
}

const mfs_pk *mfs_pk_as_dict(const mfs_pk *o)
{
    if (!o) return NULL;
    if (o->kind == MFS_PK_DICT) return o;
    if (o->kind != MFS_PK_CALL) return NULL;
    if (o->x && o->x->dictitems) return o->x->dictitems;
    /* OrderedDict([(k, v), ...]) or dict({...}): an argument holding pairs */
    const mfs_pk *a0 = mfs_pk_arg(o, 0);
    if (a0 && a0->kind == MFS_PK_DICT) return a0;
    /* an object rebuilt from a __dict__ state (NEWOBJ + BUILD {...}) is not
     * a mapping: callers use mfs_pk_state() for that. An OrderedDict with
     * no items is an empty mapping: */
    if (mfs_pk_call_is(o, "collections", "OrderedDict") && mfs_pk_nargs(o) == 0) {
        static const mfs_pk empty = {.kind = MFS_PK_DICT};
        return &empty;
    }
    return NULL;
}

mfs_pk *mfs_pk_dict_get(const mfs_pk *o, const char *key)
{
    const mfs_pk *d = mfs_pk_as_dict(o);
    if (!d) return NULL;
    for (size_t i = d->u.dict.n; i-- > 0;)
        if (mfs_pk_str_eq(d->u.dict.k[i], key)) return d->u.dict.v[i];
    return NULL;
}

const char *mfs_pk_qualname(const mfs_pk *o, char *buf, size_t n)
{
    if (!n) return buf;
    buf[0] = 0;
    if (o && o->kind == MFS_PK_GLOBAL) snprintf(buf, n, "%s.%s", o->u.g.module, o->u.g.name);
    return buf;
}

/* Big int as hex (0x...) since decimal conversion is not worth it here. */
static void big_hex(const mfs_pk *o, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "int<%zu bytes>0x", o->u.i.nbytes);
    for (size_t i = o->u.i.nbytes; i-- > 0 && k + 3 < n;)
        k += (size_t)snprintf(buf + k, n - k, "%02x", o->u.i.bytes[i]);
}

const char *mfs_pk_float_str(double v, char *buf, size_t n)
{
    if (isnan(v)) { snprintf(buf, n, "nan"); return buf; }
    if (isinf(v)) { snprintf(buf, n, v > 0 ? "inf" : "-inf"); return buf; }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    /* Python writes integral floats with ".0" */
    if (!strpbrk(buf, ".eE")) {
        size_t l = strlen(buf);
        if (l + 2 < n) memcpy(buf + l, ".0", 3);
    }
    return buf;
}

struct rbuf {
    char *p;
    size_t n, len;
};

static void rput(struct rbuf *r, const char *s, size_t l)
{
    while (l-- && r->len + 1 < r->n) r->p[r->len++] = *s++;
    r->p[r->len] = 0;
}
static void rputs(struct rbuf *r, const char *s) { rput(r, s, strlen(s)); }

static void repr_rec(struct rbuf *r, const mfs_pk *o, int depth)
{
    char tmp[128];
    if (r->len + 1 >= r->n) return;
    if (!o) { rputs(r, "NULL"); return; }
    if (depth > 6) { rputs(r, "..."); return; }
    switch (o->kind) {
    case MFS_PK_NONE: rputs(r, "None"); return;
    case MFS_PK_BOOL: rputs(r, o->u.b ? "True" : "False"); return;
    case MFS_PK_INT:
        if (o->flags & MFS_PK_F_BIG) big_hex(o, tmp, sizeof tmp);
        else snprintf(tmp, sizeof tmp, "%" PRId64, o->u.i.v);
        rputs(r, tmp);
        return;
    case MFS_PK_FLOAT:
        rputs(r, mfs_pk_float_str(o->u.f, tmp, sizeof tmp));
        return;
    case MFS_PK_STR: case MFS_PK_BYTES: case MFS_PK_BYTEARRAY:
        if (!o->u.s.data) {
            snprintf(tmp, sizeof tmp, "<%s of %llu bytes>", mfs_pk_kind_name(o->kind),
                     (unsigned long long)o->u.s.len);
            rputs(r, tmp);
            return;
        }
        rputs(r, o->kind == MFS_PK_STR ? "'" : "b'");
        for (size_t i = 0; i < o->u.s.len && r->len + 1 < r->n; i++) {
            unsigned char c = (unsigned char)o->u.s.data[i];
            if (c == '\'' || c == '\\') { rput(r, "\\", 1); rput(r, (char *)&c, 1); }
            else if (c >= 0x20 && c != 0x7f && (c < 0x80 || o->kind == MFS_PK_STR)) rput(r, (char *)&c, 1);
            else { snprintf(tmp, sizeof tmp, "\\x%02x", c); rputs(r, tmp); }
        }
        rputs(r, "'");
        return;
    case MFS_PK_LIST: case MFS_PK_TUPLE: case MFS_PK_SET: case MFS_PK_FROZENSET: {
        const char *open = o->kind == MFS_PK_LIST ? "[" : o->kind == MFS_PK_TUPLE ? "(" :
                           o->kind == MFS_PK_SET ? "{" : "frozenset({";
        const char *close = o->kind == MFS_PK_LIST ? "]" : o->kind == MFS_PK_TUPLE ? ")" :
                            o->kind == MFS_PK_SET ? "}" : "})";
        rputs(r, open);
        for (size_t i = 0; i < o->u.seq.n && r->len + 1 < r->n; i++) {
            if (i) rputs(r, ", ");
            repr_rec(r, o->u.seq.v[i], depth + 1);
        }
        if (o->kind == MFS_PK_TUPLE && o->u.seq.n == 1) rputs(r, ",");
        rputs(r, close);
        return;
    }
    case MFS_PK_DICT:
        rputs(r, "{");
        for (size_t i = 0; i < o->u.dict.n && r->len + 1 < r->n; i++) {
            if (i) rputs(r, ", ");
            repr_rec(r, o->u.dict.k[i], depth + 1);
            rputs(r, ": ");
            repr_rec(r, o->u.dict.v[i], depth + 1);
        }
        rputs(r, "}");
        return;
    case MFS_PK_GLOBAL:
        rputs(r, o->u.g.module);
        rputs(r, ".");
        rputs(r, o->u.g.name);
        return;
    case MFS_PK_CALL:
        repr_rec(r, o->u.call.callable, depth + 1);
        if (o->u.call.args && o->u.call.args->kind == MFS_PK_TUPLE) {
            const mfs_pk *a = o->u.call.args;
            rputs(r, "(");
            for (size_t i = 0; i < a->u.seq.n && r->len + 1 < r->n; i++) {
                if (i) rputs(r, ", ");
                repr_rec(r, a->u.seq.v[i], depth + 1);
            }
            rputs(r, ")");
        } else {
            rputs(r, "(*");
            repr_rec(r, o->u.call.args, depth + 1);
            rputs(r, ")");
        }
        return;
    case MFS_PK_PERSID:
        rputs(r, "persistent_load(");
        repr_rec(r, o->u.persid.pid, depth + 1);
        rputs(r, ")");
        return;
    case MFS_PK_BUFFER:
        rputs(r, "<out-of-band buffer>");
        return;
    }
}

const char *mfs_pk_repr(const mfs_pk *o, char *buf, size_t n)
{
    if (!n) return buf;
    struct rbuf r = {buf, n, 0};
    buf[0] = 0;
    repr_rec(&r, o, 0);
    if (r.len + 1 >= n && n > 4) memcpy(buf + n - 4, "...", 4);
    return buf;
}

const char *mfs_pk_key_name(const mfs_pk *o, char *buf, size_t n)
{
    if (o && o->kind == MFS_PK_STR && o->u.s.data) {
        snprintf(buf, n, "%s", o->u.s.data);
        return buf;
    }
    if (o && o->kind == MFS_PK_INT && !(o->flags & MFS_PK_F_BIG)) {
        snprintf(buf, n, "%" PRId64, o->u.i.v);
        return buf;
    }
    return mfs_pk_repr(o, buf, n);
}
