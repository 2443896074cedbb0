/* rd_hdf5.c: any HDF5 file ("hdf5").
 *
 * The generic reader bids the 64 bits of the HDF5 signature; the Keras
 * readers (rd_keras_h5.c, rd_keras_h5_weights.c, rd_keras3_weights_h5.c)
 * bid more when Keras' attribute or group names are visible in the
 * probe. All four share one implementation (h5_model.c) which detects the
 * layout from the file itself, so a Keras file that wins here still gets
 * its layers/ view. Without a Keras layout: raw/ (groups, datasets,
 * @attrs), every numeric dataset under tensors/<HDF5 path>, and the root
 * attributes under metadata/. */
#include "readers/h5_lib.h"

static int hdf5_bid(const struct mfs_probe *p, int best_bid)
{
    if (best_bid >= 64) return -1;
    return h5_bid(p, H5L_GENERIC);
}

static int hdf5_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    return h5_reader_open(p, "hdf5", state, e);
}

const struct mfs_reader mfs_reader_hdf5 = {
    .name = "hdf5",
    .description = "any HDF5 file: groups, datasets (chunked/compressed read lazily), attributes",
    .flags = 0,
    .bid = hdf5_bid,
    .open = hdf5_open,
    .build = h5_reader_build,
    .close = h5_reader_close,
};
