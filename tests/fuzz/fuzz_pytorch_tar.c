/* libFuzzer target: the pytorch-tar reader (tar headers, PAX records,
 * the storages/tensors record streams, pickles) and every view over what
 * it places (fuzz_common.h). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return mfs_fuzz_one(data, size, "fuzz.tar", "pytorch-tar");
}
