/* vm_priv.h: internals shared by the files of the pickle VM (heap.c,
 * stream.c, vm.c, vm_text.c). Not for readers: they use vm.h only.
 *
 * The heap is a chunked bump allocator (objects, strings and arrays are
 * never freed one by one; growing an array copies it and leaves the old
 * copy in the arena, which at most doubles the space a container uses).
 *
 * A load (struct mfs_pk_vm) owns transient state only: the buffered input
 * window, the stack with its mark positions, and the memo (an open-
 * addressing hash map index -> object). It is malloc'd and freed by
 * mfs_pk_load; everything it creates lives in the heap. */
#ifndef MFS_PICKLE_VM_PRIV_H
#define MFS_PICKLE_VM_PRIV_H
#include "readers/pickle/vm.h"

struct mfs_pk_chunk {
    struct mfs_pk_chunk *next;
    size_t used, cap;
    unsigned char data[];
};

struct mfs_pk_heap {
    struct mfs_pk_limits lim;
    struct mfs_pk_chunk *chunks;
    uint64_t bytes;      /* counted against lim.max_alloc */
    uint32_t count;      /* objects made (ids 1..count) */
    uint32_t nloads;     /* mfs_pk_load calls started */
    struct mfs_pk_global_ref *globals; /* malloc'd */
    size_t nglobals, capglobals;
};

struct mfs_pk_memo_slot {
    uint64_t key;        /* index + 1; 0 = empty */
    mfs_pk *val;
};

struct mfs_pk_vm {
    mfs_pk_heap *h;
    mfs_src *src;
    const struct mfs_pk_hooks *hooks;
    uint32_t load;       /* index of this load in the heap */
    int proto;

    /* input window: bytes [bstart, bstart+blen) of src are in buf */
    uint64_t pos, end, start;
    uint64_t consumed;   /* opcode bytes read, against lim.max_input */
    unsigned char *buf;
    uint64_t bstart;
    size_t blen, bcap;

    uint64_t op_off;     /* offset of the opcode being run */
    uint8_t op;

    mfs_pk **stack;
    size_t sp, scap;
    size_t *marks;       /* stack positions saved by MARK */
    size_t nmarks, mcap;

    struct mfs_pk_memo_slot *memo;
    size_t memo_n, memo_cap; /* entries, slots (power of two) */
};

/* ---- stream.c ---- */
/* vm_fail() : sets "pickle: byte <op_off>: <OPNAME>: <msg>" and returns MFS_FATAL. */
int mfs_pk_vm_fail(mfs_pk_vm *vm, mfs_err *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Name of opcode @op ("BINPUT", ...) or NULL for unknown bytes. */
const char *mfs_pk_opname(uint8_t op);
/* Exactly @n bytes at the current position into *p (valid until the next
 * stream call), position advanced. MFS_OK or MFS_FATAL (truncated). */
int mfs_pk_take(mfs_pk_vm *vm, size_t n, const unsigned char **p, mfs_err *e);
/* A text line up to '\n' (excluded, not NUL-terminated) of at most @max
 * bytes; position advanced past '\n'. */
int mfs_pk_line(mfs_pk_vm *vm, size_t max, const char **p, size_t *len, mfs_err *e);
/* A str/bytes payload of @len bytes: copied into the heap when len <=
 * inline_max, else skipped and left lazy. Fills o->u.s and flags. */
int mfs_pk_payload(mfs_pk_vm *vm, mfs_pk *o, uint64_t len, mfs_err *e);
/* Jump @n bytes forward (hook skips): never past end. */
int mfs_pk_skip(mfs_pk_vm *vm, uint64_t n, mfs_err *e);

/* ---- vm_text.c: text arguments of protocol 0/1 ---- */
/* Parse a Python int literal (INT/LONG/decimal) into @o (INT, possibly
 * BIG). MFS_OK or MFS_FATAL via vm_fail. */
int mfs_pk_parse_int(mfs_pk_vm *vm, mfs_pk *o, const char *s, size_t len, mfs_err *e);
/* Little-endian two's complement @b[0..n) into @o (INT, BIG if needed). */
int mfs_pk_set_long(mfs_pk_vm *vm, mfs_pk *o, const unsigned char *b, size_t n, mfs_err *e);
/* STRING argument: quoted repr, escape-decoded into a heap copy. */
int mfs_pk_decode_string(mfs_pk_vm *vm, mfs_pk *o, const char *s, size_t len, mfs_err *e);
/* UNICODE argument: raw-unicode-escape decoded to UTF-8 in the heap. */
int mfs_pk_decode_unicode(mfs_pk_vm *vm, mfs_pk *o, const char *s, size_t len, mfs_err *e);
/* FLOAT argument. */
int mfs_pk_parse_float(mfs_pk_vm *vm, mfs_pk *o, const char *s, size_t len, mfs_err *e);

/* ---- heap.c ---- */
/* Record a global reference (heap-owned array). MFS_OK or MFS_FATAL. */
int mfs_pk_heap_add_global(mfs_pk_heap *h, const struct mfs_pk_global_ref *r, mfs_err *e);
/* The extra record of @o, created on first use; NULL with @e set. */
struct mfs_pk_extra *mfs_pk_extra_get(mfs_pk_heap *h, mfs_pk *o, mfs_err *e);
#endif
