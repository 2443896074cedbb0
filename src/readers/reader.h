/* reader.h: the reader descriptor and the probe (private to src/).
 *
 * How bidding works (after libarchive's archive_read_private.h):
 * the core builds one mfs_probe for the input (head and tail bytes, size,
 * directory listing, zip member names on demand) and asks every reader of
 * registry.c, in order, for a bid. A bid is about the number of bits the
 * reader verified (the 8-byte HDF5 signature = 64, a zip with a data.pkl
 * member = 32 + 32 ...), or -1 for "not mine". The highest bid wins; ties
 * go to the earlier reader. Bidders only peek: they allocate nothing and
 * return -1 at once when @best_bid is already above what they could bid.
 * `-o format=ID` skips bidding.
 *
 * Then the winner's open() parses headers and indexes into its private
 * state, build() describes the model through the tree builder (tree.h),
 * and close() frees the state when the model is closed (state must live as
 * long as the tree: tensors keep pointers into it for CUSTOM reads). */
#ifndef MFS_READER_H
#define MFS_READER_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "core/tree.h"
#include "core/src.h"
#include "core/err.h"

#define MFS_PROBE_HEAD 4096
#define MFS_PROBE_TAIL 65536

struct mfs_zip;

struct mfs_probe {
    const char *path;          /* as given by the user */
    int exists;                /* path exists */
    int is_dir;                /* path is a directory */
    uint64_t size;             /* file size (0 for directories) */
    mfs_src *src;              /* the file (NULL for a directory or prefix) */
    const unsigned char *head; /* first head_len bytes (<= MFS_PROBE_HEAD) */
    size_t head_len;
    const unsigned char *tail; /* last tail_len bytes (<= MFS_PROBE_TAIL) */
    size_t tail_len;
    char **dir_names;          /* directory: entry names (sorted), else NULL */
    size_t dir_count;
    struct mfs_probe_priv *priv; /* core-private (lazy zip listing) */
};

/** mfs_probe_zip() : the probed file opened as a zip (member names,
 *  offsets), opened on first call and shared by all bidders; NULL when the
 *  file is not a readable zip. Borrowed: valid during bid and open. */
struct mfs_zip *mfs_probe_zip(const struct mfs_probe *p);

/** mfs_probe_dir_has() : 1 when the probed directory has entry @name. */
int mfs_probe_dir_has(const struct mfs_probe *p, const char *name);

enum {
    MFS_READER_DIR = 1,        /* may bid on directories */
    MFS_READER_NOFILE = 2      /* may bid on paths that do not exist (prefixes) */
};

struct mfs_reader {
    const char *name;          /* stable id, written to /format */
    const char *description;   /* one line for --formats */
    unsigned flags;
    int (*bid)(const struct mfs_probe *p, int best_bid);
    /* Parse; allocate *state. MFS_OK/MFS_WARN, or MFS_FATAL with @e set
     * (what is wrong, at which byte/field). State may be set on failure
     * too: close() is called with whatever it holds. */
    int (*open)(const struct mfs_probe *p, void **state, mfs_err *e);
    /* Describe the model into @t. MFS_OK/MFS_WARN or MFS_FATAL. */
    int (*build)(void *state, mfs_tree *t, mfs_err *e);
    /* Free state; accepts NULL. */
    void (*close)(void *state);
};

/* Reader descriptors are defined in rd_*.c files and listed (weak) in
 * registry.c; a reader is named mfs_reader_<id with _ for ->. */

/** mfs_registry_get()/count : the ordered table (registry.c). */
size_t mfs_registry_count(void);
const struct mfs_reader *mfs_registry_get(size_t i);
const struct mfs_reader *mfs_registry_find(const char *name);
#endif
