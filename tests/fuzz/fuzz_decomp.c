/* libFuzzer target: the decompressing byte source (src/core/decomp.c) on
 * arbitrary compressed streams. The first byte picks the codec (zlib,
 * gzip, bz2, xz, lzma, lz4, zstd, zf; 0 = detect from the bytes); the
 * stream is scanned (size, restart points), then read at the start, the
 * middle, the end and a few offsets derived from the input, forwards and
 * backwards (restarts from checkpoints), and peeked from memory. The
 * decompressed size is capped at 4 MiB and restart points are kept every
 * 16 KiB. Nothing may crash, leak, hang or read out of bounds. */
#include "core/decomp.h"
#include "core/log.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mfs_log_set_quiet(1);
    mfs_decomp_tune(0, 16u << 10); /* restart points every 16 KiB */
    if (size < 1) return 0;
    enum mfs_decomp_kind k = (enum mfs_decomp_kind)(data[0] % MFS_DECOMP__COUNT);
    data++;
    size--;
    if (k == MFS_DECOMP_NONE) k = mfs_decomp_detect(data, size);
    if (k == MFS_DECOMP_NONE) return 0;
    static unsigned char buf[1 << 16];
    mfs_decomp_peek_mem(data, size, k, buf, sizeof buf);
    mfs_src *in = mfs_src_new_mem(data, size, 0, "fuzz");
    if (!in) return 0;
    mfs_err e;
    mfs_src *s = mfs_decomp_open(in, 0, size, k, 4u << 20, &e);
    if (s) {
        uint64_t n = s->size;
        uint64_t offs[6] = {0, n / 2, n > 100 ? n - 100 : 0, n / 3, n / 7, 0};
        offs[5] = size > 8 ? ((uint64_t)data[size - 1] << 16 | (uint64_t)data[size - 2] << 8 | data[size - 3]) % (n + 1) : 0;
        for (int i = 5; i >= 0; i--) mfs_src_read(s, buf, sizeof buf, offs[i], &e);
        for (int i = 0; i < 6; i++) mfs_src_read(s, buf, 1000, offs[i], &e);
        struct mfs_decomp_stats st;
        mfs_decomp_get_stats(s, &st);
        mfs_src_unref(s);
    }
    mfs_decomp_peek(in, 0, size, k, buf, 4096, 1 << 20, &e);
    mfs_src_unref(in);
    return 0;
}
