/* vm.h: a pickle interpreter that never executes anything (private to src/).
 *
 * Python pickles (protocols 0-5, every opcode of CPython's Lib/pickle.py)
 * are decoded into a neutral object graph. Nothing is ever called or
 * imported: a GLOBAL becomes a node naming module.name, REDUCE / NEWOBJ /
 * NEWOBJ_EX / OBJ / INST become CALL nodes holding the callable and the
 * arguments, BUILD appends its state to the node it applies to, and
 * persistent ids become PERSID nodes (or whatever a persistent_load hook
 * returns). Interpreting the graph (torch rebuild calls, numpy arrays,
 * OrderedDict ...) is the job of the readers, by pattern.
 *
 * Ownership: every object, string and array lives in one heap
 * (mfs_pk_heap, an arena); mfs_pk_heap_free() releases all of it. Several
 * pickles may be loaded into one heap (legacy torch files hold five in a
 * row; joblib nests pickles for object arrays) and their objects stay
 * valid until the heap is freed. Objects are never freed one by one.
 *
 * Graph, not tree: the memo makes shared references and cycles possible
 * (a list appended into itself). Every object has a small dense `id`
 * (1..mfs_pk_heap_count) so walkers can keep a visited bitmap; walkers
 * must also bound their recursion depth.
 *
 * Input: a byte source and a start offset; the pickle is read through a
 * small buffered window (never slurped), so it may sit in the middle of a
 * file or be followed by gigabytes of raw array data. Large str/bytes
 * payloads are not copied: they keep their position in the source
 * (`off`, `len`) and `data` is NULL ("lazy"), so a reader can serve them
 * as a tensor locator straight from the file.
 *
 * Limits (struct mfs_pk_limits) bound the work and memory a hostile
 * pickle can cause: each violation is an MFS_FATAL error naming the
 * opcode and its byte offset, e.g.
 *   "pickle: byte 1234: LONG_BINGET 99: memo index not set". */
#ifndef MFS_PICKLE_VM_H
#define MFS_PICKLE_VM_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "core/src.h"
#include "core/err.h"
#include <stdint.h>
#include <stddef.h>
#include <jansson.h>

typedef struct mfs_pk mfs_pk;
typedef struct mfs_pk_heap mfs_pk_heap;
typedef struct mfs_pk_vm mfs_pk_vm;

enum mfs_pk_kind {
    MFS_PK_NONE = 1,
    MFS_PK_BOOL,      /* u.b */
    MFS_PK_INT,       /* u.i */
    MFS_PK_FLOAT,     /* u.f */
    MFS_PK_STR,       /* u.s: UTF-8 (py2 STRING/BINSTRING: raw bytes, py2str) */
    MFS_PK_BYTES,     /* u.s */
    MFS_PK_BYTEARRAY, /* u.s */
    MFS_PK_LIST,      /* u.seq */
    MFS_PK_TUPLE,     /* u.seq */
    MFS_PK_SET,       /* u.seq */
    MFS_PK_FROZENSET, /* u.seq */
    MFS_PK_DICT,      /* u.dict: ordered pairs, any key */
    MFS_PK_GLOBAL,    /* u.g: module.name (never imported) */
    MFS_PK_CALL,      /* u.call: callable(*args, **kwargs) (never called) */
    MFS_PK_PERSID,    /* u.persid: persistent id (PERSID / BINPERSID) */
    MFS_PK_BUFFER     /* NEXT_BUFFER placeholder (out-of-band, no data) */
};

/* Which opcode made a CALL node. */
enum mfs_pk_call_how {
    MFS_PK_REDUCE = 1, /* callable(*args) */
    MFS_PK_NEWOBJ,     /* cls.__new__(cls, *args) */
    MFS_PK_NEWOBJ_EX,  /* cls.__new__(cls, *args, **kwargs) */
    MFS_PK_OBJ,        /* OBJ: cls(*args) from the mark */
    MFS_PK_INST        /* INST module name: cls(*args) from the mark */
};

/* Mutations applied to a node that is not itself a list/dict/set:
 * BUILD states, APPEND(S) items, SETITEM(S) pairs and ADDITEMS on CALL
 * nodes (an OrderedDict reduced with () then filled by SETITEMS; a list
 * subclass; BUILD on an OrderedDict with {'_metadata': ...}). */
struct mfs_pk_extra {
    mfs_pk **states;  /* BUILD states in order (nstates) */
    size_t nstates, cap_states;
    mfs_pk *items;    /* MFS_PK_LIST of APPEND(S)/ADDITEMS items, or NULL */
    mfs_pk *dictitems;/* MFS_PK_DICT of SETITEM(S) pairs, or NULL */
};

struct mfs_pk {
    uint8_t kind;        /* enum mfs_pk_kind */
    uint8_t flags;       /* MFS_PK_F_* */
    uint32_t id;         /* 1..mfs_pk_heap_count(): dense, for visited maps */
    uint64_t offset;     /* source offset of the opcode that made the object */
    struct mfs_pk_extra *x; /* BUILD / appended items on non-containers, or NULL */
    union {
        int b;
        struct {
            int64_t v;             /* the value when !(flags & MFS_PK_F_BIG) */
            const uint8_t *bytes;  /* BIG: two's complement, little-endian */
            size_t nbytes;
        } i;
        double f;
        struct {
            const char *data; /* NUL-terminated copy, or NULL when lazy */
            uint64_t len;     /* payload length in bytes */
            uint64_t off;     /* payload position in the source (binary
                                 opcodes; for text opcodes: the text) */
        } s;
        struct {
            mfs_pk **v;
            size_t n, cap;
        } seq;
        struct {
            mfs_pk **k, **v;
            size_t n, cap;
        } dict;
        struct {
            const char *module; /* normalised: __builtin__ -> builtins, copy_reg -> copyreg */
            const char *name;   /* may be dotted (protocol 4 qualnames) */
        } g;
        struct {
            mfs_pk *callable;   /* usually a GLOBAL; may be anything */
            mfs_pk *args;       /* usually a TUPLE; may be anything */
            mfs_pk *kwargs;     /* NEWOBJ_EX: a DICT; else NULL */
            uint8_t how;        /* enum mfs_pk_call_how */
        } call;
        struct {
            mfs_pk *pid;        /* the persistent id object */
        } persid;
    } u;
};

#define MFS_PK_F_BIG    0x01 /* INT: does not fit int64: u.i.bytes */
#define MFS_PK_F_PY2STR 0x02 /* STR from STRING/BINSTRING/SHORT_BINSTRING */
#define MFS_PK_F_LAZY   0x04 /* STR/BYTES/BYTEARRAY: data not copied (NULL) */
#define MFS_PK_F_RO     0x08 /* READONLY_BUFFER applied */

struct mfs_pk_limits {
    uint64_t max_input;    /* bytes of opcodes+arguments consumed per load (excl. lazy payloads and hook skips) */
    uint64_t max_alloc;    /* heap bytes, all loads together */
    uint64_t max_objects;  /* objects, all loads together */
    uint32_t max_depth;    /* MARK nesting (metastack depth) */
    uint64_t max_stack;    /* items on the stack at once */
    uint32_t max_memo;     /* distinct memo entries per load */
    uint32_t max_long;     /* bytes of a LONG1/LONG4/text integer */
    uint64_t inline_max;   /* str/bytes payloads above this stay lazy */
};

/** mfs_pk_limits_default() : generous limits for real model files:
 *  1 GiB of opcodes, 2 GiB heap, 50 M objects, depth 10000, stack 50 M,
 *  memo 50 M, 64 KiB integers, inline_max 64 KiB. Never fails. */
void mfs_pk_limits_default(struct mfs_pk_limits *l);

/* Hooks a caller may give to mfs_pk_load (all optional; ctx is theirs). */
struct mfs_pk_hooks {
    void *ctx;
    /* PERSID/BINPERSID: return the object that replaces the id (allocated
     * in the heap, e.g. with mfs_pk_new), or NULL with @e set to abort the
     * load. Without this hook a MFS_PK_PERSID node wrapping @pid is pushed. */
    mfs_pk *(*persistent_load)(void *ctx, mfs_pk_vm *vm, mfs_pk *pid, mfs_err *e);
    /* Called after every BUILD with *obj the object just built (the top
     * of the stack) and mfs_pk_vm_offset() just past the BUILD opcode.
     * May replace *obj, and may set *skip to a number of bytes of the
     * stream to jump over before the next opcode (joblib: the raw array
     * bytes that follow a NumpyArrayWrapper). Return MFS_OK, or a status
     * < 0 with @e set to abort the load. */
    int (*after_build)(void *ctx, mfs_pk_vm *vm, mfs_pk **obj, uint64_t *skip, mfs_err *e);
};

/* One global reference seen while loading (GLOBAL, STACK_GLOBAL, INST). */
struct mfs_pk_global_ref {
    mfs_pk *g;          /* the MFS_PK_GLOBAL node (INST: its callable) */
    uint64_t offset;    /* byte offset of the opcode */
    uint8_t opcode;     /* 'c', 0x93 or 'i' */
    uint32_t load;      /* which mfs_pk_load of the heap (0, 1, ...) */
};

/** mfs_pk_heap_new() : an empty heap with @lim (NULL: defaults, copied).
 *  @return the heap or NULL on OOM. */
mfs_pk_heap *mfs_pk_heap_new(const struct mfs_pk_limits *lim);
/** mfs_pk_heap_free() : frees every object of every load; accepts NULL. */
void mfs_pk_heap_free(mfs_pk_heap *h);
/** Number of objects allocated so far (ids are 1..count). */
uint32_t mfs_pk_heap_count(const mfs_pk_heap *h);
/** Heap bytes allocated so far. */
uint64_t mfs_pk_heap_bytes(const mfs_pk_heap *h);
/** Every global reference seen by all loads, in stream order. Borrowed. */
const struct mfs_pk_global_ref *mfs_pk_heap_globals(const mfs_pk_heap *h, size_t *n);

/** mfs_pk_load() : runs one pickle from @src at byte @off up to and
 *  including its STOP, never reading at or beyond @end (0: the source's
 *  size). @hooks may be NULL. On success *out is the STOP value and
 *  *stop_end (may be NULL) the offset just past STOP.
 *  @return MFS_OK, or MFS_FATAL with @e set ("pickle: byte N: what") for
 *  truncated or malformed input and exceeded limits. Objects made before
 *  a failure stay in the heap (freed with it). Reentrant: a hook may call
 *  mfs_pk_load on the same heap (nested pickles). */
int mfs_pk_load(mfs_pk_heap *h, mfs_src *src, uint64_t off, uint64_t end,
                const struct mfs_pk_hooks *hooks, mfs_pk **out,
                uint64_t *stop_end, mfs_err *e);

/** For hooks: the offset of the next opcode (after_build: just past BUILD;
 *  persistent_load: just past the PERSID/BINPERSID opcode). */
uint64_t mfs_pk_vm_offset(const mfs_pk_vm *vm);
/** For hooks: the source and heap of the running load (borrowed). */
mfs_src *mfs_pk_vm_src(const mfs_pk_vm *vm);
mfs_pk_heap *mfs_pk_vm_heap(const mfs_pk_vm *vm);
/** For hooks: the pickle protocol seen so far (PROTO opcode, 0 if none). */
int mfs_pk_vm_protocol(const mfs_pk_vm *vm);

/* ---- object construction (for hooks) and inspection (obj.c) ---- */

/** mfs_pk_new() : a zeroed object of @kind in the heap, id assigned.
 *  NULL with @e set when a limit is hit or on OOM. */
mfs_pk *mfs_pk_new(mfs_pk_heap *h, enum mfs_pk_kind kind, uint64_t offset, mfs_err *e);
/** mfs_pk_alloc() : @n zeroed heap bytes (counted against max_alloc);
 *  NULL with @e set. */
void *mfs_pk_alloc(mfs_pk_heap *h, size_t n, mfs_err *e);
/** mfs_pk_strndup() : a heap copy of @s[0..len) + NUL; NULL with @e set. */
char *mfs_pk_strndup(mfs_pk_heap *h, const char *s, size_t len, mfs_err *e);
/** mfs_pk_new_str() : a STR node copying @len bytes of @s (NUL added). */
mfs_pk *mfs_pk_new_str(mfs_pk_heap *h, const char *s, size_t len, uint64_t offset, mfs_err *e);
/** mfs_pk_seq_push()/mfs_pk_dict_push() : append to a LIST/TUPLE/SET or
 *  DICT node (growing it in the heap). @return MFS_OK or MFS_FATAL. */
int mfs_pk_seq_push(mfs_pk_heap *h, mfs_pk *seq, mfs_pk *item, mfs_err *e);
int mfs_pk_dict_push(mfs_pk_heap *h, mfs_pk *dict, mfs_pk *k, mfs_pk *v, mfs_err *e);

/** "none", "bool", "int", ... for messages and raw/ type files. */
const char *mfs_pk_kind_name(int kind);
/** mfs_pk_str() : the text of a non-lazy STR (or BYTES), else NULL. */
const char *mfs_pk_str(const mfs_pk *o);
/** mfs_pk_str_eq() : 1 when @o is a non-lazy STR equal to @s. */
int mfs_pk_str_eq(const mfs_pk *o, const char *s);
/** mfs_pk_int() : 1 and *v set when @o is a BOOL or an INT fitting int64. */
int mfs_pk_int(const mfs_pk *o, int64_t *v);
/** mfs_pk_num() : 1 and *v set for BOOL/INT(fitting)/FLOAT. */
int mfs_pk_num(const mfs_pk *o, double *v);
/** mfs_pk_global_is() : 1 when @o is GLOBAL @module.@name (NULL @name:
 *  any name in @module). */
int mfs_pk_global_is(const mfs_pk *o, const char *module, const char *name);
/** mfs_pk_call_of() : the callable GLOBAL of a CALL node (or NULL), e.g.
 *  to test mfs_pk_global_is(mfs_pk_call_of(o), "torch._utils", ...). */
const mfs_pk *mfs_pk_call_of(const mfs_pk *o);
/** mfs_pk_call_is() : 1 when @o is a CALL of GLOBAL @module.@name. */
int mfs_pk_call_is(const mfs_pk *o, const char *module, const char *name);
/** mfs_pk_items() : the elements of a LIST/TUPLE/SET/FROZENSET (or the
 *  APPENDed items of a CALL node); *n set (0 and NULL otherwise). */
mfs_pk **mfs_pk_items(const mfs_pk *o, size_t *n);
/** mfs_pk_arg() : the @i-th positional argument of a CALL whose args is a
 *  TUPLE, else NULL. */
mfs_pk *mfs_pk_arg(const mfs_pk *o, size_t i);
/** mfs_pk_nargs() : number of positional arguments of a CALL (0 if none). */
size_t mfs_pk_nargs(const mfs_pk *o);
/** mfs_pk_as_dict() : the DICT view of @o: itself for a DICT; for a CALL
 *  (OrderedDict(), defaultdict ...) the SETITEMS pairs, or an empty-args
 *  CALL's first dict state; else NULL. */
const mfs_pk *mfs_pk_as_dict(const mfs_pk *o);
/** mfs_pk_dict_get() : value for STR key @key in the DICT view of @o
 *  (the last one when repeated), or NULL. */
mfs_pk *mfs_pk_dict_get(const mfs_pk *o, const char *key);
/** mfs_pk_state() : the last BUILD state of @o, or NULL. */
mfs_pk *mfs_pk_state(const mfs_pk *o);
/** mfs_pk_qualname() : "module.name" of a GLOBAL into @buf (size @n);
 *  returns @buf ("" for non-globals). */
const char *mfs_pk_qualname(const mfs_pk *o, char *buf, size_t n);
/** mfs_pk_repr() : a short Python-like repr of @o into @buf (truncated
 *  with "..." to @n-1 chars, depth-bounded, cycle-safe). Returns @buf. */
const char *mfs_pk_repr(const mfs_pk *o, char *buf, size_t n);
/** mfs_pk_key_name() : a dict key as a path component: str as is, ints in
 *  decimal, other scalars by repr. Into @buf; returns @buf. */
const char *mfs_pk_key_name(const mfs_pk *o, char *buf, size_t n);
/** mfs_pk_float_str() : the shortest text that reads back as @v (Python
 *  repr style: "0.9", "1e-08", "inf", "nan") into @buf; returns @buf. */
const char *mfs_pk_float_str(double v, char *buf, size_t n);
/** mfs_pk_to_json() : a JSON rendering of @o for metadata/config files:
 *  None/bool/int/float/str as JSON scalars (big ints and non-finite floats
 *  as strings), list/tuple/set as arrays, dicts (and OrderedDict calls)
 *  as objects with mfs_pk_key_name keys, bytes as "<bytes N>", globals as
 *  "module.name", other calls as {"__call__": "module.name", "args": [...]}
 *  (plus "state" when built). Depth beyond @max_depth and cycles become
 *  "...". @return a new reference, or NULL on OOM. */
json_t *mfs_pk_to_json(const mfs_pk *o, int max_depth);
/** mfs_pk_to_json_ex() : as mfs_pk_to_json, but @fn (may be NULL) sees
 *  every object first and may return its rendering (a new reference, e.g.
 *  "tensor float32 [3, 4]" for a torch rebuild call) or NULL for the
 *  default one. */
typedef json_t *(*mfs_pk_json_fn)(void *ctx, const mfs_pk *o);
json_t *mfs_pk_to_json_ex(const mfs_pk *o, int max_depth, mfs_pk_json_fn fn, void *ctx);
#endif
