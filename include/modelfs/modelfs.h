/**
 * @file modelfs.h
 * The public surface of libmodelfs: open a saved model, walk the tree of
 * LAYOUT (format, summary, tensors/, layers/, ...) and read its files.
 *
 * Everything here is format-neutral and FUSE-free: the FUSE daemon
 * (src/fuse), the no-mount lister (`modelfs ls|cat`) and the tests all go
 * through this header.
 *
 * Identifier space: every node of the tree has a number, 1..count. The
 * root is 1 (the same as FUSE_ROOT_ID, so the FUSE layer uses node numbers
 * as inode numbers unchanged). 0 means "no node". The tree is immutable
 * once mfs_model_open() returns, so node numbers, names and sizes may be
 * read from any thread without locks.
 */
#ifndef MODELFS_H
#define MODELFS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MFS_VERSION_STRING "0.1.0"

/* Graded status, after libarchive's ARCHIVE_OK/WARN/FAILED/FATAL. */
enum {
    MFS_OK = 0,      /* done */
    MFS_WARN = 1,    /* done, but parts were skipped (logged) */
    MFS_FAILED = -1, /* this node/read is unusable: EIO, the mount stays up */
    MFS_FATAL = -2   /* the model cannot be mounted */
};

/* An error report. Filled where the failure happens (mfs_err_set) and
 * forwarded unchanged by callers. errnum is the errno the FUSE layer
 * replies with; offset is the byte (or -1) of the input where it failed. */
typedef struct mfs_err {
    int status;
    int errnum;
    int64_t offset;
    char msg[512];
} mfs_err;

typedef struct mfs_model mfs_model;

/* Options of mfs_model_open. Zero-initialise, then set what you need. */
typedef struct mfs_open_opts {
    const char *format; /* reader id to use without bidding, or NULL */
} mfs_open_opts;

/**
 * mfs_model_open() : open @path (file, directory or prefix), pick a reader
 * by bidding (or opts->format) and build the whole tree. Reads metadata
 * only, never tensor bytes.
 * @return MFS_OK/MFS_WARN with *out set (free with mfs_model_close), or
 *         MFS_FATAL with *out NULL and @e describing path, format guess,
 *         what is wrong and where.
 */
int mfs_model_open(const char *path, const mfs_open_opts *opts,
                   mfs_model **out, mfs_err *e);

/** mfs_model_close() : frees everything; accepts NULL. */
void mfs_model_close(mfs_model *m);

/**
 * mfs_set_open_isolated() : says that the caller runs mfs_model_open() in
 * a process of its own whose crash or hang it reports (the modelfs binary
 * does, src/tools/shield.c). Readers may then skip their own isolation
 * (the HDF5 reader's forked "canary" walk) and do that work in-process.
 * Process-wide; default off (fuzzers, library users).
 */
void mfs_set_open_isolated(int on);

/** The reader id that built the model ("safetensors", ...). Borrowed. */
const char *mfs_model_format(const mfs_model *m);

/* ---- tree walk (no locks needed; the tree never changes) ---- */

#define MFS_ROOT 1u

/** Number of nodes; valid ids are 1..count. */
uint32_t mfs_node_count(const mfs_model *m);
/** 1 for a directory, 0 for a regular file or a symlink, -1 for an
 *  invalid id. */
int mfs_node_is_dir(const mfs_model *m, uint32_t id);
/** The text of symlink @id, a path relative to its directory that always
 *  names a directory of the same tree (layers/ and raw/ entries point at
 *  tensors/<key>), or NULL when @id is not a symlink. Borrowed. */
const char *mfs_node_link(const mfs_model *m, uint32_t id);
/** Escaped name of the node (root: ""). Borrowed, lives with the model. */
const char *mfs_node_name(const mfs_model *m, uint32_t id);
/** Parent id (the root is its own parent). */
uint32_t mfs_node_parent(const mfs_model *m, uint32_t id);
/** Exact size in bytes of a file (0 for a directory, the length of the
 *  text for a symlink). May compute small
 *  generated files on first call (cached); never decodes tensor data. */
uint64_t mfs_node_size(mfs_model *m, uint32_t id);
/** Child named @name of directory @dir, or 0 (also when @dir is a file). */
uint32_t mfs_node_lookup(const mfs_model *m, uint32_t dir, const char *name);
/** Resolve a '/'-separated path of escaped names from the root, or 0.
 *  Symlinks are followed, the last component's too (as stat(2) does). */
uint32_t mfs_node_resolve(const mfs_model *m, const char *path);
/** Number of children of a directory, in readdir order. */
uint32_t mfs_dir_count(const mfs_model *m, uint32_t dir);
/** The i-th child of a directory, or 0 when out of range. */
uint32_t mfs_dir_child(const mfs_model *m, uint32_t dir, uint32_t i);

/**
 * mfs_node_read() : bytes [off, off+len) of file @id into @buf.
 * Safe to call from many threads at once.
 * @return number of bytes stored (< len only at end of file), or -1 with
 *         @e set (e->errnum is EIO for a corrupt tensor, EISDIR ...).
 */
int64_t mfs_node_read(mfs_model *m, uint32_t id, uint64_t off, void *buf,
                      size_t len, mfs_err *e);

/**
 * Extended attributes (user.dtype, user.shape, user.nbytes on tensor dirs
 * and their data files).
 * mfs_node_xattr_list() : writes the NUL-separated names into @buf (if
 *   @size is large enough) and returns the total length needed.
 * mfs_node_xattr_get() : returns the value length, or -1 when the node has
 *   no such attribute; copies the value when @size is large enough.
 */
size_t mfs_node_xattr_list(const mfs_model *m, uint32_t id, char *buf,
                           size_t size);
int64_t mfs_node_xattr_get(const mfs_model *m, uint32_t id, const char *name,
                           char *buf, size_t size);

/* ---- readers ---- */

/** Number of registered readers, and the id/description of the i-th. */
size_t mfs_reader_count(void);
const char *mfs_reader_id(size_t i);
const char *mfs_reader_description(size_t i);

#ifdef __cplusplus
}
#endif
#endif /* MODELFS_H */
