/* libFuzzer target: the HDF5 and Keras readers (rd_hdf5.c, rd_keras*.c and
 * the h5_*.c pieces under them): an input starting like a zip goes to the
 * .keras reader (zip layer, config.json/metadata.json, the stored
 * model.weights.h5 opened in place through the mfs VFD, or the pickles of
 * a model.weights.npz store), anything else to
 * the Keras HDF5 reader (which detects the layout itself: legacy full
 * model, save_weights, Keras 3 weights or plain HDF5). The walk reads every
 * view, so CUSTOM hyperslab reads run too.
 *
 * libhdf5 1.10 is not hardened against hostile files; the readers' forked
 * canary (h5_lib.c) turns its crashes and hangs into mount errors. Its time
 * limit is lowered here so a looping input fails fast instead of tripping
 * libFuzzer's per-input timeout. */
#include "fuzz_common.h"
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    setenv("MFS_H5_CANARY_TIMEOUT", "3", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int zip = size >= 4 && memcmp(data, "PK\3\4", 4) == 0;
    return mfs_fuzz_one(data, size, zip ? "fuzz.keras" : "fuzz.h5", zip ? "keras-v3" : "keras-h5");
}
