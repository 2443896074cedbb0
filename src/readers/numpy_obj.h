/* numpy_obj.h: NumPy arrays and dtypes recognised in a pickle's object
 * graph (private to src/).
 *
 * The pickle VM (pickle/vm.h) never runs numpy; it leaves CALL nodes. This
 * module recognises, by pattern, the ways an ndarray is written:
 *   - numpy's own reduce: numpy.core.multiarray._reconstruct (or
 *     numpy._core.multiarray) + BUILD state (version, shape, dtype,
 *     is_fortran, rawdata) with rawdata bytes, a py2 str, or
 *     _codecs.encode(str, 'latin1') (protocol 2), or a list (object arrays);
 *   - protocol 5: numpy.core.numeric._frombuffer(buffer, dtype, shape, order);
 *   - joblib's NumpyArrayWrapper (joblib >= 0.10): the raw bytes follow the
 *     wrapper's BUILD in the stream; mfs_np_joblib_after_build() (a VM
 *     hook) records where and skips them;
 *   - joblib <= 0.9: NDArrayWrapper (a sibling .npy file) and
 *     ZNDArrayWrapper (a sibling "ZF" zlib file of raw bytes + the state).
 * Dtypes come from numpy.dtype(descr, False, True) + BUILD state
 * (version, byteorder, ...). A recognised array becomes an mfs_tensor
 * whose locator points into the pickle stream (or the sibling file): no
 * array byte is read at open. Object, string, structured and datetime
 * arrays are recognised but not tensors (raw/ shows them). */
#ifndef MFS_NUMPY_OBJ_H
#define MFS_NUMPY_OBJ_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "readers/pickle/vm.h"
#include "core/tree.h"

struct mfs_np_dtype {
    char kind;          /* numpy kind: f i u b c O U S V M m ... */
    char order;         /* '<' '>' '|' ('=' read as '<') */
    uint32_t itemsize;
    mfs_dtype dtype;    /* MFS_DT_INVALID when modelfs cannot show it */
    int swap;           /* big-endian, itemsize > 1 */
    char descr[32];     /* "<f8", "|b1", "|O" ... */
};

/* Where joblib put one NumpyArrayWrapper's bytes (found by the hook). */
struct mfs_np_jbarr {
    uint32_t id;        /* wrapper object id */
    uint64_t off;       /* data offset in the pickle stream */
};

/* What the recognisers need; owned by the reader state. */
struct mfs_np_ctx {
    mfs_src *src;               /* the (decompressed) pickle stream, borrowed */
    char *dir;                  /* directory of the pickle file (owned), for old joblib */
    struct mfs_np_jbarr *jb;    /* by increasing id (malloc'd) */
    size_t njb, capjb;
    mfs_src **owned;            /* sources opened for sibling files (unref'd at destroy) */
    size_t nowned, capowned;
    mfs_tensor **cache;         /* tensor per object id (built once), malloc'd */
    uint32_t ncache;
    int saw_joblib;             /* a joblib wrapper was seen */
};

/** mfs_np_ctx_destroy() : frees what @c owns (not @c itself). */
void mfs_np_ctx_destroy(struct mfs_np_ctx *c);

/** mfs_np_dtype_parse() : 1 when @o is a numpy dtype object
 *  (numpy.dtype(descr, ...) call, with or without a BUILD state) and @d
 *  is filled; 0 otherwise. Never fails. */
int mfs_np_dtype_parse(const mfs_pk *o, struct mfs_np_dtype *d);

/** mfs_np_scalar_json() : a numpy scalar (numpy.core.multiarray.scalar(
 *  dtype, bytes)) as a JSON number/bool; NULL when @o is not one.
 *  New reference. */
json_t *mfs_np_scalar_json(const mfs_pk *o);

/* A recognised array. */
struct mfs_np_array {
    const char *how;            /* "joblib", "reconstruct", "frombuffer", "npy-file", "zfile" */
    struct mfs_np_dtype dt;
    int ndim;
    uint64_t shape[MFS_MAX_DIMS];
    int fortran;
    int object;                 /* dtype holds Python objects */
    char why[96];               /* when not a tensor: why (for raw/ and logs) */
};

/** mfs_np_is_array() : 1 when @o looks like an ndarray in any of the forms
 *  above (cheap; no I/O), else 0. */
int mfs_np_is_array(const mfs_pk *o);

/** mfs_np_tensor() : the tensor for array object @o, built once per object
 *  (shared arrays give the same tensor) in tree @t. Fills @a (may be NULL)
 *  with what was found.
 *  @return 1 with *out set; 0 when @o is an array modelfs does not show as
 *  a tensor (object/str dtype ...: a->why says why; *out NULL); -1 with
 *  @e set (MFS_FAILED) when the array is malformed (bad shape, data out of
 *  the stream, missing sibling file): the caller logs and skips it. */
int mfs_np_tensor(struct mfs_np_ctx *c, mfs_tree *t, const mfs_pk *o, struct mfs_np_array *a,
                  mfs_tensor **out, mfs_err *e);

/** mfs_np_joblib_after_build() : the VM after_build hook (ctx = struct
 *  mfs_np_ctx *). On a joblib NumpyArrayWrapper: records where its bytes
 *  start (after the optional alignment padding) and sets *skip past them;
 *  for object arrays loads the nested pickle that follows and puts its
 *  result in *obj. Other objects: nothing. MFS_OK or MFS_FATAL with @e. */
int mfs_np_joblib_after_build(void *ctx, mfs_pk_vm *vm, mfs_pk **obj, uint64_t *skip, mfs_err *e);

/** mfs_np_class_of() : the class a CALL instantiates: its callable, or
 *  for copyreg._reconstructor(cls, base, state) / copyreg.__newobj__ its
 *  first argument; NULL when that is not a GLOBAL. Borrowed. */
const mfs_pk *mfs_np_class_of(const mfs_pk *o);

/** mfs_np_is_joblib_global() : 1 when GLOBAL @g is one of joblib's array
 *  wrappers (joblib.numpy_pickle / numpy_pickle_compat / the copy vendored
 *  as sklearn.externals.joblib). @name_out (may be NULL) gets the class name. */
int mfs_np_is_joblib_global(const mfs_pk *g, const char **name_out);
#endif
