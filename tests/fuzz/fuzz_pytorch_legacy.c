/* libFuzzer target: the pytorch-legacy reader (container, pickle VM, tensor rebuild
 * calls, model/checkpoint mapping, raw/, security/) and every view over
 * what it places (fuzz_common.h). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return mfs_fuzz_one(data, size, "fuzz.pt", "pytorch-legacy");
}
