/* libFuzzer target: every reader's bid on arbitrary bytes, then the
 * winner's open/build and all views (the path a mount takes). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return mfs_fuzz_one(data, size, "fuzz.bin", NULL);
}
