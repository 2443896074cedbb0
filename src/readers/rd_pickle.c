/* rd_pickle.c: the generic Python pickle reader.
 *
 * Any pickle (pickle.dump of numpy arrays, dicts and lists of them,
 * scikit-learn estimators, arbitrary objects) is loaded with the
 * no-execution VM and shown as: tensors/ for every numpy array with a
 * tensor form (numpy's _reconstruct and protocol-5 _frombuffer forms, and
 * joblib wrappers should a joblib file land here), metadata/ for
 * estimators, raw/ the whole object graph, security/ every imported
 * global. Loading and the tree: pkfile.c. Compressed pickles are the
 * joblib reader's (it handles any compressed pickle).
 *
 * The bid: PROTO 2-5 (16 bits) + 8 when a FRAME follows (protocol 4+);
 * headerless protocol 0/1 pickles only when the first byte is a plausible
 * first opcode and the last byte is STOP '.' (about 9 bits). PyTorch's
 * legacy format is a pickle too, but its reader checks the magic number
 * (80 bits and more) and wins. */
#include "readers/pkfile.h"

static int pickle_bid(const struct mfs_probe *p, int best_bid)
{
    if (!p->src || p->is_dir || best_bid >= 24) return -1;
    struct mfs_pkfile_sniff s;
    mfs_pkfile_sniff(p, &s);
    if (s.comp != MFS_DECOMP_NONE) return -1;
    if (s.protocol >= 2) return 16 + (s.framed ? 8 : 0);
    if (s.protocol >= 0) return 9;
    return -1;
}

const struct mfs_reader mfs_reader_pickle = {
    .name = "pickle",
    .description = "Python pickle files (protocols 0-5): numpy arrays as tensors, scikit-learn "
                   "estimators, the object tree in raw/, imported globals in security/",
    .flags = 0,
    .bid = pickle_bid,
    .open = mfs_pkfile_open,
    .build = mfs_pkfile_build,
    .close = mfs_pkfile_close,
};
