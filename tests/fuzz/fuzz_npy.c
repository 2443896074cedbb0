/* libFuzzer target: the .npy reader (prelude, header dict literal, dtype,
 * Fortran/big-endian locators, every view over the array). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return mfs_fuzz_one(data, size, "fuzz.npy", "npy");
}
