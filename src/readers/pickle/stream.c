/* stream.c: the VM's view of its input, a buffered window over a byte
 * source.
 *
 * A pickle may start anywhere in a file and be followed (or, for joblib,
 * interleaved) with raw array data, so the input is never slurped: the VM
 * asks for a few bytes at a time (mfs_pk_take), for text lines
 * (mfs_pk_line), or for str/bytes payloads, which are copied only up to
 * limits.inline_max and otherwise skipped and left lazy (their source
 * offset is kept). The window is refilled with one pread of at least
 * 64 KiB. Nothing is ever read at or beyond vm->end. */
#include "readers/pickle/vm_priv.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#define WINDOW 65536

static const char *const opnames[256] = {
    ['('] = "MARK", ['.'] = "STOP", ['0'] = "POP", ['1'] = "POP_MARK",
    ['2'] = "DUP", ['F'] = "FLOAT", ['I'] = "INT", ['J'] = "BININT",
    ['K'] = "BININT1", ['L'] = "LONG", ['M'] = "BININT2", ['N'] = "NONE",
    ['P'] = "PERSID", ['Q'] = "BINPERSID", ['R'] = "REDUCE", ['S'] = "STRING",
    ['T'] = "BINSTRING", ['U'] = "SHORT_BINSTRING", ['V'] = "UNICODE",
    ['X'] = "BINUNICODE", ['a'] = "APPEND", ['b'] = "BUILD", ['c'] = "GLOBAL",
    ['d'] = "DICT", ['}'] = "EMPTY_DICT", ['e'] = "APPENDS", ['g'] = "GET",
    ['h'] = "BINGET", ['i'] = "INST", ['j'] = "LONG_BINGET", ['l'] = "LIST",
    [']'] = "EMPTY_LIST", ['o'] = "OBJ", ['p'] = "PUT", ['q'] = "BINPUT",
    ['r'] = "LONG_BINPUT", ['s'] = "SETITEM", ['t'] = "TUPLE",
    [')'] = "EMPTY_TUPLE", ['u'] = "SETITEMS", ['G'] = "BINFLOAT",
    [0x80] = "PROTO", [0x81] = "NEWOBJ", [0x82] = "EXT1", [0x83] = "EXT2",
    [0x84] = "EXT4", [0x85] = "TUPLE1", [0x86] = "TUPLE2", [0x87] = "TUPLE3",
    [0x88] = "NEWTRUE", [0x89] = "NEWFALSE", [0x8a] = "LONG1", [0x8b] = "LONG4",
    ['B'] = "BINBYTES", ['C'] = "SHORT_BINBYTES", [0x8c] = "SHORT_BINUNICODE",
    [0x8d] = "BINUNICODE8", [0x8e] = "BINBYTES8", [0x8f] = "EMPTY_SET",
    [0x90] = "ADDITEMS", [0x91] = "FROZENSET", [0x92] = "NEWOBJ_EX",
    [0x93] = "STACK_GLOBAL", [0x94] = "MEMOIZE", [0x95] = "FRAME",
    [0x96] = "BYTEARRAY8", [0x97] = "NEXT_BUFFER", [0x98] = "READONLY_BUFFER",
};

const char *mfs_pk_opname(uint8_t op) { return opnames[op]; }

int mfs_pk_vm_fail(mfs_pk_vm *vm, mfs_err *e, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *n = opnames[vm->op];
    char unk[32];
    if (!n) {
        snprintf(unk, sizeof unk, "opcode 0x%02x", vm->op);
        n = unk;
    }
    return mfs_err_set(e, MFS_FATAL, EINVAL, (int64_t)vm->op_off,
                       "pickle: byte %llu: %s: %s",
                       (unsigned long long)vm->op_off, n, msg);
}

/* Counts @n opcode bytes against max_input. */
static int consume(mfs_pk_vm *vm, uint64_t n, mfs_err *e)
{
    vm->consumed += n;
    if (vm->consumed > vm->h->lim.max_input)
        return mfs_pk_vm_fail(vm, e, "pickle longer than the limit of %llu bytes",
                              (unsigned long long)vm->h->lim.max_input);
    return MFS_OK;
}

/* Makes [pos, pos+n) resident in the window (n <= bytes left). */
static int fill(mfs_pk_vm *vm, size_t n, mfs_err *e)
{
    if (vm->pos >= vm->bstart && vm->pos + n <= vm->bstart + vm->blen) return MFS_OK;
    size_t want = n < WINDOW ? WINDOW : n;
    if ((uint64_t)want > vm->end - vm->pos) want = (size_t)(vm->end - vm->pos);
    if (want < n) return mfs_pk_vm_fail(vm, e, "truncated pickle (end of input)");
    if (want > vm->bcap) {
        unsigned char *nb = realloc(vm->buf, want);
        if (!nb) return mfs_err_set(e, MFS_FATAL, ENOMEM, -1, "pickle: out of memory");
        vm->buf = nb;
        vm->bcap = want;
    }
    mfs_err le = {0};
    int64_t got = mfs_src_read(vm->src, vm->buf, want, vm->pos, &le);
    if (got < 0) {
        if (e) *e = le;
        return mfs_pk_vm_fail(vm, e, "read error: %s", le.msg);
    }
    vm->bstart = vm->pos;
    vm->blen = (size_t)got;
    if ((size_t)got < n) return mfs_pk_vm_fail(vm, e, "truncated pickle (end of file)");
    return MFS_OK;
}

int mfs_pk_take(mfs_pk_vm *vm, size_t n, const unsigned char **p, mfs_err *e)
{
    if ((uint64_t)n > vm->end - vm->pos)
        return mfs_pk_vm_fail(vm, e, "truncated pickle: %zu bytes needed, %llu left",
                              n, (unsigned long long)(vm->end - vm->pos));
    MFS_FORWARD(consume(vm, n, e));
    MFS_FORWARD(fill(vm, n, e));
    *p = vm->buf + (vm->pos - vm->bstart);
    vm->pos += n;
    return MFS_OK;
}

int mfs_pk_line(mfs_pk_vm *vm, size_t max, const char **p, size_t *len, mfs_err *e)
{
    size_t look = 256;
    for (;;) {
        uint64_t left = vm->end - vm->pos;
        size_t n = look;
        if ((uint64_t)n > left) n = (size_t)left;
        if (n == 0) return mfs_pk_vm_fail(vm, e, "truncated pickle: missing end of line");
        MFS_FORWARD(fill(vm, n, e));
        /* the window may hold more than asked: search all of it */
        size_t avail = (size_t)(vm->bstart + vm->blen - vm->pos);
        const unsigned char *s = vm->buf + (vm->pos - vm->bstart);
        const unsigned char *nl = memchr(s, '\n', avail);
        if (nl) {
            size_t l = (size_t)(nl - s);
            if (l > max) return mfs_pk_vm_fail(vm, e, "text argument longer than %zu bytes", max);
            MFS_FORWARD(consume(vm, l + 1, e));
            *p = (const char *)s;
            *len = l;
            vm->pos += l + 1;
            return MFS_OK;
        }
        if (avail > max) return mfs_pk_vm_fail(vm, e, "text argument longer than %zu bytes", max);
        if ((uint64_t)avail >= left)
            return mfs_pk_vm_fail(vm, e, "truncated pickle: missing end of line");
        look = avail * 2 + 1;
        if (look > max + 1) look = max + 1;
    }
}

int mfs_pk_payload(mfs_pk_vm *vm, mfs_pk *o, uint64_t len, mfs_err *e)
{
    if (len > vm->end - vm->pos)
        return mfs_pk_vm_fail(vm, e, "length %llu runs past the end of input (%llu left)",
                              (unsigned long long)len, (unsigned long long)(vm->end - vm->pos));
    o->u.s.len = len;
    o->u.s.off = vm->pos;
    if (len > vm->h->lim.inline_max) {
        o->flags |= MFS_PK_F_LAZY;
        o->u.s.data = NULL;
        vm->pos += len;
        return MFS_OK;
    }
    const unsigned char *p;
    MFS_FORWARD(mfs_pk_take(vm, (size_t)len, &p, e));
    char *d = mfs_pk_strndup(vm->h, (const char *)p, (size_t)len, e);
    if (!d) return MFS_FATAL;
    o->u.s.data = d;
    return MFS_OK;
}

int mfs_pk_skip(mfs_pk_vm *vm, uint64_t n, mfs_err *e)
{
    if (n > vm->end - vm->pos)
        return mfs_pk_vm_fail(vm, e, "hook skip of %llu bytes runs past the end of input",
                              (unsigned long long)n);
    vm->pos += n;
    return MFS_OK;
}

uint64_t mfs_pk_vm_offset(const mfs_pk_vm *vm) { return vm->pos; }
mfs_src *mfs_pk_vm_src(const mfs_pk_vm *vm) { return vm->src; }
mfs_pk_heap *mfs_pk_vm_heap(const mfs_pk_vm *vm) { return vm->h; }
int mfs_pk_vm_protocol(const mfs_pk_vm *vm) { return vm->proto; }
