/* libFuzzer target: the torch-export reader (PT2 archives: zip listing,
 * payload config JSON, strided views of raw records) and every view over
 * what it places (fuzz_common.h). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return mfs_fuzz_one(data, size, "fuzz.pt2", "torch-export");
}
