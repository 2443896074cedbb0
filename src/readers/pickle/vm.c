/* vm.c: the pickle interpreter loop (see vm.h for the object model).
 *
 * Semantics follow CPython's Lib/pickle.py `_Unpickler.load_*`, with every
 * side effect replaced by recording: GLOBAL pushes a GLOBAL node (and is
 * listed in the heap's global references for security/), REDUCE/NEWOBJ/
 * NEWOBJ_EX/OBJ/INST push CALL nodes, BUILD appends its state to the
 * target's extra record, APPEND(S)/SETITEM(S)/ADDITEMS on anything that
 * is not a real list/dict/set are recorded on the target's extra record.
 *
 * Stack and marks: one stack array; MARK saves the current stack height
 * on `marks`; "pop to mark" takes the items above the last saved height.
 * This is CPython's metastack without copying.
 *
 * The memo maps an index (PUT/BINPUT/LONG_BINPUT/MEMOIZE) to an object
 * *reference*: GET pushes the same node again, which is how shared
 * subtrees and cycles arise. */
#include "readers/pickle/vm_priv.h"
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#define MAX_TEXT_ARG ((size_t)1 << 20)   /* GLOBAL/INST/PERSID/GET/INT lines */

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* ---- stack ---- */

static int push(mfs_pk_vm *vm, mfs_pk *o, mfs_err *e)
{
    if (vm->sp == vm->scap) {
        if (vm->sp >= vm->h->lim.max_stack)
            return mfs_pk_vm_fail(vm, e, "stack deeper than %llu items",
                                  (unsigned long long)vm->h->lim.max_stack);
        size_t nc = vm->scap ? vm->scap * 2 : 64;
        mfs_pk **ns = realloc(vm->stack, nc * sizeof *ns);
        if (!ns) return mfs_pk_vm_fail(vm, e, "out of memory");
        vm->stack = ns;
        vm->scap = nc;
    }
    vm->stack[vm->sp++] = o;
    return MFS_OK;
}

/* Height of the current frame's bottom (last mark, or 0). */
static size_t base(const mfs_pk_vm *vm) { return vm->nmarks ? vm->marks[vm->nmarks - 1] : 0; }

static int pop(mfs_pk_vm *vm, mfs_pk **o, mfs_err *e)
{
    if (vm->sp <= base(vm)) return mfs_pk_vm_fail(vm, e, "pop from an empty stack");
    *o = vm->stack[--vm->sp];
    return MFS_OK;
}

static int top(mfs_pk_vm *vm, mfs_pk **o, mfs_err *e)
{
    if (vm->sp <= base(vm)) return mfs_pk_vm_fail(vm, e, "empty stack");
    *o = vm->stack[vm->sp - 1];
    return MFS_OK;
}

/* Pops to the last mark: *items points into the stack (valid until the
 * next push), *n items. */
static int pop_mark(mfs_pk_vm *vm, mfs_pk ***items, size_t *n, mfs_err *e)
{
    if (!vm->nmarks) return mfs_pk_vm_fail(vm, e, "could not find MARK");
    size_t b = vm->marks[--vm->nmarks];
    *items = vm->stack ? vm->stack + b : NULL; /* NULL + 0 is undefined */
    *n = vm->sp - b;
    vm->sp = b;
    return MFS_OK;
}

static int mark(mfs_pk_vm *vm, mfs_err *e)
{
    if (vm->nmarks >= vm->h->lim.max_depth)
        return mfs_pk_vm_fail(vm, e, "MARK nesting deeper than %u", vm->h->lim.max_depth);
    if (vm->nmarks == vm->mcap) {
        size_t nc = vm->mcap ? vm->mcap * 2 : 32;
        size_t *nm = realloc(vm->marks, nc * sizeof *nm);
        if (!nm) return mfs_pk_vm_fail(vm, e, "out of memory");
        vm->marks = nm;
        vm->mcap = nc;
    }
    vm->marks[vm->nmarks++] = vm->sp;
    return MFS_OK;
}

/* ---- memo ---- */

static struct mfs_pk_memo_slot *memo_slot(mfs_pk_vm *vm, uint64_t idx)
{
    uint64_t key = idx + 1;
    size_t mask = vm->memo_cap - 1;
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
    while (vm->memo[i].key && vm->memo[i].key != key) i = (i + 1) & mask;
    return &vm->memo[i];
}

static int memo_put(mfs_pk_vm *vm, uint64_t idx, mfs_pk *o, mfs_err *e)
{
    if (idx > UINT32_MAX) return mfs_pk_vm_fail(vm, e, "memo index %llu too large",
                                                (unsigned long long)idx);
    if ((vm->memo_n + 1) * 2 > vm->memo_cap) {
        if (vm->memo_n >= vm->h->lim.max_memo)
            return mfs_pk_vm_fail(vm, e, "more than %u memo entries", vm->h->lim.max_memo);
        size_t oc = vm->memo_cap, nc = oc ? oc * 2 : 256;
        struct mfs_pk_memo_slot *old = vm->memo;
        vm->memo = calloc(nc, sizeof *vm->memo);
        if (!vm->memo) {
            vm->memo = old;
            return mfs_pk_vm_fail(vm, e, "out of memory");
        }
        vm->memo_cap = nc;
        for (size_t i = 0; i < oc; i++)
            if (old[i].key) *memo_slot(vm, old[i].key - 1) = old[i];
        free(old);
    }
    struct mfs_pk_memo_slot *s = memo_slot(vm, idx);
    if (!s->key) {
        s->key = idx + 1;
        vm->memo_n++;
    }
    s->val = o;
    return MFS_OK;
}

static int memo_get(mfs_pk_vm *vm, uint64_t idx, mfs_err *e)
{
    if (!vm->memo_cap || idx > UINT32_MAX || !memo_slot(vm, idx)->key)
        return mfs_pk_vm_fail(vm, e, "memo index %llu not set", (unsigned long long)idx);
    return push(vm, memo_slot(vm, idx)->val, e);
}

/* Parses a decimal memo index line (GET/PUT). */
static int text_index(mfs_pk_vm *vm, uint64_t *idx, mfs_err *e)
{
    const char *s;
    size_t n;
    MFS_FORWARD(mfs_pk_line(vm, 64, &s, &n, e));
    uint64_t v = 0;
    if (!n) return mfs_pk_vm_fail(vm, e, "empty memo index");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' && i == n - 1) break;
        if (s[i] < '0' || s[i] > '9' || v > UINT32_MAX)
            return mfs_pk_vm_fail(vm, e, "invalid memo index");
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *idx = v;
    return MFS_OK;
}

/* ---- helpers making objects ---- */

static mfs_pk *mk(mfs_pk_vm *vm, enum mfs_pk_kind k, mfs_err *e)
{
    return mfs_pk_new(vm->h, k, vm->op_off, e);
}

static int push_new(mfs_pk_vm *vm, enum mfs_pk_kind k, mfs_err *e)
{
    mfs_pk *o = mk(vm, k, e);
    return o ? push(vm, o, e) : MFS_FATAL;
}

/* A LIST/TUPLE/SET/FROZENSET of @n items. */
static mfs_pk *mk_seq(mfs_pk_vm *vm, enum mfs_pk_kind k, mfs_pk **items, size_t n, mfs_err *e)
{
    mfs_pk *o = mk(vm, k, e);
    if (!o) return NULL;
    if (n) {
        o->u.seq.v = mfs_pk_alloc(vm->h, n * sizeof(mfs_pk *), e);
        if (!o->u.seq.v) return NULL;
        memcpy(o->u.seq.v, items, n * sizeof(mfs_pk *));
        o->u.seq.n = o->u.seq.cap = n;
    }
    return o;
}

/* Python 2 module names (Lib/_compat_pickle.py, the ones seen in models). */
static const char *norm_module(const char *m)
{
    static const char *const map[][2] = {
        {"__builtin__", "builtins"}, {"copy_reg", "copyreg"},
        {"exceptions", "builtins"}, {"cPickle", "pickle"},
        {"UserDict", "collections"}, {"UserList", "collections"},
        {"Queue", "queue"}, {"cStringIO", "io"}, {"StringIO", "io"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(m, map[i][0]) == 0) return map[i][1];
    return NULL;
}

static int add_global(mfs_pk_vm *vm, const char *mod, size_t ml, const char *name, size_t nl,
                      mfs_pk **out, mfs_err *e)
{
    mfs_pk *g = mk(vm, MFS_PK_GLOBAL, e);
    if (!g) return MFS_FATAL;
    char *m = mfs_pk_strndup(vm->h, mod, ml, e);
    if (!m) return MFS_FATAL;
    const char *nm = norm_module(m);
    g->u.g.module = nm ? nm : m;
    g->u.g.name = mfs_pk_strndup(vm->h, name, nl, e);
    if (!g->u.g.name) return MFS_FATAL;
    /* Python 2 builtin names that moved (the ones that matter) */
    if (strcmp(g->u.g.module, "builtins") == 0) {
        if (strcmp(g->u.g.name, "unicode") == 0) g->u.g.name = "str";
        else if (strcmp(g->u.g.name, "long") == 0) g->u.g.name = "int";
        else if (strcmp(g->u.g.name, "xrange") == 0) g->u.g.name = "range";
    }
    struct mfs_pk_global_ref r = {g, vm->op_off, vm->op, vm->load};
    MFS_FORWARD(mfs_pk_heap_add_global(vm->h, &r, e));
    *out = g;
    return MFS_OK;
}

/* GLOBAL/INST arguments: two text lines, module and name. */
static int text_global(mfs_pk_vm *vm, mfs_pk **out, mfs_err *e)
{
    const char *s;
    size_t n;
    MFS_FORWARD(mfs_pk_line(vm, MAX_TEXT_ARG, &s, &n, e));
    char *mod = mfs_pk_strndup(vm->h, s, n, e); /* the window may move */
    if (!mod) return MFS_FATAL;
    MFS_FORWARD(mfs_pk_line(vm, MAX_TEXT_ARG, &s, &n, e));
    return add_global(vm, mod, strlen(mod), s, n, out, e);
}

/* Records a mutation of a non-container target. */
static int extra_items(mfs_pk_vm *vm, mfs_pk *t, mfs_pk *item, mfs_err *e)
{
    struct mfs_pk_extra *x = mfs_pk_extra_get(vm->h, t, e);
    if (!x) return MFS_FATAL;
    if (!x->items && !(x->items = mk(vm, MFS_PK_LIST, e))) return MFS_FATAL;
    return mfs_pk_seq_push(vm->h, x->items, item, e);
}

static int append_to(mfs_pk_vm *vm, mfs_pk *t, mfs_pk *item, int set, mfs_err *e)
{
    int ok = set ? (t->kind == MFS_PK_SET) : (t->kind == MFS_PK_LIST);
    if (ok) return mfs_pk_seq_push(vm->h, t, item, e);
    return extra_items(vm, t, item, e);
}

static int setitem_to(mfs_pk_vm *vm, mfs_pk *t, mfs_pk *k, mfs_pk *v, mfs_err *e)
{
    if (t->kind == MFS_PK_DICT) return mfs_pk_dict_push(vm->h, t, k, v, e);
    struct mfs_pk_extra *x = mfs_pk_extra_get(vm->h, t, e);
    if (!x) return MFS_FATAL;
    if (!x->dictitems && !(x->dictitems = mk(vm, MFS_PK_DICT, e))) return MFS_FATAL;
    return mfs_pk_dict_push(vm->h, x->dictitems, k, v, e);
}

static int make_call(mfs_pk_vm *vm, enum mfs_pk_call_how how, mfs_pk *fn, mfs_pk *args,
                     mfs_pk *kwargs, mfs_err *e)
{
    mfs_pk *c = mk(vm, MFS_PK_CALL, e);
    if (!c) return MFS_FATAL;
    c->u.call.callable = fn;
    c->u.call.args = args;
    c->u.call.kwargs = kwargs;
    c->u.call.how = (uint8_t)how;
    return push(vm, c, e);
}

static int do_build(mfs_pk_vm *vm, mfs_err *e)
{
    mfs_pk *state, *obj;
    MFS_FORWARD(pop(vm, &state, e));
    MFS_FORWARD(top(vm, &obj, e));
    struct mfs_pk_extra *x = mfs_pk_extra_get(vm->h, obj, e);
    if (!x) return MFS_FATAL;
    if (x->nstates == x->cap_states) {
        size_t nc = x->cap_states ? x->cap_states * 2 : 2;
        mfs_pk **ns = mfs_pk_alloc(vm->h, nc * sizeof *ns, e);
        if (!ns) return MFS_FATAL;
        if (x->nstates) memcpy(ns, x->states, x->nstates * sizeof *ns);
        x->states = ns;
        x->cap_states = nc;
    }
    x->states[x->nstates++] = state;
    if (vm->hooks && vm->hooks->after_build) {
        uint64_t skip = 0;
        mfs_pk *o = obj;
        MFS_FORWARD(vm->hooks->after_build(vm->hooks->ctx, vm, &o, &skip, e));
        if (o && o != obj) vm->stack[vm->sp - 1] = o;
        if (skip) MFS_FORWARD(mfs_pk_skip(vm, skip, e));
    }
    return MFS_OK;
}

static int persid(mfs_pk_vm *vm, mfs_pk *pid, mfs_err *e)
{
    mfs_pk *o;
    if (vm->hooks && vm->hooks->persistent_load) {
        o = vm->hooks->persistent_load(vm->hooks->ctx, vm, pid, e);
        if (!o) {
            if (e && e->status >= 0)
                return mfs_pk_vm_fail(vm, e, "persistent_load refused the id");
            return MFS_FATAL;
        }
    } else {
        if (!(o = mk(vm, MFS_PK_PERSID, e))) return MFS_FATAL;
        o->u.persid.pid = pid;
    }
    return push(vm, o, e);
}

/* Binary str/bytes opcodes: @lenbytes of length, then the payload. */
static int binstr(mfs_pk_vm *vm, enum mfs_pk_kind k, int lenbytes, int is_signed,
                  uint8_t flags, mfs_err *e)
{
    const unsigned char *p;
    MFS_FORWARD(mfs_pk_take(vm, (size_t)lenbytes, &p, e));
    uint64_t len = lenbytes == 1 ? p[0] : lenbytes == 4 ? rd32(p) : rd64(p);
    if (is_signed && (len & 0x80000000u))
        return mfs_pk_vm_fail(vm, e, "negative byte count");
    mfs_pk *o = mk(vm, k, e);
    if (!o) return MFS_FATAL;
    o->flags |= flags;
    MFS_FORWARD(mfs_pk_payload(vm, o, len, e));
    return push(vm, o, e);
}

/* The interpreter loop: one opcode per iteration until STOP. */
static int run(mfs_pk_vm *vm, mfs_pk **out, mfs_err *e)
{
    const unsigned char *p;
    const char *s;
    size_t n;
    mfs_pk *a, *b, *c, *o, **items = NULL;
    uint64_t idx;
    for (;;) {
        vm->op_off = vm->pos;
        vm->op = 0;
        MFS_FORWARD(mfs_pk_take(vm, 1, &p, e));
        vm->op = p[0];
        switch (vm->op) {
        case 0x80: /* PROTO */
            MFS_FORWARD(mfs_pk_take(vm, 1, &p, e));
            if (p[0] > 5) return mfs_pk_vm_fail(vm, e, "unsupported protocol %u", p[0]);
            vm->proto = p[0];
            break;
        case 0x95: /* FRAME: a length hint; opcodes are contiguous anyway */
            MFS_FORWARD(mfs_pk_take(vm, 8, &p, e));
            if (rd64(p) > vm->end - vm->pos)
                return mfs_pk_vm_fail(vm, e, "frame of %llu bytes runs past the end",
                                      (unsigned long long)rd64(p));
            break;
        case '.': /* STOP */
            MFS_FORWARD(pop(vm, out, e));
            return MFS_OK;
        case '(': MFS_FORWARD(mark(vm, e)); break;
        case '0': /* POP */
            if (vm->sp > base(vm)) vm->sp--;
            else MFS_FORWARD(pop_mark(vm, &items, &n, e));
            break;
        case '1': MFS_FORWARD(pop_mark(vm, &items, &n, e)); break; /* POP_MARK */
        case '2': MFS_FORWARD(top(vm, &a, e)); MFS_FORWARD(push(vm, a, e)); break;
        case 'N': MFS_FORWARD(push_new(vm, MFS_PK_NONE, e)); break;
        case 0x88: case 0x89: /* NEWTRUE NEWFALSE */
            if (!(o = mk(vm, MFS_PK_BOOL, e))) return MFS_FATAL;
            o->u.b = vm->op == 0x88;
            MFS_FORWARD(push(vm, o, e));
            break;
        case 'I': /* INT, or bool as 00/01 */
            MFS_FORWARD(mfs_pk_line(vm, MAX_TEXT_ARG, &s, &n, e));
            if (!(o = mk(vm, MFS_PK_INT, e))) return MFS_FATAL;
            if (n == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1')) {
                o->kind = MFS_PK_BOOL;
                o->u.b = s[1] == '1';
            } else {
                MFS_FORWARD(mfs_pk_parse_int(vm, o, s, n, e));
            }
            MFS_FORWARD(push(vm, o, e));
            break;
        case 'L': /* LONG: decimal with an optional trailing L */
            MFS_FORWARD(mfs_pk_line(vm, MAX_TEXT_ARG, &s, &n, e));
            if (n && s[n - 1] == 'L') n--;
            if (!(o = mk(vm, MFS_PK_INT, e))) return MFS_FATAL;
            MFS_FORWARD(mfs_pk_parse_int(vm, o, s, n, e));
            MFS_FORWARD(push(vm, o, e));
            break;
        case 'J': case 'K': case 'M': { /* BININT BININT1 BININT2 */
            size_t w = vm->op == 'J' ? 4 : vm->op == 'K' ? 1 : 2;
            MFS_FORWARD(mfs_pk_take(vm, w, &p, e));
            if (!(o = mk(vm, MFS_PK_INT, e))) return MFS_FATAL;
            o->u.i.v = w == 4 ? (int64_t)(int32_t)rd32(p) : w == 1 ? p[0] : rd16(p);
            MFS_FORWARD(push(vm, o, e));
            break;
        }
        case 0x8a: case 0x8b: { /* LONG1 LONG4 */
            uint64_t len;
            if (vm->op == 0x8a) {
                MFS_FORWARD(mfs_pk_take(vm, 1, &p, e));
                len = p[0];
            } else {
                MFS_FORWARD(mfs_pk_take(vm, 4, &p, e));
                int32_t l = (int32_t)rd32(p);
                if (l < 0) return mfs_pk_vm_fail(vm, e, "negative byte count");
                len = (uint64_t)l;
            }
            if (len > vm->h->lim.max_long)
                return mfs_pk_vm_fail(vm, e, "integer of %llu bytes exceeds the limit of %u",
                                      (unsigned long long)len, vm->h->lim.max_long);
            MFS_FORWARD(mfs_pk_take(vm, (size_t)len, &p, e));
            if (!(o = mk(vm, MFS_PK_INT, e))) return MFS_FATAL;
            MFS_FORWARD(mfs_pk_set_long(vm, o, p, (size_t)len, e));
            MFS_FORWARD(push(vm, o, e));
            break;
        }
        case 'F': /* FLOAT */
            MFS_FORWARD(mfs_pk_line(vm, 400, &s, &n, e));
            if (!(o = mk(vm, MFS_PK_FLOAT, e))) return MFS_FATAL;
            MFS_FORWARD(mfs_pk_parse_float(vm, o, s, n, e));
            MFS_FORWARD(push(vm, o, e));
            break;
        case 'G': { /* BINFLOAT: big-endian double */
            MFS_FORWARD(mfs_pk_take(vm, 8, &p, e));
            uint64_t u = 0;
            for (int i = 0; i < 8; i++) u = u << 8 | p[i];
            if (!(o = mk(vm, MFS_PK_FLOAT, e))) return MFS_FATAL;
            memcpy(&o->u.f, &u, 8);
            MFS_FORWARD(push(vm, o, e));
            break;
        }
        case 'S': /* STRING */
            MFS_FORWARD(mfs_pk_line(vm, (size_t)vm->h->lim.max_input, &s, &n, e));
            if (!(o = mk(vm, MFS_PK_STR, e))) return MFS_FATAL;
            o->u.s.off = vm->op_off + 1;
            MFS_FORWARD(mfs_pk_decode_string(vm, o, s, n, e));
            MFS_FORWARD(push(vm, o, e));
            break;
        case 'V': /* UNICODE */
            MFS_FORWARD(mfs_pk_line(vm, (size_t)vm->h->lim.max_input, &s, &n, e));
            if (!(o = mk(vm, MFS_PK_STR, e))) return MFS_FATAL;
            o->u.s.off = vm->op_off + 1;
            MFS_FORWARD(mfs_pk_decode_unicode(vm, o, s, n, e));
            MFS_FORWARD(push(vm, o, e));
            break;
        case 'T': MFS_FORWARD(binstr(vm, MFS_PK_STR, 4, 1, MFS_PK_F_PY2STR, e)); break;
        case 'U': MFS_FORWARD(binstr(vm, MFS_PK_STR, 1, 0, MFS_PK_F_PY2STR, e)); break;
        case 'X': MFS_FORWARD(binstr(vm, MFS_PK_STR, 4, 0, 0, e)); break;
        case 0x8c: MFS_FORWARD(binstr(vm, MFS_PK_STR, 1, 0, 0, e)); break;
        case 0x8d: MFS_FORWARD(binstr(vm, MFS_PK_STR, 8, 0, 0, e)); break;
        case 'B': MFS_FORWARD(binstr(vm, MFS_PK_BYTES, 4, 0, 0, e)); break;
        case 'C': MFS_FORWARD(binstr(vm, MFS_PK_BYTES, 1, 0, 0, e)); break;
        case 0x8e: MFS_FORWARD(binstr(vm, MFS_PK_BYTES, 8, 0, 0, e)); break;
        case 0x96: MFS_FORWARD(binstr(vm, MFS_PK_BYTEARRAY, 8, 0, 0, e)); break;
        case 0x97: MFS_FORWARD(push_new(vm, MFS_PK_BUFFER, e)); break; /* NEXT_BUFFER */
        case 0x98: /* READONLY_BUFFER */
            MFS_FORWARD(top(vm, &a, e));
            a->flags |= MFS_PK_F_RO;
            break;
        case 'P': /* PERSID: ASCII id */
            MFS_FORWARD(mfs_pk_line(vm, MAX_TEXT_ARG, &s, &n, e));
            if (!(a = mfs_pk_new_str(vm->h, s, n, vm->op_off, e))) return MFS_FATAL;
            MFS_FORWARD(persid(vm, a, e));
            break;
        case 'Q': /* BINPERSID */
            MFS_FORWARD(pop(vm, &a, e));
            MFS_FORWARD(persid(vm, a, e));
            break;
        case 'R': /* REDUCE */
            MFS_FORWARD(pop(vm, &b, e));
            MFS_FORWARD(pop(vm, &a, e));
            MFS_FORWARD(make_call(vm, MFS_PK_REDUCE, a, b, NULL, e));
            break;
        case 0x81: /* NEWOBJ */
            MFS_FORWARD(pop(vm, &b, e));
            MFS_FORWARD(pop(vm, &a, e));
            MFS_FORWARD(make_call(vm, MFS_PK_NEWOBJ, a, b, NULL, e));
            break;
        case 0x92: /* NEWOBJ_EX */
            MFS_FORWARD(pop(vm, &c, e));
            MFS_FORWARD(pop(vm, &b, e));
            MFS_FORWARD(pop(vm, &a, e));
            MFS_FORWARD(make_call(vm, MFS_PK_NEWOBJ_EX, a, b, c, e));
            break;
        case 'b': MFS_FORWARD(do_build(vm, e)); break;
        case 'c': /* GLOBAL */
            MFS_FORWARD(text_global(vm, &a, e));
            MFS_FORWARD(push(vm, a, e));
            break;
        case 0x93: /* STACK_GLOBAL */
            MFS_FORWARD(pop(vm, &b, e));
            MFS_FORWARD(pop(vm, &a, e));
            if (a->kind != MFS_PK_STR || b->kind != MFS_PK_STR || !a->u.s.data || !b->u.s.data)
                return mfs_pk_vm_fail(vm, e, "module and name must be str");
            MFS_FORWARD(add_global(vm, a->u.s.data, a->u.s.len, b->u.s.data, b->u.s.len, &c, e));
            MFS_FORWARD(push(vm, c, e));
            break;
        case 0x82: case 0x83: case 0x84: { /* EXT1 EXT2 EXT4 */
            size_t w = vm->op == 0x82 ? 1 : vm->op == 0x83 ? 2 : 4;
            MFS_FORWARD(mfs_pk_take(vm, w, &p, e));
            int64_t code = w == 1 ? p[0] : w == 2 ? rd16(p) : (int32_t)rd32(p);
            if (code <= 0) return mfs_pk_vm_fail(vm, e, "EXT specifies code <= 0");
            /* the copyreg extension registry is the unpickling process's:
             * record an unknown global so security/ flags it */
            char num[24];
            int l = snprintf(num, sizeof num, "%lld", (long long)code);
            static const char reg[] = "copyreg._extension_registry";
            MFS_FORWARD(add_global(vm, reg, sizeof reg - 1, num, (size_t)l, &a, e));
            MFS_FORWARD(push(vm, a, e));
            break;
        }
        case 'i': { /* INST module name: cls(*items) */
            MFS_FORWARD(text_global(vm, &a, e));
            MFS_FORWARD(pop_mark(vm, &items, &n, e));
            if (!(b = mk_seq(vm, MFS_PK_TUPLE, items, n, e))) return MFS_FATAL;
            MFS_FORWARD(make_call(vm, MFS_PK_INST, a, b, NULL, e));
            break;
        }
        case 'o': /* OBJ: items[0](*items[1:]) */
            MFS_FORWARD(pop_mark(vm, &items, &n, e));
            if (!n) return mfs_pk_vm_fail(vm, e, "no class after MARK");
            a = items[0];
            if (!(b = mk_seq(vm, MFS_PK_TUPLE, items + 1, n - 1, e))) return MFS_FATAL;
            MFS_FORWARD(make_call(vm, MFS_PK_OBJ, a, b, NULL, e));
            break;
        case ')': MFS_FORWARD(push_new(vm, MFS_PK_TUPLE, e)); break;
        case ']': MFS_FORWARD(push_new(vm, MFS_PK_LIST, e)); break;
        case '}': MFS_FORWARD(push_new(vm, MFS_PK_DICT, e)); break;
        case 0x8f: MFS_FORWARD(push_new(vm, MFS_PK_SET, e)); break;
        case 't': case 'l': case 0x91: { /* TUPLE LIST FROZENSET */
            enum mfs_pk_kind k = vm->op == 't' ? MFS_PK_TUPLE
                               : vm->op == 'l' ? MFS_PK_LIST : MFS_PK_FROZENSET;
            MFS_FORWARD(pop_mark(vm, &items, &n, e));
            if (!(o = mk_seq(vm, k, items, n, e))) return MFS_FATAL;
            MFS_FORWARD(push(vm, o, e));
            break;
        }
        case 0x85: case 0x86: case 0x87: { /* TUPLE1 TUPLE2 TUPLE3 */
            n = (size_t)(vm->op - 0x84);
            if (vm->sp - base(vm) < n) return mfs_pk_vm_fail(vm, e, "stack underflow");
            vm->sp -= n;
            if (!(o = mk_seq(vm, MFS_PK_TUPLE, vm->stack + vm->sp, n, e))) return MFS_FATAL;
            MFS_FORWARD(push(vm, o, e));
            break;
        }
        case 'd': /* DICT */
            MFS_FORWARD(pop_mark(vm, &items, &n, e));
            if (n % 2) return mfs_pk_vm_fail(vm, e, "odd number of items for DICT");
            if (!(o = mk(vm, MFS_PK_DICT, e))) return MFS_FATAL;
            for (size_t i = 0; i < n; i += 2)
                MFS_FORWARD(mfs_pk_dict_push(vm->h, o, items[i], items[i + 1], e));
            MFS_FORWARD(push(vm, o, e));
            break;
        case 'a': /* APPEND */
            MFS_FORWARD(pop(vm, &b, e));
            MFS_FORWARD(top(vm, &a, e));
            MFS_FORWARD(append_to(vm, a, b, 0, e));
            break;
        case 'e': case 0x90: /* APPENDS ADDITEMS */
            MFS_FORWARD(pop_mark(vm, &items, &n, e));
            MFS_FORWARD(top(vm, &a, e));
            for (size_t i = 0; i < n; i++)
                MFS_FORWARD(append_to(vm, a, items[i], vm->op == 0x90, e));
            break;
        case 's': /* SETITEM */
            MFS_FORWARD(pop(vm, &c, e));
            MFS_FORWARD(pop(vm, &b, e));
            MFS_FORWARD(top(vm, &a, e));
            MFS_FORWARD(setitem_to(vm, a, b, c, e));
            break;
        case 'u': /* SETITEMS */
            MFS_FORWARD(pop_mark(vm, &items, &n, e));
            if (n % 2) return mfs_pk_vm_fail(vm, e, "odd number of items for SETITEMS");
            MFS_FORWARD(top(vm, &a, e));
            for (size_t i = 0; i < n; i += 2)
                MFS_FORWARD(setitem_to(vm, a, items[i], items[i + 1], e));
            break;
        case 'g': MFS_FORWARD(text_index(vm, &idx, e)); MFS_FORWARD(memo_get(vm, idx, e)); break;
        case 'h':
            MFS_FORWARD(mfs_pk_take(vm, 1, &p, e));
            MFS_FORWARD(memo_get(vm, p[0], e));
            break;
        case 'j':
            MFS_FORWARD(mfs_pk_take(vm, 4, &p, e));
            MFS_FORWARD(memo_get(vm, rd32(p), e));
            break;
        case 'p': case 'q': case 'r': case 0x94: /* PUT BINPUT LONG_BINPUT MEMOIZE */
            if (vm->op == 'p') {
                MFS_FORWARD(text_index(vm, &idx, e));
            } else if (vm->op == 'q') {
                MFS_FORWARD(mfs_pk_take(vm, 1, &p, e));
                idx = p[0];
            } else if (vm->op == 'r') {
                MFS_FORWARD(mfs_pk_take(vm, 4, &p, e));
                idx = rd32(p);
            } else {
                idx = vm->memo_n;
            }
            MFS_FORWARD(top(vm, &a, e));
            MFS_FORWARD(memo_put(vm, idx, a, e));
            break;
        default:
            return mfs_pk_vm_fail(vm, e, "unknown opcode");
        }
    }
}


int mfs_pk_load(mfs_pk_heap *h, mfs_src *src, uint64_t off, uint64_t end,
                const struct mfs_pk_hooks *hooks, mfs_pk **out, uint64_t *stop_end,
                mfs_err *e)
{
    *out = NULL;
    if (!end || end > src->size) end = src->size;
    if (off > end) return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)off,
                                      "pickle: start offset %llu past the end",
                                      (unsigned long long)off);
    mfs_pk_vm *vm = calloc(1, sizeof *vm);
    if (!vm) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "pickle: out of memory");
    vm->h = h;
    vm->src = src;
    vm->hooks = hooks;
    vm->load = h->nloads++;
    vm->pos = vm->start = off;
    vm->end = end;
    int rc = run(vm, out, e);
    if (rc == MFS_OK && stop_end) *stop_end = vm->pos;
    free(vm->buf);
    free(vm->stack);
    free(vm->marks);
    free(vm->memo);
    free(vm);
    return rc;
}
