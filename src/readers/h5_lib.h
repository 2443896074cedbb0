/* h5_lib.h: HDF5 access shared by the HDF5 and Keras readers (private).
 *
 * Every HDF5 file modelfs mounts (a plain .h5, a Keras legacy model, a
 * Keras 3 .weights.h5, or the model.weights.h5 member of a .keras zip) is
 * opened through the same few pieces:
 *
 *   h5_lib.c    the global lock, per-thread setup (HDF5's error printing
 *               is per thread), HDF5 errors -> mfs_err, opening a file
 *               from an mfs_src, and the "canary": a forked child that
 *               walks the file's metadata first, so that a corrupt file
 *               which crashes or hangs libhdf5 1.10 fails the mount with
 *               a message instead of taking the process down.
 *   h5_vfd.c    a tiny HDF5 virtual file driver reading an mfs_src with
 *               pread: a file, or a stored zip member in place.
 *   h5_attr.c   attributes: strings (fixed/vlen, scalar/array, chunked
 *               "name0", "name1"... lists), numbers, text renderings.
 *   h5_tensor.c a dataset -> mfs_tensor: dtype mapping, PLAIN locator for
 *               contiguous unfiltered data, else a CUSTOM read through
 *               hyperslab selections that touch only the needed chunks.
 *   h5_chunks.c gzip/shuffle chunks inflated by modelfs outside the lock,
 *               in parallel (libhdf5 only says where each chunk lives).
 *   h5_strings.c string and scalar dataset contents (read at mount).
 *   h5_raw.c    raw/: groups -> dirs, datasets -> tensor dirs (strings ->
 *               text), attributes -> files under "@attrs".
 *   h5_keras.c  Keras 1/2 legacy layouts (layer_names, weight_names,
 *               optimizer_weights, model/training config).
 *   h5_keras3.c Keras 3 layouts (layers/<x>/vars/<i>, optimizer/vars).
 *   h5_model.c  the reader state shared by the five readers (open, build,
 *               close) and the layout detection.
 *
 * Locking: libhdf5 is not to be entered by two threads at once through
 * our code. One process-wide mutex (h5_lock) guards every HDF5 call: the
 * readers take it around their metadata work at mount, and CUSTOM tensors
 * read through libhdf5 carry it as their `lock`, which the core holds
 * around the read callback; tensors decoded by h5_chunks.c have no `lock`
 * and take it (h5_enter, which nests) only around libhdf5 calls.
 * Functions below say "caller holds the lock" when they need it. */
#ifndef MFS_H5_LIB_H
#define MFS_H5_LIB_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "core/err.h"
#include "core/src.h"
#include "core/tree.h"
#include "readers/reader.h"
#include <hdf5.h>
#include <jansson.h>
#include <pthread.h>

struct h5_model;

/* ---- h5_lib.c ---------------------------------------------------------- */

/** The global HDF5 lock (see above). */
extern pthread_mutex_t h5_lock;

/** h5_enter()/h5_leave() : take/release h5_lock and make sure HDF5 is
 *  initialised and silent for this thread. Never fail. */
void h5_enter(void);
void h5_leave(void);

/** h5_thread_init() : silences HDF5's automatic error printing for the
 *  calling thread (HDF5 keeps it per thread) and initialises the library
 *  once. Cheap after the first call. Caller holds the lock. */
void h5_thread_init(void);

/** h5_err() : sets @e from printf-style text followed by ": " and the
 *  innermost messages of this thread's HDF5 error stack (then cleared).
 *  @return @status. Caller holds the lock. */
int h5_err(mfs_err *e, int status, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** h5_open_src() : opens @src (an HDF5 file image, e.g. a whole file or a
 *  stored zip member) read-only through the mfs VFD. @label names the
 *  file in messages.
 *  @return a file id (caller closes with H5Fclose) or H5I_INVALID_HID with
 *  @e set (MFS_FATAL). Caller holds the lock; @src must outlive the file. */
hid_t h5_open_src(mfs_src *src, const char *label, mfs_err *e);

/** h5_canary_enabled() : 0 when MFS_H5_CANARY=0 is set. */
int h5_canary_enabled(void);
/** h5_canary_run() : forks a child running h5_model_canary(@src, @label,
 *  @tmpl) (h5_model.c: open + full build into a scratch tree + small
 *  reads) and waits for it. @return MFS_OK when it succeeded (or fork is
 *  impossible), MFS_FATAL with @e set when it crashed, failed or timed
 *  out. Caller holds the lock. */
int h5_canary_run(mfs_src *src, const char *label, struct h5_model *tmpl, mfs_err *e);
/** h5_model_canary() : the child's work; 0 on success. */
int h5_model_canary(mfs_src *src, const char *label, struct h5_model *tmpl);

/* Warnings gathered while opening and building, printed (mfs_log) only
 * when the mount goes ahead: a file that fails gets its one error line. */
struct h5_warns {
    char **v;
    size_t n;
};
/** h5_warns_add() : appends a formatted line (dropped on OOM or past 1000). */
void h5_warns_add(struct h5_warns *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** h5_warns_flush() : logs every line, then frees them. */
void h5_warns_flush(struct h5_warns *w);
/** h5_warns_free() : drops them; accepts an empty list. */
void h5_warns_free(struct h5_warns *w);

/** h5_sig_offset() : offset of the HDF5 signature in @head (0, 512, 1024,
 *  2048 ... as a user block allows), or -1. */
long h5_sig_offset(const unsigned char *head, size_t len);

/** h5_mem_has() : 1 when @needle occurs in @hay (binary-safe). */
int h5_mem_has(const unsigned char *hay, size_t n, const char *needle);

/* ---- h5_vfd.c ---------------------------------------------------------- */

/** h5_vfd_fapl() : a new file-access property list using the mfs driver
 *  over @src (not referenced: the caller keeps it alive while the file is
 *  open). Caller closes with H5Pclose. H5I_INVALID_HID on failure. Caller
 *  holds the lock. */
hid_t h5_vfd_fapl(mfs_src *src);

/* ---- h5_attr.c --------------------------------------------------------- */

/* A list of strings (malloc'd, each NUL-terminated). */
struct h5_strv {
    char **v;
    size_t n;
};
/** h5_strv_free() : frees the strings and the array; accepts NULL members. */
void h5_strv_free(struct h5_strv *s);
/** h5_strv_push() : appends a copy of @str. @return 0, or -1 on OOM. */
int h5_strv_push(struct h5_strv *s, const char *str);

/** h5_attr_exists() : 1 if @obj has attribute @name, 0 if not, -1 on error. */
int h5_attr_exists(hid_t obj, const char *name);

/** h5_attr_strings() : reads attribute @name of @obj as a list of strings:
 *  fixed- or variable-length strings, scalar or any-rank dataspace; "0
 *  elements of any type" (numpy's empty float64 array for []) is an empty
 *  list. Fixed strings are cut at the first NUL and at most H5Tget_size
 *  bytes (a name filling the width has no terminator); space-padded ones
 *  lose trailing spaces. @return MFS_OK with @out filled, MFS_FAILED when
 *  the attribute is missing (no message) or MFS_FATAL with @e set when it
 *  exists but is not strings or cannot be read. Caller holds the lock. */
int h5_attr_strings(hid_t obj, const char *name, struct h5_strv *out, mfs_err *e);

/** h5_attr_strings_chunked() : Keras' split lists: attribute @name, or
 *  else @name"0", @name"1", ... concatenated until one is missing.
 *  @return as h5_attr_strings (MFS_FAILED when neither form exists). */
int h5_attr_strings_chunked(hid_t obj, const char *name, struct h5_strv *out, mfs_err *e);

/** h5_attr_string() : a scalar (or 1-element) string attribute as one
 *  malloc'd string, or NULL when absent/not a string (@e untouched then)
 *  or unreadable. Caller frees. Caller holds the lock. */
char *h5_attr_string(hid_t obj, const char *name, mfs_err *e);

/** h5_attr_text() : attribute @aid rendered as text for a file: strings as
 *  is, numbers in shortest round-trip form, one element per line, each
 *  line ending in "\n". Other types get a one-line description. @return a
 *  malloc'd buffer (length in *len) or NULL with @e set. Caller holds the
 *  lock. */
char *h5_attr_text(hid_t aid, size_t *len, mfs_err *e);

/** h5_attr_json() : attribute @name as a JSON value (string, number,
 *  bool, array) or NULL when absent or not representable. New reference.
 *  Caller holds the lock. */
json_t *h5_attr_json(hid_t obj, const char *name);

/** h5_fmt_double() : shortest "%.{p}g" text that reads back as @v (p <=
 *  17; 9 for float32 when @is_f32). Writes at most 32 bytes to @buf. */
void h5_fmt_double(char *buf, double v, int is_f32);

/* ---- h5_tensor.c (and h5_strings.c) ----------------------------------- */

struct h5_model;

/* What kind of dataset h5_tensor_from_dataset found. */
enum h5_dkind {
    H5K_TENSOR,   /* numeric (or raw bytes) -> tensor */
    H5K_STRINGS,  /* fixed/vlen strings -> text */
    H5K_SKIP      /* not representable (references, vlen sequences...) */
};

/** h5_tensor_from_dataset() : describes dataset @path of the model's file
 *  as a tree tensor (allocated in @t): dtype, shape, and a PLAIN locator
 *  when the data is contiguous, unfiltered and not external (served from
 *  the source directly), else a CUSTOM one reading hyperslabs. Sets
 *  tensor->info (stored path, layout, filters, hdf5 type). *kind tells
 *  what the dataset is; for H5K_STRINGS/H5K_SKIP *out is NULL and *why
 *  says (static string) why for SKIP. @return MFS_OK, or MFS_FATAL/
 *  MFS_FAILED with @e set (MFS_FAILED: only this dataset is unusable).
 *  Caller holds the lock. */
int h5_tensor_from_dataset(struct h5_model *m, mfs_tree *t, hid_t dset, const char *path,
                           mfs_tensor **out, enum h5_dkind *kind, const char **why,
                           mfs_err *e);

/** h5_dataset_text() : a string dataset's elements, one per line, as a
 *  malloc'd buffer (at most @limit bytes, else MFS_FAILED). Caller frees. */
char *h5_dataset_text(hid_t dset, size_t limit, size_t *len, mfs_err *e);

/** h5_read_scalar_i64() : reads a scalar/1-element integer or float
 *  dataset as int64 (for iteration counts). @return MFS_OK or MFS_FAILED. */
int h5_read_scalar_i64(hid_t dset, long long *v);

/** h5_tensor_close_all() : closes the datasets CUSTOM tensors of @m kept
 *  open (chunk caches) and frees their contexts. Caller holds the lock. */
void h5_tensor_close_all(struct h5_model *m);

/* ---- h5_model.c / h5_raw.c -------------------------------------------- */

/* The layouts h5_model detects. */
enum h5_layout {
    H5L_GENERIC = 0,     /* any HDF5 file */
    H5L_KERAS_FULL,      /* legacy model.save: model_weights + model_config */
    H5L_KERAS_WEIGHTS,   /* legacy save_weights: root layer_names */
    H5L_KERAS3_WEIGHTS   /* Keras 3 .weights.h5: layers/.../vars */
};

/* One dataset found by the raw walk, for the Keras views to look up. */
struct h5_entry {
    char *path;          /* HDF5 path without leading '/', malloc'd */
    mfs_tensor *tensor;  /* tree-owned; NULL for strings/skipped */
};

struct h5_model {
    mfs_src *src;             /* the HDF5 bytes (referenced) */
    char *label;              /* for messages (malloc'd) */
    hid_t file;               /* open file, or H5I_INVALID_HID */
    enum h5_layout layout;
    const char *reader;       /* winning reader id (static) */
    mfs_src *plain_src;       /* when set (stored zip member): PLAIN tensors */
    uint64_t plain_base;      /* read plain_src at plain_base + offset, so
                                 info.json names the archive and its offset */

    struct h5_entry *ent;     /* datasets, in walk order */
    size_t nent, capent;
    struct h5_entry **idx;    /* the same, sorted by path (h5_model_find) */

    void **ctx;               /* CUSTOM read contexts (h5_tensor.c) */
    size_t nctx, capctx;

    char *raw_prefix;         /* where the HDF5 tree goes under raw/ */
    json_t *config;           /* .keras config.json (owned) or NULL */
    json_t *keras_meta;       /* .keras metadata.json (owned) or NULL */
    int warned;               /* a part was skipped: build returns WARN */
    struct h5_warns warns;    /* their log lines, printed when build succeeds */
};

/** h5_model_alloc() : empty state over @src (referenced); @label (copied)
 *  names the file in messages, @reader is the winning reader id (static),
 *  @raw_prefix (copied) where the HDF5 tree goes under raw/ ("" for a
 *  plain file). NULL on OOM. */
struct h5_model *h5_model_alloc(mfs_src *src, const char *label, const char *reader,
                                const char *raw_prefix);
/** h5_model_open() : runs the canary (unless disabled), opens the file and
 *  detects the layout. Set m->config before when there is one. Takes the
 *  lock itself. @return MFS_OK or MFS_FATAL with @e set. */
int h5_model_open(struct h5_model *m, mfs_err *e);
/** h5_model_free() : closes everything; accepts NULL. Takes the lock. */
void h5_model_free(struct h5_model *m);

/** h5_model_build() : the whole tree for @m: raw/ always, then the view
 *  of the detected layout. Takes the lock itself. @return MFS_OK, MFS_WARN
 *  (parts skipped, logged) or MFS_FATAL. */
int h5_model_build(struct h5_model *m, mfs_tree *t, mfs_err *e);

/** h5_model_probe_isolated() : in an open the modelfs binary isolates
 *  (mfs_open_isolated: no canary), the small probing reads the canary
 *  would have done, in-process, so a file that crashes libhdf5 there does
 *  it during the open. h5_model_build does it; readers that build from
 *  h5_raw_walk themselves (sharded weights) call it for each file.
 *  Caller holds the lock. */
void h5_model_probe_isolated(struct h5_model *m);

/** h5_meta_attrs() : the attributes of @obj as metadata/ files (strings
 *  holding a JSON object or array become "<name>.json", pretty-printed),
 *  except those named in the NULL-terminated @skip (an entry ending in
 *  '*' is a prefix). Caller holds the
 *  lock. @return MFS_OK or MFS_FATAL (OOM). */
int h5_meta_attrs(struct h5_model *m, mfs_tree *t, hid_t obj, const char *const *skip,
                  mfs_err *e);

/** h5_reader_open()/build()/close() : the mfs_reader callbacks shared by
 *  the four HDF5 readers (rd_hdf5.c). */
int h5_reader_open(const struct mfs_probe *p, const char *reader, void **state, mfs_err *e);
int h5_reader_build(void *state, mfs_tree *t, mfs_err *e);
void h5_reader_close(void *state);

/** h5_model_find() : the tensor of dataset @path (no leading '/'), or
 *  NULL. Valid after the raw walk. */
mfs_tensor *h5_model_find(const struct h5_model *m, const char *path);

/** h5_raw_walk() : raw/<prefix>/...: every group, dataset and attribute;
 *  fills m->ent. @return MFS_OK/MFS_WARN or MFS_FATAL. Caller holds the
 *  lock. */
int h5_raw_walk(struct h5_model *m, mfs_tree *t, uint32_t raw_dir, mfs_err *e);

/** h5_keras_build() : Keras 1/2 legacy views (layers/, tensors/,
 *  metadata/, optimizer/). Caller holds the lock. */
int h5_keras_build(struct h5_model *m, mfs_tree *t, mfs_err *e);

/* ---- h5_keras_anon.c: Keras 1/2.0 anonymous optimizer weights -------- */

/* A model weight, in model order (layers/<layer>/..., tensors/<key>). */
struct h5_kparam {
    const char *key;    /* "dense_1/kernel" */
    const char *layer;  /* its layer_names entry */
    mfs_tensor *tn;
};

/* An optimizer weight left after the named ones. */
struct h5_kopt {
    const char *stored; /* its name in optimizer_weights ("Variable_3:0") */
    const char *s;      /* without ":0" */
    mfs_tensor *tn;
};

/** h5_keras_is_anon() : 1 when the last component of @s (":N" stripped)
 *  is TensorFlow's "Variable"/"Variable_<n>" or Theano's "param_<n>". */
int h5_keras_is_anon(const char *s);

/** h5_keras_anon_map() : maps the anonymous optimizer weights @w (in
 *  weight_names order, named iterations removed) to the trainable model
 *  weights among @params by Keras' order for the class in @opt_cfg
 *  (training_config's optimizer_config; trainability from @model_cfg,
 *  both may be NULL) and adds optimizer/state/<key>/<slot> (info.json:
 *  param, slot). A leading anonymous scalar is the iteration count
 *  (optimizer/step, vars/<name>). @og is the optimizer_weights group.
 *  @return 1 when mapped, 0 when the class is unknown or the counts or
 *  shapes do not fit (nothing added), MFS_FATAL on OOM. Caller holds the
 *  lock. */
int h5_keras_anon_map(struct h5_model *m, mfs_tree *t, uint32_t opt_dir, hid_t og, json_t *model_cfg,
                      json_t *opt_cfg, const struct h5_kparam *params, size_t nparams,
                      struct h5_kopt *w, size_t nw, mfs_err *e);

/** h5_keras3_build() : Keras 3 views of @m (h5_keras3_build_parts over
 *  one file, with m->config). Caller holds the lock. */
int h5_keras3_build(struct h5_model *m, mfs_tree *t, mfs_err *e);

/** h5_keras3_build_parts() : Keras 3 views over the union of the datasets
 *  of @n files (the shards of a sharded save_weights; a dataset found in
 *  two shards is taken from the first, with a warning on @parts[0]).
 *  @config is the model config or NULL. Caller holds the lock.
 *  @return MFS_OK or MFS_FATAL (OOM). */
int h5_keras3_build_parts(struct h5_model **parts, size_t n, json_t *config, mfs_tree *t,
                          mfs_err *e);

/* ---- h5_keras3.c: the Keras 3 views over any variable store ------------
 * (HDF5 files above, or the NpzIOStore of a .keras: keras_npz.c). */

/* One variable: @path is its HDF5-style path without the leading '/'
 * ("layers/dense/vars/0", "optimizer/vars/3", "vars/0"). */
struct k3_var {
    const char *path;   /* borrowed */
    mfs_tensor *tn;     /* tree-owned */
    size_t part;        /* which file of a sharded save (for read_i64) */
};

/* One child of the layers root (the stored, snake_case container name),
 * with the layer's .name when the store kept it (vars/@name), else NULL. */
struct k3_group {
    const char *stored;
    const char *display;
};

struct k3_in {
    struct k3_var *v;          /* every variable, any order */
    size_t n;
    struct k3_group *g;        /* children of the layers root, any order, unique */
    size_t ng;
    const char *lroot;         /* "layers" (TF-Keras 2.13: "_layer_checkpoint_dependencies") */
    json_t *config;            /* model config (config.json) or NULL: borrowed */
    /* reads a scalar integer variable (optimizer/step); MFS_OK or MFS_FAILED */
    int (*read_i64)(const struct k3_in *in, const struct k3_var *v, long long *out);
    void *ctx;                 /* for read_i64 */
};

/** k3_build() : layers/, tensors/, optimizer/ (see h5_keras3.c) from @in.
 *  Sets info.json "layer" on layer tensors. @return MFS_OK or MFS_FATAL
 *  (OOM) with @e set. */
int k3_build(const struct k3_in *in, mfs_tree *t, mfs_err *e);

/** h5_generic_build() : plain HDF5: every numeric dataset under tensors/
 *  (HDF5 path), root attributes under metadata/. Caller holds the lock. */
int h5_generic_build(struct h5_model *m, mfs_tree *t, mfs_err *e);

/** h5_warn() : records a warning about @m ("<label>: <text>") and marks
 *  the build as MFS_WARN. */
void h5_warn(struct h5_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** h5_strip_colon() : copy of @name without a trailing ":<digits>"
 *  (TensorFlow's output index). Caller frees; NULL on OOM. */
char *h5_strip_colon(const char *name);

/** h5_bid() : common bid logic of the four HDF5 readers: 64 bits for the
 *  signature, plus bits for Keras markers visible in the probe's head and
 *  tail. @return the bid for @layout, or -1. */
int h5_bid(const struct mfs_probe *p, enum h5_layout layout);
#endif
