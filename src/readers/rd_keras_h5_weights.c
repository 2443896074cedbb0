/* rd_keras_h5_weights.c: Keras 1/2 weights saved with save_weights("x.h5")
 * ("keras-h5-weights"): layer_names at the root, one group per layer.
 * FORMATS.md §2.1; views by h5_keras.c (same as a full model's weights). */
#include "readers/h5_lib.h"

static int keras_h5_weights_bid(const struct mfs_probe *p, int best_bid)
{
    if (best_bid >= 64 + 88) return -1;
    return h5_bid(p, H5L_KERAS_WEIGHTS);
}

static int keras_h5_weights_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    return h5_reader_open(p, "keras-h5-weights", state, e);
}

const struct mfs_reader mfs_reader_keras_h5_weights = {
    .name = "keras-h5-weights",
    .description = "Keras/tf.keras 1.x-2.x weights in HDF5 (save_weights('x.h5'))",
    .flags = 0,
    .bid = keras_h5_weights_bid,
    .open = keras_h5_weights_open,
    .build = h5_reader_build,
    .close = h5_reader_close,
};
