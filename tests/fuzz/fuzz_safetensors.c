/* libFuzzer target: the safetensors reader (header parse, validation,
 * every view over the tensors it places). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return mfs_fuzz_one(data, size, "fuzz.safetensors", "safetensors");
}
