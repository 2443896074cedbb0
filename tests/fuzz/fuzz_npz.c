/* libFuzzer target: the .npz reader and src/core/zip.c under it (end of
 * central directory, zip64 records, central and local headers, stored
 * windows, the inflater with restart points, member npy headers); the
 * walk reads the start and end of every raw/ member and tensor. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return mfs_fuzz_one(data, size, "fuzz.npz", "npz");
}
