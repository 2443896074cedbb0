/* libFuzzer target: the joblib and generic pickle readers (decompression,
 * the pickle VM with joblib's array hook, numpy array recognition, the
 * sklearn walk, raw/ and security/) on arbitrary bytes, then every file of
 * the tree read at its start and end. The first byte chooses the reader
 * (even: joblib, odd: pickle) so both run on every shape of input; the
 * decompressed size is capped at 64 MiB so bombs stay cheap. Nothing may
 * crash, leak, hang or read out of bounds. */
#include "fuzz_common.h"
#include "core/decomp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mfs_decomp_tune(64u << 20, 64u << 10);
    if (size < 1) return 0;
    const char *fmt = data[0] & 1 ? "pickle" : "joblib";
    mfs_fuzz_one(data + 1, size - 1, "fuzz.joblib", fmt);
    /* and by bidding, as a user's file would be opened */
    mfs_fuzz_one(data + 1, size - 1, "fuzz.pkl", NULL);
    return 0;
}
