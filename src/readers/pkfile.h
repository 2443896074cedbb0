/* pkfile.h: open and build for files that are one pickle, shared by the
 * joblib and generic pickle readers (private to src/readers).
 *
 * The file may be compressed as a whole (joblib's compress=...: zlib, gzip,
 * bz2, xz, lzma, lz4, zstd, or joblib <= 0.9's "ZF" header); it is then
 * read through a decompressing source (core/decomp.h). The pickle is
 * loaded with the no-execution VM, with joblib's hook that locates (and
 * skips) the raw array bytes following each NumpyArrayWrapper. The tree:
 * tensors/, layers/, metadata/ from sklearn.h's walk; raw/ the whole
 * object graph (arrays as tensor dirs); security/ every imported global;
 * metadata/ also pickle_protocol, compression, pickle_bytes. */
#ifndef MFS_PKFILE_H
#define MFS_PKFILE_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "readers/reader.h"
#include "core/decomp.h"

/* What the first bytes say (for bids). Pure: no allocation that outlives
 * the call. */
struct mfs_pkfile_sniff {
    enum mfs_decomp_kind comp;  /* compression of the file, or NONE */
    int protocol;               /* pickle protocol from PROTO (2..5), 0-1 text, -1 not a pickle */
    int framed;                 /* FRAME opcode right after PROTO */
    int joblib;                 /* mentions joblib's numpy_pickle module */
};

/** mfs_pkfile_sniff() : looks at the probe's head and tail (and, for a
 *  compressed file, at its first decompressed KiB). Never fails. */
void mfs_pkfile_sniff(const struct mfs_probe *p, struct mfs_pkfile_sniff *s);

/** mfs_pkfile_open() : decompresses (when needed) and loads the pickle.
 *  @return MFS_OK or MFS_FATAL with @e set (*state set in both cases:
 *  mfs_pkfile_close frees it). */
int mfs_pkfile_open(const struct mfs_probe *p, void **state, mfs_err *e);
int mfs_pkfile_build(void *state, mfs_tree *t, mfs_err *e);
void mfs_pkfile_close(void *state);
#endif
