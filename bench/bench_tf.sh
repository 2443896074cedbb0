#!/bin/bash
# bench_tf.sh: the FUSE daemon on a 1 GiB TensorFlow checkpoint.
#
# The checkpoint ($BENCH_DIR/bench-tf/ckpt-1: ckpt-1.index and two data
# shards, made once by a small C writer compiled here from the source
# below, using the project's own crc32c for the stored checksums) holds
# 2,000 float32 variables: "embedding/weights" of 512 MiB in shard 0 and
# 1,999 variables "layer_NNNN/kernel" of 256 KiB in shard 1 (1.01 GiB in
# all), indexed like TF writes it (uncompressed 256 KiB blocks, a restart
# point every 16 keys), mounted by its prefix. Measured:
#   (a) mount + `ls -R`, fresh mount each run, and the same walk on the
#       ceiling server serving the same names (bench/ceiling_tree.c); the
#       mount alone: target < 100 ms. Also shown: `modelfs ls PREFIX`.
#   (b) sequential read of the 512 MiB variable's data with cat: first
#       read on a fresh mount (every byte goes through the daemon, which
#       checks the variable's crc32c on the way) and re-read (kernel
#       cache), against, in the same run,
#         ceiling  bench/ceiling.c serving the same byte range of shard 0
#                  with the same FUSE settings, first read and re-read;
#         cat      the same bytes straight from the shard (dd skip/count).
#       Target: modelfs >= 0.9 x ceiling.
#   (c) every variable's data (2,000 files, 1.01 GiB) read once through a
#       fresh mount, against cat of the two shard files; and the crc32c
#       verdicts afterwards (every info.json must say matched).
# Sources are page-cached first for every contender alike. Best of
# $BENCH_REPEAT runs; modelfs and ceiling runs alternate.
. "$(dirname "$0")/lib.inc"
bench_need_fuse

N=${BENCH_REPEAT:-5}
D=$BENCH_DIR/bench-tf
PREFIX=$D/ckpt-1
BIG=embedding/weights
if [ ! -f "$PREFIX.index" ]; then
    echo "  generating $PREFIX (1 GiB, 2 shards, 2,000 variables) ..."
    mkdir -p "$D"
    cat >"$D/gen.c" <<'EOF'
/* Writes a TF tensor bundle: float32 variables, 2 shards, an index table
 * as TensorFlow's BundleWriter lays it out (no compression). */
#include "readers/tf_crc32c.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf { unsigned char *p; size_t len, cap; };
static void put(struct buf *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        if (!(b->p = realloc(b->p, b->cap))) exit(1);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}
static void varint(struct buf *b, uint64_t v)
{
    do {
        unsigned char c = (v & 0x7f) | (v > 0x7f ? 0x80 : 0);
        put(b, &c, 1);
        v >>= 7;
    } while (v);
}
static void u32(struct buf *b, uint32_t v) { put(b, &v, 4); }

static struct buf file, blk, idx;
static uint32_t restarts[65536];
static int nrest, nent;
static char last[256];
static size_t lastlen;

static void finish_block(struct buf *b, int *nr, uint32_t *rs, uint64_t *off, uint64_t *size)
{
    if (!*nr) rs[(*nr)++] = 0;
    for (int i = 0; i < *nr; i++) u32(b, rs[i]);
    u32(b, (uint32_t)*nr);
    *off = file.len;
    *size = b->len;
    put(&file, b->p, b->len);
    unsigned char t = 0;
    put(&file, &t, 1);
    u32(&file, mfs_crc32c_mask(mfs_crc32c_extend(mfs_crc32c(b->p, b->len), &t, 1)));
    b->len = 0;
    *nr = 0;
}
static uint32_t irest[65536];
static int nirest;
static void add(const char *k, size_t kl, const void *v, size_t vl)
{
    size_t sh = 0;
    if (nent % 16) while (sh < kl && sh < lastlen && k[sh] == last[sh]) sh++;
    else restarts[nrest++] = (uint32_t)blk.len;
    varint(&blk, sh); varint(&blk, kl - sh); varint(&blk, vl);
    put(&blk, k + sh, kl - sh);
    put(&blk, v, vl);
    memcpy(last, k, kl);
    lastlen = kl;
    nent++;
    if (blk.len >= 262144) {
        uint64_t off, size;
        finish_block(&blk, &nrest, restarts, &off, &size);
        struct buf h = {0};
        varint(&h, off); varint(&h, size);
        irest[nirest++] = (uint32_t)idx.len;
        varint(&idx, 0); varint(&idx, kl); varint(&idx, h.len);
        put(&idx, k, kl); put(&idx, h.p, h.len);
        free(h.p);
        nent = 0;
    }
}

int main(int argc, char **argv)
{
    const char *prefix = argv[1];
    int nsmall = 1999;
    size_t big = 512u << 20, small = 256u << 10;
    char path[4096];
    FILE *sh[2];
    for (int s = 0; s < 2; s++) {
        snprintf(path, sizeof path, "%s.data-%05d-of-00002", prefix, s);
        if (!(sh[s] = fopen(path, "wb"))) return 1;
    }
    /* header */
    unsigned char hdr[] = {0x08, 0x02, 0x1a, 0x02, 0x08, 0x01};
    add("", 0, hdr, sizeof hdr);
    /* deterministic pseudo-random floats in [-1, 1) */
    uint64_t x = 88172645463325252ull;
    unsigned char *chunk = malloc(big);
    struct { char key[64]; int shard; uint64_t off, n, dim0, dim1; uint32_t crc; } *v = calloc(nsmall + 1, sizeof *v);
    uint64_t offs[2] = {0, 0};
    for (int i = 0; i <= nsmall; i++) {
        size_t n = i == 0 ? big : small;
        float *f = (float *)chunk;
        for (size_t k = 0; k < n / 4; k++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            f[k] = (float)((int32_t)(x >> 32)) / 2147483648.0f;
        }
        int s = i == 0 ? 0 : 1;
        if (i == 0) snprintf(v[i].key, sizeof v[i].key, "embedding/weights");
        else snprintf(v[i].key, sizeof v[i].key, "layer_%04d/kernel", i);
        v[i].shard = s;
        v[i].off = offs[s];
        v[i].n = n;
        v[i].dim0 = i == 0 ? 131072 : 256;
        v[i].dim1 = i == 0 ? 1024 : 256;
        v[i].crc = mfs_crc32c(chunk, n);
        if (fwrite(chunk, 1, n, sh[s]) != n) return 1;
        offs[s] += n;
    }
    fclose(sh[0]);
    fclose(sh[1]);
    /* entries in key order: "embedding/..." < "layer_..." */
    for (int i = 0; i <= nsmall; i++) {
        struct buf e = {0}, shp = {0}, d0 = {0}, d1 = {0};
        varint(&d0, 0x08); varint(&d0, v[i].dim0);
        varint(&d1, 0x08); varint(&d1, v[i].dim1);
        varint(&shp, 0x12); varint(&shp, d0.len); put(&shp, d0.p, d0.len);
        varint(&shp, 0x12); varint(&shp, d1.len); put(&shp, d1.p, d1.len);
        varint(&e, 0x08); varint(&e, 1);                     /* dtype float */
        varint(&e, 0x12); varint(&e, shp.len); put(&e, shp.p, shp.len);
        if (v[i].shard) { varint(&e, 0x18); varint(&e, (uint64_t)v[i].shard); }
        if (v[i].off) { varint(&e, 0x20); varint(&e, v[i].off); }
        varint(&e, 0x28); varint(&e, v[i].n);
        unsigned char t = 0x35;
        put(&e, &t, 1);
        u32(&e, mfs_crc32c_mask(v[i].crc));
        add(v[i].key, strlen(v[i].key), e.p, e.len);
        free(e.p); free(shp.p); free(d0.p); free(d1.p);
    }
    if (blk.len || nent) {
        uint64_t off, size;
        finish_block(&blk, &nrest, restarts, &off, &size);
        struct buf h = {0};
        varint(&h, off); varint(&h, size);
        irest[nirest++] = (uint32_t)idx.len;
        varint(&idx, 0); varint(&idx, lastlen); varint(&idx, h.len);
        put(&idx, last, lastlen); put(&idx, h.p, h.len);
        free(h.p);
    }
    struct buf meta = {0};
    uint32_t mr[1];
    int nmr = 0;
    uint64_t moff, msize, ioff, isize;
    finish_block(&meta, &nmr, mr, &moff, &msize);
    finish_block(&idx, &nirest, irest, &ioff, &isize);
    struct buf f = {0};
    varint(&f, moff); varint(&f, msize); varint(&f, ioff); varint(&f, isize);
    while (f.len < 40) put(&f, "", 1);
    uint64_t magic = 0xdb4775248b80fb57ull;
    put(&f, &magic, 8);
    put(&file, f.p, f.len);
    snprintf(path, sizeof path, "%s.index", prefix);
    FILE *o = fopen(path, "wb");
    if (!o || fwrite(file.p, 1, file.len, o) != file.len || fclose(o)) return 1;
    return 0;
}
EOF
    gcc -O2 -std=gnu11 -DMFS_INTERNAL -I"$MFS_SRC_DIR/src" "$D/gen.c" "$MFS_SRC_DIR/src/readers/tf_crc32c.c" \
        -o "$D/gen" -lpthread || bench_die "cannot compile the checkpoint writer"
    "$D/gen" "$PREFIX" || bench_die "cannot write $PREFIX"
fi
S0=$PREFIX.data-00000-of-00002
S1=$PREFIX.data-00001-of-00002
BIG_LEN=$((512 << 20))
BIG_OFF=0

cat "$S0" "$S1" "$PREFIX.index" >/dev/null
"$MODELFS" tree "$PREFIX" >"$BENCH_DIR/tf-tree.txt" || bench_die "modelfs tree $PREFIX"
nodes=$(wc -l <"$BENCH_DIR/tf-tree.txt")
nvars=$("$MODELFS" cat "$PREFIX" summary | wc -l)
total=$(( $(stat -c %s "$S0") + $(stat -c %s "$S1") ))
crcimpl=$(grep -qw sse4_2 /proc/cpuinfo && echo "SSE4.2 crc32 instruction, 3 streams" || echo "slicing-by-8 table")
echo "  checkpoint: $PREFIX ($nvars variables, $total data bytes in 2 shards, index $(stat -c %s "$PREFIX.index") bytes)"
echo "  tree: $nodes nodes; crc32c: $crcimpl; sources page-cached: $(bench_cached_pct "$S0") / $(bench_cached_pct "$S1")"
echo "  best of $N runs"
echo

bench_newdir MNT tf
bench_newdir CMNT tfceil

# ---- (a) mount + ls -R ----
open_us=() w_mount=() w_ls=() w_total=() cw_mount=() cw_ls=()
for i in $(seq "$N"); do
    open_us+=("$(bench_time_cmd "$MODELFS" ls "$PREFIX")")
    bench_walk "$MODELFS" "$PREFIX" "$MNT"
    bench_walk_ceiling "$BENCH_DIR/tf-tree.txt"
done
best_mount=$(bench_min "${w_mount[@]}")

# ---- (b) the 512 MiB variable ----
m_first=() m_again=() c_first=() c_again=() f_cat=()
for i in $(seq "$N"); do
    bench_mount_fg "$MNT" "$MODELFS" "$PREFIX" "$MNT" -f
    m_first+=("$(bench_time_cmd $T cat "$MNT/tensors/$BIG/data")")
    m_again+=("$(bench_time_cmd $T cat "$MNT/tensors/$BIG/data")")
    matched=$($T cat "$MNT/tensors/$BIG/info.json" | grep -c '"crc32c_check": "matched"')
    bench_stop "$MNT" "$BENCH_PID"
    [ "$matched" = 1 ] || bench_die "the variable's crc32c was not verified as matched"

    bench_baselines "$S0" "$BIG_OFF" "$BIG_LEN"
done
bench_rates "$BIG_LEN"

# ---- (c) every variable ----
all_us=() catall_us=()
for i in $(seq "$N"); do
    bench_mount_fg "$MNT" "$MODELFS" "$PREFIX" "$MNT" -f
    t0=$EPOCHREALTIME
    (cd "$MNT/tensors" && $T find . -name data -type f -print0 | $T xargs -0 cat >/dev/null) ||
        bench_die "reading every variable failed"
    t1=$EPOCHREALTIME
    all_us+=("$(bench_us "$t0" "$t1")")
    if [ "$i" = 1 ]; then
        bad=$(cd "$MNT/tensors" && find . -name info.json -print0 | xargs -0 grep -L '"crc32c_check": "matched"' | wc -l)
    fi
    bench_stop "$MNT" "$BENCH_PID"
    catall_us+=("$(bench_time_cmd cat "$S0" "$S1")")
done
[ "$bad" = 0 ] || bench_die "$bad variables did not verify their crc32c"
all=$(bench_gbps "$total" "$(bench_min "${all_us[@]}")")
catall=$(bench_gbps "$total" "$(bench_min "${catall_us[@]}")")


bench_row "metric" "value" "target" "notes"
bench_rule
bench_walk_rows "" "\`modelfs ls\` (start + open) $(ms "$(bench_min "${open_us[@]}")")"
bench_row "    mount alone" "$(ms "$best_mount")" "< 100 ms $(verdict "$best_mount" 100000 "<")" \
    "\`modelfs CKPT MNT\` returning once mounted (process start, open, FUSE mount)"
rf=$(bench_ratio "$mf" "$cf") ra=$(bench_ratio "$ma" "$ca")
bench_row "(b) 512 MiB variable, first read (crc32c)" "$mf GB/s" ">= 0.9 $(verdict "$rf" 0.9 ">=")" \
    "modelfs/ceiling $rf (ceiling $cf GB/s); modelfs/cat $(bench_ratio "$mf" "$fc")"
bench_row "(b) 512 MiB variable, re-read (kernel cache)" "$ma GB/s" ">= 0.9 $(verdict "$ra" 0.9 ">=")" \
    "modelfs/ceiling $ra (ceiling $ca GB/s); modelfs/cat $(bench_ratio "$ma" "$fc")"
bench_row "    baseline: cat of the same bytes" "$fc GB/s" "" "dd bs=1M skip/count from the page-cached shard"
bench_row "(c) all 2,000 variables, first read" "$all GB/s" "" \
    "find|xargs cat over tensors/; cat of both shards $catall GB/s (ratio $(bench_ratio "$all" "$catall")); all crc32c matched"
