/* rd_joblib.c: the joblib reader (joblib.dump files, scikit-learn models).
 *
 * joblib.dump writes one pickle in which every numpy array is a
 * NumpyArrayWrapper followed by the array's raw bytes (joblib >= 0.10),
 * optionally compressed as a whole (compress=zlib/gzip/bz2/lzma/xz/lz4;
 * joblib.compressor prefixes); joblib <= 0.9 wrote NDArrayWrapper /
 * ZNDArrayWrapper objects pointing to sibling .npy / .z files and a "ZF"
 * zlib header. Loading, arrays and the tree: pkfile.c, numpy_obj.c,
 * sklearn.c. This file only bids.
 *
 * The bid: an uncompressed pickle (PROTO 2-5: 16 bits) that names joblib's
 * numpy_pickle module or its wrappers in its first 4 KiB or last 64 KiB
 * (>= 14 characters, counted as 64 bits): 80. A compressed file: the
 * compression header's bits (mfs_decomp_bits: 16 for zlib up to 48 for
 * xz) + 16 when its first decompressed bytes are a pickle + 64 when they
 * name joblib; a strong compression magic (>= 32 bits) whose content could
 * not be peeked still bids its bits (open then says what is inside). */
#include "readers/pkfile.h"

static int joblib_bid(const struct mfs_probe *p, int best_bid)
{
    if (!p->src || p->is_dir || best_bid >= 80 + 48) return -1;
    struct mfs_pkfile_sniff s;
    mfs_pkfile_sniff(p, &s);
    if (s.comp == MFS_DECOMP_NONE) return s.protocol >= 2 && s.joblib ? 80 : -1;
    int bits = mfs_decomp_bits(s.comp);
    if (s.protocol >= 0) return bits + 16 + (s.joblib ? 64 : 0);
    if (s.protocol == -2 && bits >= 32) return bits;
    return -1;
}

const struct mfs_reader mfs_reader_joblib = {
    .name = "joblib",
    .description = "joblib.dump files (joblib 0.9-1.x, uncompressed or zlib/gzip/bz2/xz/lzma/lz4/zstd): "
                   "numpy arrays, scikit-learn estimators and pipelines",
    .flags = 0,
    .bid = joblib_bid,
    .open = mfs_pkfile_open,
    .build = mfs_pkfile_build,
    .close = mfs_pkfile_close,
};
