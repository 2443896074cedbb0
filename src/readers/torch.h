/* torch.h: what the PyTorch readers share (private to src/readers).
 *
 * The four container readers (zip, legacy, tar, TorchScript) differ only
 * in where storages live; everything after "storage key -> bytes" is
 * common and lives here:
 *
 *   torch_tensor.c  persistent ids and the torch._utils rebuild calls ->
 *                   mfs_tensor (STRIDED/PLAIN locators, no bytes read);
 *   torch_model.c   what the user means by the object: a state_dict, a
 *                   whole nn.Module, a checkpoint dict (model, optimizer,
 *                   metadata), a Lightning .ckpt, a TorchScript module;
 *   torch_optim.c   optimizer state_dicts -> optimizer/;
 *   torch_common.c  the zip-archive helpers (prefix, records, raw/), and
 *                   storages at file offsets (legacy and tar readers).
 *
 * Identifier space: pickle objects are keyed by their heap id (vm.h);
 * the tensor made for an object is cached by that id, so an object
 * reached twice (memo) is one mfs_tensor placed at several paths. */
#ifndef MFS_READERS_TORCH_H
#define MFS_READERS_TORCH_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "readers/pickle/vm.h"
#include "readers/pickle/raw.h"
#include "core/tree.h"
#include "core/dtype.h"
#include "readers/reader.h"

/* A storage, as a reader resolves it from a persistent id. */
struct mfs_torch_store {
    mfs_dtype dtype;     /* element type of the storage class (UntypedStorage: U8) */
    const char *key;     /* storage key (heap string) */
    const char *location;/* "cpu", "cuda:0", "meta" ... or NULL */
    uint64_t numel;      /* elements of dtype the pid announces */
    mfs_src *src;        /* where its bytes are (borrowed), NULL: no data (meta) */
    uint64_t off;        /* byte offset of element 0 in src */
    uint64_t nbytes;     /* bytes available from off */
};

/* A parsed persistent id: zip ('storage', type, key, location, numel),
 * legacy (... , view_metadata) with view = (view_key, offset, size). */
struct mfs_torch_pid {
    const mfs_pk *type;  /* storage class GLOBAL */
    mfs_dtype dtype;
    const char *key;     /* heap string (ints are turned into decimal) */
    const char *location;
    uint64_t numel;
    int has_view;
    const char *view_key;
    uint64_t view_offset, view_size; /* elements */
};

struct mfs_torch;

/* Reader hook: the storage for persistent id @pid. MFS_OK with *st filled
 * (st->src NULL for "no data"), or MFS_FATAL with @e set. */
typedef int (*mfs_torch_resolve_fn)(struct mfs_torch *c, const mfs_pk *pid,
                                    struct mfs_torch_store *st, mfs_err *e);

struct mfs_torch {
    mfs_tree *t;
    mfs_pk_heap *h;
    int swap;                  /* storages are big-endian (byteorder record) */
    mfs_torch_resolve_fn resolve;
    void *ctx;                 /* the reader's */
    const char *where;         /* "data/" ... for info.json, may be NULL */
    /* Optional: a persistent id that stands for a whole tensor (the
     * ancient tar format). Same returns as mfs_torch_tensor. */
    int (*persid_tensor)(struct mfs_torch *c, const mfs_pk *pid, mfs_tensor **out, mfs_err *e);
    /* tensor cache, by object id */
    mfs_tensor **by_id;
    uint8_t *kind_by_id;       /* 0 unknown, 1 tensor, 2 not a tensor, 3 no data */
    uint32_t cap_id;
};

/* ---- torch_tensor.c ---- */

/** mfs_torch_dtype_of_storage() : dtype of a storage class name
 *  ("FloatStorage" -> F32, "UntypedStorage" -> U8), MFS_DT_INVALID if
 *  unknown. */
mfs_dtype mfs_torch_dtype_of_storage(const char *name);
/** mfs_torch_dtype_of_global() : dtype of a `torch.float32`-style GLOBAL,
 *  MFS_DT_INVALID if unknown. */
mfs_dtype mfs_torch_dtype_of_global(const mfs_pk *g);
/** mfs_torch_parse_pid() : parses a storage persistent id tuple (the pid
 *  object, not the PERSID node). MFS_OK, or MFS_FATAL with @e set when it
 *  is not a storage id. Strings point into the heap. */
int mfs_torch_parse_pid(mfs_pk_heap *h, const mfs_pk *pid, struct mfs_torch_pid *out, mfs_err *e);

/** mfs_torch_init()/mfs_torch_destroy() : a context over tree @t and heap
 *  @h (both borrowed). destroy frees the caches; accepts zeroed storage. */
void mfs_torch_init(struct mfs_torch *c, mfs_tree *t, mfs_pk_heap *h,
                    mfs_torch_resolve_fn resolve, void *ctx);
void mfs_torch_destroy(struct mfs_torch *c);

/** mfs_torch_tensor() : the tensor rebuilt by @o when @o is one of the
 *  torch rebuild calls (FORMATS.md §6.3) or an old Parameter(...) call.
 *  @return 1 with *out set (tree-owned, cached by object id: the same
 *  object always gives the same tensor); 2 when @o is a tensor with no
 *  data (meta device, missing record; *out describes dtype/shape only and
 *  must not be placed); 0 when @o is not a tensor; MFS_FATAL with @e set
 *  when it is a tensor call that contradicts its storage. */
int mfs_torch_tensor(struct mfs_torch *c, const mfs_pk *o, mfs_tensor **out, mfs_err *e);

/** mfs_torch_raw_hooks() : raw.h hooks that show tensors as tensor dirs
 *  and data-less tensors as small dirs (dtype, shape, device). */
void mfs_torch_raw_hooks(struct mfs_torch *c, struct mfs_pk_raw_hooks *hk);

/** mfs_torch_json() : mfs_pk_to_json with tensors rendered as
 *  "tensor float32 [3, 4]". New reference or NULL. */
json_t *mfs_torch_json(struct mfs_torch *c, const mfs_pk *o);

/* ---- torch_model.c ---- */

/** mfs_torch_build_model() : maps the loaded object @root onto tensors/,
 *  layers/, metadata/ and optimizer/ (state_dict, nn.Module, checkpoint,
 *  Lightning, TorchScript module). Never reads tensor bytes.
 *  @return MFS_OK, or MFS_FATAL (OOM, corrupt tensor call). */
int mfs_torch_build_model(struct mfs_torch *c, const mfs_pk *root, mfs_err *e);

/** mfs_torch_is_module() : 1 when @o looks like a pickled nn.Module (an
 *  object whose BUILD state has _modules/_parameters) or a TorchScript
 *  module (an object of class __torch__.*). */
int mfs_torch_is_module(const mfs_pk *o);

/** mfs_torch_add_module() : adds the tensors of module @m under @prefix
 *  ("" or "encoder.") as model tensors, and its class names to @classes
 *  (a JSON object path -> class; may be NULL). @return MFS_OK or MFS_FATAL. */
int mfs_torch_add_module(struct mfs_torch *c, const char *prefix, const mfs_pk *m,
                         json_t *classes, mfs_err *e);

/* ---- torch_optim.c ---- */

/** mfs_torch_is_optimizer() : 1 when @o is an optimizer state_dict
 *  (a dict with "state" and "param_groups"). */
int mfs_torch_is_optimizer(const mfs_pk *o);

/** mfs_torch_add_optimizer() : optimizer/ (or optimizer/<sub>/ when @sub
 *  is not NULL) from optimizer state_dict @o: config.json (param_groups),
 *  step, state/<param>/<slot>. Param names come from param_names, or from
 *  @names (@n model parameter names with their tensors, in registration
 *  order) when counts and shapes match, else indexes. */
int mfs_torch_add_optimizer(struct mfs_torch *c, const mfs_pk *o, const char *sub,
                            const char *const *names, mfs_tensor *const *tensors, size_t n,
                            mfs_err *e);

/* ---- torch_common.c: zip archives ---- */
struct mfs_zip;

/** mfs_torch_zip_prefix() : the archive folder of a torch zip: the part
 *  of the first member's name up to and including its first '/', into
 *  @buf (size @n; "" when members have no folder). 0, or -1 when the
 *  archive is empty or the prefix is too long. */
int mfs_torch_zip_prefix(const struct mfs_zip *z, char *buf, size_t n);

/** mfs_torch_zip_find() : index of member <prefix><rel>, or -1. */
long mfs_torch_zip_find(const struct mfs_zip *z, const char *prefix, const char *rel);

/** mfs_torch_zip_record() : small text record <prefix><rel> (version,
 *  byteorder ...) into @buf without trailing whitespace; 0, or -1 when
 *  absent/unreadable. */
int mfs_torch_zip_record(struct mfs_zip *z, const char *prefix, const char *rel,
                         char *buf, size_t n);

/** mfs_torch_load_member() : runs the pickle in member <prefix><rel> (any
 *  compression) into @h. *out the object, *src (may be NULL) the member's
 *  source, for raw/ (the caller unrefs). MFS_OK or MFS_FATAL with @e set. */
int mfs_torch_load_member(struct mfs_zip *z, const char *prefix, const char *rel,
                          mfs_pk_heap *h, mfs_pk **out, mfs_src **src, mfs_err *e);

/* ---- torch_common.c: storages at file offsets (legacy, tar) ---- */

/* A storage whose bytes are one range of the model file. */
struct mfs_torch_fstore {
    const char *key;     /* heap string */
    mfs_dtype dtype;
    uint64_t off;        /* first data byte; UINT64_MAX: not placed yet */
    uint64_t numel;      /* elements */
};

/** mfs_torch_fstore_add() : appends @fs to the growing array *@v (*@n
 *  used of *@cap; the caller frees *@v). MFS_OK, or MFS_FATAL (out of
 *  memory) with @e set and the array unchanged. */
int mfs_torch_fstore_add(struct mfs_torch_fstore **v, size_t *n, size_t *cap,
                         struct mfs_torch_fstore fs, mfs_err *e);

/** mfs_torch_fstore_place() : fills the dtype, key, src (@src, borrowed),
 *  off, numel and nbytes of @st from the placed storage @fs. */
void mfs_torch_fstore_place(const struct mfs_torch_fstore *fs, mfs_src *src,
                            struct mfs_torch_store *st);

/** mfs_torch_fstore_files() : one file <key> under @dir per placed
 *  storage of @v (@n of them): its bytes, served from @src. MFS_OK, or
 *  MFS_FATAL (out of memory) with @e set. */
int mfs_torch_fstore_files(mfs_tree *t, uint32_t dir, mfs_src *src,
                           const struct mfs_torch_fstore *v, size_t n, mfs_err *e);

/* ---- torch_zip.c: the zip-format readers (PyTorch, TorchScript) ---- */

/** mfs_torch_zip_bid() : bid for a torch zip: 64 for <dir>/data.pkl
 *  (32 bits of zip magic + 32 for the member name), +16 when
 *  <dir>/constants.pkl is there too (TorchScript) and @torchscript is set;
 *  -1 when it is not a torch zip or the TorchScript-ness differs. */
int mfs_torch_zip_bid(const struct mfs_probe *p, int best, int torchscript);
/** The reader entry points shared by rd_pytorch_zip.c and rd_torchscript.c. */
int mfs_torch_zip_open(const struct mfs_probe *p, void **state, mfs_err *e);
int mfs_torch_zip_build(void *state, mfs_tree *t, mfs_err *e);
void mfs_torch_zip_close(void *state);
#endif
