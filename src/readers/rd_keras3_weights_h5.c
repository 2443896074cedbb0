/* rd_keras3_weights_h5.c: Keras 3 weights files ("keras3-weights-h5"):
 * model.save_weights("x.weights.h5"), layers/<x>/vars/<i>,
 * optimizer/vars/<i>. FORMATS.md §2.2; views by h5_keras3.c. Without the
 * model's config, layer names come from the stored groups. */
#include "readers/h5_lib.h"

static int keras3_weights_bid(const struct mfs_probe *p, int best_bid)
{
    if (best_bid >= 64 + 80) return -1;
    return h5_bid(p, H5L_KERAS3_WEIGHTS);
}

static int keras3_weights_open(const struct mfs_probe *p, void **state, mfs_err *e)
{
    return h5_reader_open(p, "keras3-weights-h5", state, e);
}

const struct mfs_reader mfs_reader_keras3_weights_h5 = {
    .name = "keras3-weights-h5",
    .description = "Keras 3 weights (.weights.h5): layers/<name>/vars/<i>, optimizer/vars",
    .flags = 0,
    .bid = keras3_weights_bid,
    .open = keras3_weights_open,
    .build = h5_reader_build,
    .close = h5_reader_close,
};
