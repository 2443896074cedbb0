#!/bin/bash
# mount_keras.sh: Keras 3 sharded weights (the index file, and the
# directory holding it) and a .keras whose weights are model.weights.npz,
# mounted through FUSE (files written by tests/oracle/keras_writers.py in
# Keras' own layouts). For each mount:
#   - `find` of the mount == `modelfs tree` (readdir order, symlinks as
#     "path -> target");
#   - every tensor's data read through the kernel == h5py's reading of the
#     dataset in the shard info.json names (sharded), or numpy's np.load of
#     the npz inside the .keras (npz), and every dtype/shape file agrees;
#   - layers/ names the layers as the unsharded / h5 form does.
. "$(dirname "$0")/common.inc"
if ! "$PYTHON" -c 'import h5py' 2>/dev/null; then
    echo "SKIP: $PYTHON lacks h5py" >&2
    exit 77
fi
ORACLE=$HERE/../oracle

"$PYTHON" - "$WORK" "$ORACLE" <<'PY' || die "cannot write the Keras files"
import os, sys
import numpy as np
sys.path.insert(0, sys.argv[2])
import keras_writers as kw
w = sys.argv[1]
sv = kw.k3_variables(np.random.default_rng(3))
os.makedirs(f"{w}/sharded")
kw.write_k3_sharded(f"{w}/sharded", "model", sv, 4000)
kw.write_k3_keras(f"{w}/npz.keras", sv, "npz")
PY

# check MOUNT KIND SOURCE: every tensor of the mount against h5py/numpy
check() {
    $T "$PYTHON" - "$@" <<'PY'
import io, json, os, sys, zipfile
import h5py, numpy as np
mnt, kind, src = sys.argv[1:4]
if kind == "npz":
    with zipfile.ZipFile(src) as z:
        store = np.load(io.BytesIO(z.read("model.weights.npz")), allow_pickle=True)
        store = {k: store[k].item() for k in store.files}
n = 0
for top in ("tensors", "optimizer/vars", "layers"):
    for root, dirs, files in os.walk(os.path.join(mnt, top), followlinks=True):
        if "data" not in files or "info.json" not in files:
            continue
        info = json.load(open(os.path.join(root, "info.json")))
        if kind == "sharded":
            with h5py.File(os.path.join(os.path.dirname(src), info["shard"]), "r") as f:
                arr = f[info["hdf5_path"]][()]
        else:
            arr = store[info["npz_member"][:-4]][info["npz_key"]]
        data = open(os.path.join(root, "data"), "rb").read()
        dt = open(os.path.join(root, "dtype")).read().strip()
        shape = open(os.path.join(root, "shape")).read().strip()
        if data != np.ascontiguousarray(arr).tobytes() or dt != str(arr.dtype) or \
                shape != "[" + ", ".join(map(str, arr.shape)) + "]":
            sys.exit(f"{root}: differs from {'h5py' if kind == 'sharded' else 'np.load'}")
        n += 1
layers = sorted(os.listdir(os.path.join(mnt, "layers")))
want = ["bn", "drop", "encoder", "head", "rnn"]
if layers != want:
    sys.exit(f"layers/ is {layers}, want {want}")
print(f"{n} tensors equal")
PY
}

i=0
for spec in "sharded:$WORK/sharded/model.weights.json" "sharded:$WORK/sharded" "npz:$WORK/npz.keras"; do
    kind=${spec%%:*} model=${spec#*:}
    i=$((i + 1))
    mfs_need_ls "$model"
    mfs_newdir "m$i" >/dev/null
    MNT=$WORK/m$i
    mfs_mount_fg "$model" "$MNT" "$WORK/daemon$i.log" || die "mount of $model failed"
    "$MODELFS" tree "$model" >"$WORK/tree.want" || die "modelfs tree $model"
    (cd "$MNT" && $T find . -mindepth 1 \( -type d -printf '%P/\n' \) -o \
        \( -type l -printf '%P -> %l\n' \) -o -printf '%P\n') >"$WORK/tree.got" ||
        die "find on the mount of $model"
    if cmp -s "$WORK/tree.want" "$WORK/tree.got"; then
        pass "$model: find == modelfs tree ($(wc -l <"$WORK/tree.got") entries)"
    else
        diff "$WORK/tree.want" "$WORK/tree.got" | head -10 >&2
        fail "$model: find of the mount differs from 'modelfs tree'"
    fi
    src=$model
    [ -d "$model" ] && src=$model/model.weights.json
    if out=$(check "$MNT" "$kind" "$src" 2>&1); then
        pass "$model: $out"
    else
        fail "$model: $out"
    fi
    [ "$($T cat "$MNT/format")" = "$([ "$kind" = npz ] && echo keras-v3 || echo keras3-weights-sharded)" ] ||
        fail "$model: format is $($T cat "$MNT/format")"
    mfs_stop "$MNT" "$DAEMON_PID" || fail "$model: daemon exit status $?"
done
exit $FAILED
