#!/usr/bin/env bash
# hdf5_bad.sh: damaged HDF5 and .keras files never crash or hang modelfs
# (ctest bad.hdf5_bad).
# Inputs: the corpus's small HDF5/Keras files (<= 64 KiB) when present, and
# files written here with h5py (chunked gzip, big-endian, strings, Keras
# layouts) and zipfile (.keras). For each, damaged copies:
#   * truncated at 0, 8, 512, a third, all but 1 byte;
#   * 8 copies with 1..24 random bytes changed (seeded), half of them in
#     the first 4 KiB (superblock, root group, heaps);
#   * .keras: central directory damaged, local header damaged, the h5
#     member's bytes damaged in place, the archive cut inside the h5;
#     the same for a .keras whose weights are model.weights.npz, plus its
#     inner zip's central directory and a member's pickle damaged;
#   * Keras 3 sharded weights (a directory: index + shards, mounted as
#     the directory): index truncated, not JSON, weight_map of the wrong
#     types, a shard name leaving the directory, a shard missing, cut,
#     damaged or replaced by garbage;
#   * a Keras 2.0 file with anonymous optimizer weights (truncated,
#     flipped like the others).
# `modelfs ls -R COPY` must exit below 128 (no signal) within 30 s (no
# hang; the HDF5 canary limit is set to 10 s here) with no sanitizer
# report, and a failing run prints exactly one line ("modelfs: <path>:
# <reader>: what is wrong"). When the copy opens, `modelfs cat` of every
# data, text and attribute file must not crash or hang either (read errors
# are allowed, as EIO lines). All copies are checked in one process
# (batch.inc, tests/tools/mfs_batch.c; the real binary on a few must agree).
# Ends "N passed, N failed"; exit 1 on failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${MFS_SRC_DIR:-$(cd "$here/../.." && pwd)}
shared=${MFS_SHARED:-$src/../shared}
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
export MFS_H5_CANARY_TIMEOUT=10
work=$(mktemp -d "${TMPDIR:-/tmp}/mfs-h5bad.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in" "$work/out"

"$PYTHON" - "$shared/corpus" "$work/in" "$work/out" "$here/../oracle" <<'PY'
import io, json, os, random, shutil, struct, sys, zipfile, zlib
try:
    import h5py, numpy as np
except ImportError:
    sys.exit(77)  # (one python start: no separate check)
corpus, inp, out = sys.argv[1:4]
sys.path.insert(0, sys.argv[4])
import keras_writers as kw
# inputs: small corpus files + generated ones
if os.path.isdir(corpus):
    for root, _, files in os.walk(corpus):
        for f in files:
            p = os.path.join(root, f)
            if f.endswith((".h5", ".hdf5", ".keras")) and os.path.getsize(p) <= 64 * 1024:
                shutil.copy(p, os.path.join(inp, f"corpus-{f}"))
rng = np.random.default_rng(7)
with h5py.File(os.path.join(inp, "gen.h5"), "w") as f:
    f.create_dataset("g/gzip", data=rng.standard_normal((200, 30)).astype("<f4"), chunks=(20, 10),
                     compression="gzip", shuffle=True)
    f.create_dataset("be", data=np.arange(300, dtype=">i8"))
    f["s"] = np.array(["a", "bb"], dtype=h5py.string_dtype())
    f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {}})
    mw = f.create_group("model_weights")
    mw.attrs["layer_names"] = np.array([b"d"])
    d = mw.create_group("d")
    d.attrs["weight_names"] = np.array([b"d/kernel:0"])
    d.create_dataset("d/kernel:0", data=rng.standard_normal((8, 4)).astype("<f4"), chunks=(4, 4),
                     compression="gzip")
with h5py.File(os.path.join(inp, "k3.weights.h5"), "w") as f:
    f.create_dataset("layers/dense/vars/0", data=rng.standard_normal((6, 5)).astype("<f4"))
    f.create_dataset("layers/dense/vars/1", data=rng.standard_normal((5,)).astype("<f4"))
    f.create_dataset("optimizer/vars/0", data=np.int64(3))
    f.create_group("vars")
with zipfile.ZipFile(os.path.join(inp, "gen.keras"), "w") as z:
    z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
    z.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Dense", "config": {"name": "d"}}]}}))
    z.write(os.path.join(inp, "k3.weights.h5"), "model.weights.h5")
small = [(p, n, [a[:2] if a.ndim else a for a in arrs]) for p, n, arrs in kw.k3_variables(rng)]
kw.write_k3_keras(os.path.join(inp, "npz.keras"), small, "npz")
kw.write_k2_full(os.path.join(inp, "k2anon.h5"), rng, "Adam")
# sharded sets: one directory per damaged copy (mounted as the directory)
sh = os.path.join(out, "..", "sharded")
os.makedirs(sh)
kw.write_k3_sharded(sh, "m", small, 1500)
shards = sorted(f for f in os.listdir(sh) if f.endswith(".h5"))
index = open(os.path.join(sh, "m.weights.json"), "rb").read()
def sharded_copy(tag, index_bytes=None, drop=None, shard_bytes=None):
    d = os.path.join(out, f"sharded-{tag}")
    shutil.copytree(sh, d)
    if index_bytes is not None:
        open(os.path.join(d, "m.weights.json"), "wb").write(index_bytes)
    if drop:
        os.remove(os.path.join(d, drop))
    if shard_bytes is not None:
        open(os.path.join(d, shards[1]), "wb").write(shard_bytes)
r = random.Random(5)
for ln in (0, 9, len(index) // 2):
    sharded_copy(f"idxcut{ln}", index[:ln])
sharded_copy("notjson", b"\x00\xff not json")
for i, wm in enumerate([[], {"/vars": 5}, {"/vars": []}, {"/vars": ["../../etc/passwd"]},
                        {"/vars": "/abs.h5"}, {"/vars": [shards[0], 7]}, {"/layers/x/vars": "nothere.weights.h5"}]):
    sharded_copy(f"wm{i}", json.dumps({"metadata": {"total_size": "x"}, "weight_map": wm}).encode())
sharded_copy("missing", drop=shards[1])
sb = open(os.path.join(sh, shards[1]), "rb").read()
sharded_copy("cut", shard_bytes=sb[:len(sb) // 3])
sharded_copy("garbage", shard_bytes=bytes(r.randrange(256) for _ in range(len(sb))))
for i in range(3):
    b = bytearray(sb)
    for _ in range(8):
        b[r.randrange(min(len(b), 4096))] = r.randrange(256)
    sharded_copy(f"flip{i}", shard_bytes=bytes(b))
# damaged copies
for name in sorted(os.listdir(inp)):
    data = open(os.path.join(inp, name), "rb").read()
    n = len(data)
    for ln in sorted({0, 8, 512, n // 3, n - 1}):
        if ln < n:
            open(os.path.join(out, f"trunc{ln}-{name}"), "wb").write(data[:ln])
    r = random.Random(zlib.crc32(name.encode()))
    for i in range(2 if name in ("npz.keras", "k2anon.h5") else 8):  # their special parts: below
        b = bytearray(data)
        span = min(n, 4096) if i % 2 == 0 else n
        for _ in range(r.randint(1, 24)):
            b[r.randrange(span)] = r.randrange(256)
        open(os.path.join(out, f"flip{i}-{name}"), "wb").write(bytes(b))
    if name.endswith(".keras"):
        z = zipfile.ZipFile(io.BytesIO(data))
        zi = z.getinfo("model.weights.npz" if "model.weights.npz" in z.namelist() else "model.weights.h5")
        nl, xl = struct.unpack("<HH", data[zi.header_offset + 26:zi.header_offset + 30])
        base = zi.header_offset + 30 + nl + xl
        cd = data.rfind(b"PK\x01\x02")
        for i in range(6):
            b = bytearray(data)
            if i < 2:    # central directory
                for _ in range(4):
                    b[cd + r.randrange(46)] = r.randrange(256)
            elif i < 4:  # local header of the h5
                for _ in range(3):
                    b[zi.header_offset + r.randrange(30)] = r.randrange(256)
            else:        # inside the h5 member: its superblock and headers
                for _ in range(8):
                    b[base + r.randrange(min(zi.file_size, 2048))] = r.randrange(256)
            open(os.path.join(out, f"zip{i}-{name}"), "wb").write(bytes(b))
        open(os.path.join(out, f"zipcut-{name}"), "wb").write(data[:base + zi.file_size // 2])
        if zi.filename.endswith(".npz"):  # the zip inside: its directory, a pickle
            npz = data[base:base + zi.file_size]
            icd = npz.rfind(b"PK\x01\x02")
            for i in range(4):
                b = bytearray(data)
                if i < 2:
                    for _ in range(4):
                        b[base + icd + r.randrange(46)] = r.randrange(256)
                else:
                    p0 = npz.find(b"\x80", npz.find(b"NUMPY"))  # a pickle's PROTO opcode
                    for _ in range(6):
                        b[base + p0 + r.randrange(200)] = r.randrange(256)
                open(os.path.join(out, f"npz{i}-{name}"), "wb").write(bytes(b))
PY
rc=$?
[ $rc -eq 77 ] || [ $rc -eq 127 ] && { echo "skipped: $PYTHON lacks h5py/numpy"; exit 77; }
[ $rc -eq 0 ] || { echo "hdf5_bad.sh: could not write inputs"; exit 1; }

. "$here/batch.inc"
# Every copy in one driver process (batch.inc): `ls -R`, then `cat` of the
# files `modelfs tree` lists that match the pattern (at most 400); the real
# binary is run on a few copies and must agree.
mfs_batch_run "$work/res" -t 30 -m '(/data$|^raw/.*[^/]$|^metadata/|^optimizer/step$)' \
  -x '/data.npy$' -n 400 -- "$work"/out/*
npass=0 nfail=0 nopen=0
# STRICT=1 (ls) requires exactly one stderr line on failure; every line
# must be modelfs' own (no HDF5 error stack).
while IFS=$'\t' read -r kind rc nl stray file text; do
  c=${file##*/} strict=0 what=$kind
  case $kind in
    end) continue ;;
    ls) strict=1 what="ls -R"; [ "$rc" -eq 0 ] && nopen=$((nopen + 1)) ;;
  esac
  if ! mfs_bad_verdict "$kind" "$rc" "$nl" "$text" $strict; then
    echo "FAIL  $what $c: ${why/hung/hung (> 30 s)}"; nfail=$((nfail + 1))
  elif [ "$stray" -gt 0 ]; then
    echo "FAIL  $what $c: stray stderr output (HDF5 error stack?): ${text:0:300}"; nfail=$((nfail + 1))
  else
    npass=$((npass + 1))
    [ -n "${VERBOSE:-}" ] && echo "ok    $what $c: exit $rc ${text:0:200}"
  fi
done <"$work/res"
mfs_batch_crosscheck "$work/res" 2 || nfail=$((nfail + 1))
echo "$(ls "$work/out" | wc -l) damaged copies, $nopen of them still open"
echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
