/* rd_keras_h5.c: Keras 1/2 (and Keras 3 legacy) full models saved as HDF5
 * with model.save("x.h5") ("keras-h5"): model_config + model_weights
 * (+ training_config, optimizer_weights). FORMATS.md §1; the views are
 * built by h5_keras.c through the shared HDF5 state (h5_model.c). */
#include "readers/h5_lib.h"

static int keras_h5_bid(const struct mfs_probe *p, int best_bid)
{
    if (best_bid >= 64 + 96) return -1;
    return h5_bid(p, H5L_KERAS_FULL);
}

static int keras_h5_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    return h5_reader_open(p, "keras-h5", state, e);
}

const struct mfs_reader mfs_reader_keras_h5 = {
    .name = "keras-h5",
    .description = "Keras/tf.keras full model in HDF5 (model.save('x.h5')), Keras 1.x to 3.x",
    .flags = 0,
    .bid = keras_h5_bid,
    .open = keras_h5_open,
    .build = h5_reader_build,
    .close = h5_reader_close,
};
