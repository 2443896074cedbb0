#!/bin/bash
# bench_hdf5.sh: the FUSE daemon on a 1 GiB HDF5 file.
#
# The file ($BENCH_DIR/bench-1g.h5, made once by the Python below with
# h5py) holds 1,000 datasets in 10 groups: "big/plain", 256 MiB float32
# contiguous; "big/gzip", 256 MiB float32 chunked (h5py's automatic chunk
# shape) + gzip level 1; and 998 smaller float32/float16/int32 datasets
# sharing the other 512 MiB, every other one chunked + gzip. The values
# are normal noise rounded to 1/256 (real weights' entropy; gzip saves
# about 25%).
# Measured:
#   (a) mount + `ls -R`: wall time of `modelfs FILE MNT` (daemonized: it
#       returns once mounted) plus `ls -R MNT`, fresh mount each run;
#       target < 200 ms. Also shown: the same with the HDF5 canary off
#       (MFS_H5_CANARY=0: no forked metadata check), and `modelfs ls FILE`
#       (process start + open, no FUSE).
#   (b) sequential read (cat) of big/plain's data on a fresh mount, against,
#       in the same run,
#         ceiling  bench/ceiling.c serving the same byte range of the file
#                  with the same FUSE settings (the machine's FUSE ceiling);
#         h5py     /usr/bin/python3 h5py reading the same dataset into a
#                  preallocated array (read_direct; interpreter start and
#                  file open excluded).
#       Target: modelfs >= 0.8 x ceiling.
#   (c) the same for big/gzip's data (chunks located by libhdf5, inflated
#       by modelfs in the FUSE worker threads, h5_chunks.c). Target:
#       modelfs >= 0.8 x h5py. Also with MFS_H5_CHUNKS=0 (every read through
#       libhdf5, serialised by the HDF5 lock). The ceiling on the plain
#       dataset's bytes is shown for scale.
#   (d) two readers at once, one per half of big/gzip (dd skip/count on
#       the same data file), total throughput; and the same through
#       libhdf5 (MFS_H5_CHUNKS=0), where the HDF5 lock serialises them.
# The source file is read once first so that everyone reads a page-cached
# source. Every figure is the best of $BENCH_REPEAT runs.
# CPU time is shown next to wall time because a shared machine makes wall
# time noisy: (a) also gives the CPU seconds of `modelfs tree FILE` (open
# + walking every node, no FUSE; with the canary, whose child is counted),
# (c) the CPU the daemon spent decompressing (utime+stime of its process
# over the cat) against h5py's process time for read_direct.
. "$(dirname "$0")/lib.inc"
bench_need_fuse

N=${BENCH_REPEAT:-5}
FILE=$BENCH_DIR/bench-1g.h5
if [ ! -f "$FILE" ]; then
    echo "  generating $FILE (1 GiB, 1,000 datasets, half chunked+gzip) ..."
    "$PYTHON" - "$FILE.tmp" <<'PY' || bench_die "cannot generate $FILE"
import sys
import h5py
import numpy as np
path = sys.argv[1]
rng = np.random.default_rng(0)
MIB = 1 << 20

def noise(n, dtype):
    # normal noise rounded to 1/256: weights-like entropy, gzip saves ~25%
    out = np.empty(n, dtype=dtype)
    step = 16 * MIB
    for a in range(0, n, step):
        b = min(n, a + step)
        out[a:b] = np.round(rng.standard_normal(b - a, dtype=np.float32) * 256) / 256
    return out

with h5py.File(path, "w") as f:
    big = f.create_group("big")
    n = 256 * MIB // 4
    big.create_dataset("plain", data=noise(n, np.float32).reshape(-1, 1024))
    big.create_dataset("gzip", data=noise(n, np.float32).reshape(-1, 1024), chunks=True,
                       compression="gzip", compression_opts=1)
    rest = 512 * MIB
    count = 998
    each = rest // count
    kinds = [(np.float32, 4), (np.float16, 2), (np.int32, 4)]
    for i in range(count):
        dt, sz = kinds[i % 3]
        cols = 256 if i % 2 else 384
        rows = max(1, each // sz // cols)
        g = f.require_group(f"block{i % 10}")
        v = noise(rows * cols, np.float32)
        v = (v * 100).astype(dt) if dt is np.int32 else v.astype(dt)
        kw = dict(chunks=True, compression="gzip", compression_opts=1) if i % 2 else {}
        d = g.create_dataset(f"layer{i:04d}/weight", data=v.reshape(rows, cols), **kw)
        d.attrs["index"] = i
    f.attrs["description"] = "modelfs HDF5 benchmark"
PY
    mv "$FILE.tmp" "$FILE"
fi
FSIZE=$(stat -c %s "$FILE")
read -r P_OFF P_LEN G_LEN G_CHUNKS < <("$PYTHON" - "$FILE" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
p, g = f["big/plain"], f["big/gzip"]
print(p.id.get_offset(), p.id.get_storage_size(), g.size * g.dtype.itemsize,
      "x".join(map(str, g.chunks)))
PY
)
[ -n "${G_CHUNKS:-}" ] || bench_die "cannot locate the big datasets of $FILE"

# h5py's own reading of a dataset: best of N, in one interpreter; prints
# wall and CPU microseconds.
h5py_us() { # DATASET
    "$PYTHON" - "$FILE" "$1" "$N" <<'PY'
import sys, time, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
d = f[sys.argv[2]]
buf = np.empty(d.shape, d.dtype)
best = cpu = None
for _ in range(int(sys.argv[3])):
    t, c = time.perf_counter(), time.process_time()
    d.read_direct(buf)
    t, c = time.perf_counter() - t, time.process_time() - c
    best = t if best is None or t < best else best
    cpu = c if cpu is None or c < cpu else cpu
print(int(best * 1e6), int(cpu * 1e6))
PY
}

# CPU microseconds (user + system) a process has used so far.
proc_cpu_us() { # PID
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1e6 / hz }' "/proc/$1/stat"
}

cat "$FILE" >/dev/null
cached=$(bench_cached_pct "$FILE")
"$MODELFS" tree "$FILE" >"$BENCH_DIR/tree-h5.txt" || bench_die "modelfs tree $FILE"
nodes=$(wc -l <"$BENCH_DIR/tree-h5.txt")
ntensors=$("$MODELFS" cat "$FILE" summary | wc -l)
echo "  file: $FILE ($FSIZE bytes, $ntensors datasets; source page-cached: $cached)"
echo "  tree: $nodes nodes; big/plain contiguous at $P_OFF ($P_LEN bytes); big/gzip chunks $G_CHUNKS"
echo "  best of $N runs"
echo

bench_newdir MNT modelfs
bench_newdir CMNT ceiling

# ---- (a) mount + ls -R ----
open_us=() w_mount=() w_ls=() w_total=() cw_mount=() cw_ls=() tree_cpu=() tree_cpu_nc=()
cpu_of() { # COMMAND...: user+sys microseconds of COMMAND and its waited children
    /usr/bin/time -o "$BENCH_DIR/time.txt" -f "%U %S" "$@" >/dev/null 2>&1 ||
        bench_die "failed: $*"
    awk '{ printf "%d", ($1 + $2) * 1e6 }' "$BENCH_DIR/time.txt"
}
for i in $(seq "$N"); do
    open_us+=("$(bench_time_cmd "$MODELFS" ls "$FILE")")
    tree_cpu+=("$(cpu_of "$MODELFS" tree "$FILE")")
    tree_cpu_nc+=("$(cpu_of env MFS_H5_CANARY=0 "$MODELFS" tree "$FILE")")
    bench_walk "$MODELFS" "$FILE" "$MNT"
    bench_walk_ceiling "$BENCH_DIR/tree-h5.txt"
done
total_nc=("${w_total[@]}") w_mount=() w_ls=() w_total=()
for i in $(seq "$N"); do
    bench_walk env MFS_H5_CANARY=0 "$MODELFS" "$FILE" "$MNT"
done
tmp=("${w_total[@]}") w_total=("${total_nc[@]}") total_nc=("${tmp[@]}")

# ---- (b), (c): throughput ----
HALF_MIB=$((G_LEN / 2 / 1048576))
two_readers() { # prints the wall time of two dd's, one per half of big/gzip
    local t0 t1 p1 p2
    t0=$EPOCHREALTIME
    $T dd if="$MNT/tensors/big/gzip/data" of=/dev/null bs=1M count="$HALF_MIB" status=none &
    p1=$!
    $T dd if="$MNT/tensors/big/gzip/data" of=/dev/null bs=1M skip="$HALF_MIB" status=none &
    p2=$!
    wait $p1 $p2
    t1=$EPOCHREALTIME
    bench_us "$t0" "$t1"
}
p_m=() p_c=() g_m=() g_l=() g_2=() g_2l=() g_cpu=() g_cpul=()
for i in $(seq "$N"); do
    bench_mount_fg "$MNT" "$MODELFS" "$FILE" "$MNT" -f
    p_m+=("$(bench_time_cmd $T cat "$MNT/tensors/big/plain/data")")
    c0=$(proc_cpu_us "$BENCH_PID")
    g_m+=("$(bench_time_cmd $T cat "$MNT/tensors/big/gzip/data")")
    c1=$(proc_cpu_us "$BENCH_PID")
    g_cpu+=("$((c1 - c0))")
    bench_stop "$MNT" "$BENCH_PID"
    bench_mount_fg "$MNT" env MFS_H5_CHUNKS=0 "$MODELFS" "$FILE" "$MNT" -f
    c0=$(proc_cpu_us "$BENCH_PID")
    g_l+=("$(bench_time_cmd $T cat "$MNT/tensors/big/gzip/data")")
    c1=$(proc_cpu_us "$BENCH_PID")
    g_cpul+=("$((c1 - c0))")
    bench_stop "$MNT" "$BENCH_PID"
    # (d) two readers at once, fresh mounts (nothing in the chunk caches)
    bench_mount_fg "$MNT" "$MODELFS" "$FILE" "$MNT" -f
    g_2+=("$(two_readers)")
    bench_stop "$MNT" "$BENCH_PID"
    bench_mount_fg "$MNT" env MFS_H5_CHUNKS=0 "$MODELFS" "$FILE" "$MNT" -f
    g_2l+=("$(two_readers)")
    bench_stop "$MNT" "$BENCH_PID"

    bench_mount_fg "$CMNT" "$MFS_CEILING" "$FILE" "$P_OFF" "$P_LEN" "$CMNT" -f
    p_c+=("$(bench_time_cmd $T cat "$CMNT/data")")
    bench_stop "$CMNT" "$BENCH_PID"
done
read -r p_h p_hc < <(h5py_us big/plain)
read -r g_h g_hc < <(h5py_us big/gzip)

gb() { bench_gbps "$1" "$(bench_min "${@:2}")"; }
pm=$(gb "$P_LEN" "${p_m[@]}") pc=$(gb "$P_LEN" "${p_c[@]}") ph=$(bench_gbps "$P_LEN" "$p_h")
gm=$(gb "$G_LEN" "${g_m[@]}") gh=$(bench_gbps "$G_LEN" "$g_h") gl=$(gb "$G_LEN" "${g_l[@]}")
g2=$(gb "$G_LEN" "${g_2[@]}") g2l=$(gb "$G_LEN" "${g_2l[@]}")


bench_row "metric" "value" "target" "notes"
bench_rule
bench_walk_rows 200000 "canary off: $(ms "$(bench_min "${total_nc[@]}")"); \`modelfs ls\` (start + open) $(ms "$(bench_min "${open_us[@]}")")"
bench_row "    CPU of \`modelfs tree FILE\` (no FUSE)" "$(ms "$(bench_min "${tree_cpu[@]}")")" "" \
    "canary off: $(ms "$(bench_min "${tree_cpu_nc[@]}")") (start + open + every node)"
rp=$(bench_ratio "$pm" "$pc")
bench_row "(b) 256 MiB contiguous dataset" "$pm GB/s" ">= 0.8 $(verdict "$rp" 0.8 ">=")" \
    "modelfs/ceiling $rp (ceiling $pc GB/s); modelfs/h5py $(bench_ratio "$pm" "$ph") (h5py $ph GB/s)"
rg=$(bench_ratio "$gm" "$gh")
bench_row "(c) 256 MiB gzip dataset" "$gm GB/s" ">= 0.8 $(verdict "$rg" 0.8 ">=")" \
    "modelfs/h5py $rg (h5py $gh GB/s); through libhdf5: $gl GB/s; modelfs/ceiling $(bench_ratio "$gm" "$pc")"
gmc=$(bench_min "${g_cpu[@]}")
bench_row "    CPU for the gzip dataset" "$(ms "$gmc")" "" \
    "modelfs daemon $(ms "$gmc") (through libhdf5 $(ms "$(bench_min "${g_cpul[@]}")")) vs h5py $(ms "$g_hc"): h5py/modelfs $(bench_ratio "$g_hc" "$gmc")"
bench_row "(d) 2 readers, one per half of the gzip data" "$g2 GB/s" "" \
    "total; one reader: $gm GB/s; both through libhdf5 (HDF5 lock): $g2l GB/s"
