#!/usr/bin/env bash
# seeds.sh NAME DIR: copies seed inputs for fuzz target NAME into DIR
# (mnt-examples and, when present, corpus files of the reader's format).
# One case per target; a target without a case starts from nothing.
set -u
name=$1 dir=$2
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
corpus=${MFS_SHARED:-$src/../shared}/corpus
seed() { for f in "$@"; do [ -f "$f" ] && cp -f "$f" "$dir/" 2>/dev/null; done; return 0; }
case "$name" in
  fuzz_safetensors)
    seed "$src"/mnt-examples/*.safetensors "$corpus"/generated/safetensors/*.safetensors \
         "$corpus"/public/safetensors/*/*.safetensors ;;
  fuzz_tf_table)
    seed "$corpus"/public/tf_checkpoint/*/*.index "$corpus"/public/keras_tf_checkpoint/*/*.index \
         "$corpus"/public/saved_model/*/variables/*.index "$corpus"/public/saved_model/*/*/variables/*.index \
         "$corpus"/public/tf_checkpoint/*/*.meta ;; # (not frozen.pb: 380 KB, slow per run)
  fuzz_tf_savedmodel)
    # each SavedModel packed as: u32 n1, saved_model.pb, u32 n2, the
    # variables index, then the data shard (fuzz_tf_savedmodel.c)
    ${PYTHON:-/usr/bin/python3} - "$corpus" "$dir" <<'PY'
import glob, os, struct, sys
corpus, out = sys.argv[1:3]
for i, sm in enumerate(sorted(glob.glob(corpus + "/public/saved_model/**/saved_model.pb", recursive=True))):
    d = os.path.dirname(sm)
    rd = lambda p: open(os.path.join(d, p), "rb").read() if os.path.exists(os.path.join(d, p)) else b""
    a, b = rd("saved_model.pb"), rd("variables/variables.index")
    c = rd("variables/variables.data-00000-of-00001")
    open(os.path.join(out, "sm%d" % i), "wb").write(struct.pack("<I", len(a)) + a + struct.pack("<I", len(b)) + b + c)
PY
    ;;
  fuzz_tf_pbtext)
    # the small corpus SavedModels printed as text (tf_pbtext.py)
    for sm in "$corpus"/public/saved_model/tfserving_*/*/saved_model.pb; do
      [ -f "$sm" ] && ${PYTHON:-/usr/bin/python3} "$src/tests/oracle/tf_pbtext.py" --print "$sm" 1 \
        > "$dir/$(basename "$(dirname "$(dirname "$sm")")").pbtxt" 2>/dev/null
    done ;;
  fuzz_bidding)
    seed "$src"/mnt-examples/* ;;
  fuzz_pickle)
    seed "$corpus"/generated/pytorch/mlp_state_dict_legacy.pth "$corpus"/public/pytorch/legacy_nonzip_*/*
    for f in "$corpus"/generated/pytorch/*.pt* "$corpus"/public/torchscript/*/*; do
      [ -f "$f" ] && unzip -p "$f" '*/data.pkl' > "$dir/$(basename "$f").data.pkl" 2>/dev/null
    done ;;
  fuzz_pytorch_zip)
    seed "$corpus"/generated/pytorch/mymodel_state_dict.pth "$corpus"/generated/pytorch/dtype_zoo.pt \
         "$corpus"/generated/pytorch/malicious_reduce.pth "$corpus"/public/pytorch/zip_*/* ;;
  fuzz_pytorch_legacy)
    seed "$corpus"/generated/pytorch/mlp_state_dict_legacy.pth "$corpus"/public/pytorch/legacy_nonzip_*/* ;;
  fuzz_pytorch_tar)
    ${PYTHON:-/usr/bin/python3} "$src/tests/oracle/pytorch_tar.py" "$dir/sample.tar" 2>/dev/null ;;
  fuzz_pytorch_export)
    ${PYTHON:-/usr/bin/python3} "$src/tests/oracle/pytorch_pt2.py" "$dir/sample.pt2" 2>/dev/null ;;
  fuzz_pytorch_torchscript)
    seed "$corpus"/generated/pytorch/mymodel_torchscript.pt "$corpus"/public/torchscript/*/* ;;
  fuzz_npy)
    seed "$src"/mnt-examples/*.npy "$corpus"/generated/numpy/*.npy ;;
  fuzz_npz)
    # small archives only: big seeds make every run slow
    seed "$src"/mnt-examples/*.npz "$corpus"/generated/pytorch/dtype_zoo_expected.npz ;;
  fuzz_joblib)
    # the first byte of a fuzz_joblib input picks the reader: prefix 0
    for f in "$corpus"/generated/sklearn/* "$corpus"/public/joblib_pickle/*/*; do
      [ -f "$f" ] && { printf '\0'; cat "$f"; } > "$dir/$(basename "$f")" 2>/dev/null
    done
    if [ -x /usr/bin/python3 ]; then
      /usr/bin/python3 - "$dir" <<'PY' 2>/dev/null || true
import os, pickle, sys
import numpy as np, joblib
d = sys.argv[1]
a = {"w": np.arange(12, dtype="float32").reshape(3, 4), "b": np.arange(3, dtype=">i8"),
     "f": np.asfortranarray(np.ones((2, 3))), "o": np.array([1, "x"], dtype=object)}
for m in ["zlib", "gzip", "bz2", "lzma", "xz", "lz4"]:
    try:
        joblib.dump(a, os.path.join(d, "tmp"), compress=(m, 3))
        open(os.path.join(d, f"seed_{m}"), "wb").write(b"\0" + open(os.path.join(d, "tmp"), "rb").read())
    except Exception:
        pass
joblib.dump(a, os.path.join(d, "tmp"))
open(os.path.join(d, "seed_plain"), "wb").write(b"\0" + open(os.path.join(d, "tmp"), "rb").read())
os.remove(os.path.join(d, "tmp"))
for p in (2, 5):
    open(os.path.join(d, f"seed_p{p}"), "wb").write(b"\1" + pickle.dumps(a, protocol=p))
PY
    fi ;;
  fuzz_decomp)
    # first byte 0: detect the codec from the stream
    for f in "$corpus"/public/joblib_pickle/*/*.gz; do
      [ -f "$f" ] && { printf '\0'; cat "$f"; } > "$dir/$(basename "$f")"
    done
    src_txt="$src/src/core/decomp.c"
    for c in "gzip -c" "bzip2 -c" "xz -c" "xz --format=lzma -c" "lz4 -c" "zstd -c"; do
      t=${c%% *}
      command -v "$t" >/dev/null 2>&1 && { printf '\0'; head -c 20000 "$src_txt" | $c; } > "$dir/seed_${c// /_}" 2>/dev/null
    done
    command -v python3 >/dev/null 2>&1 && python3 -c 'import sys,zlib; sys.stdout.buffer.write(b"\0"+zlib.compress(open(sys.argv[1],"rb").read()[:20000]))' "$src_txt" > "$dir/seed_zlib" ;;
  fuzz_keras)
    # small HDF5/.keras files only (every run forks the HDF5 canary), plus
    # tiny ones with chunked gzip data, big-endian data, strings, Keras 3
    seed "$src"/mnt-examples/mlp.h5 "$corpus"/generated/hdf5/generic_groups.h5 \
         "$corpus"/public/keras_h5_full/keras1.1.2_sequential_cnn_tf/cnn_tf_model.h5 \
         "$corpus"/public/keras_h5_full/tfkeras2.4.0_functional_optweights/issue_9349.hdf5 \
         "$corpus"/public/keras_v3/keras3.8.0_sequential_small/model.keras
    if [ -x /usr/bin/python3 ]; then
      /usr/bin/python3 - "$dir" "$src" <<'PY' 2>/dev/null || true
import json, os, sys, zipfile
import h5py, numpy as np
d = sys.argv[1]
# a .keras whose weights are model.weights.npz (pickled dicts), a Keras 2.0
# file with anonymous optimizer weights (tests/oracle/keras_writers.py)
sys.path.insert(0, os.path.join(sys.argv[2], "tests", "oracle"))
import keras_writers as kw
rng = np.random.default_rng(1)
small = [(p, n, [a[:2] if a.ndim else a for a in arrs]) for p, n, arrs in kw.k3_variables(rng)]
kw.write_k3_keras(os.path.join(d, "seed_npz.keras"), small, "npz")
kw.write_k2_full(os.path.join(d, "seed_k2anon.h5"), rng, "Adam")
with h5py.File(os.path.join(d, "seed_k3.weights.h5"), "w") as f:
    f.create_dataset("layers/dense/vars/0", data=np.arange(12, dtype="<f4").reshape(3, 4),
                     chunks=(2, 2), compression="gzip", shuffle=True)
    f.create_dataset("layers/dense/vars/1", data=np.arange(4, dtype=">f8"))
    f.create_dataset("optimizer/vars/0", data=np.int64(5))
    f.create_group("vars").attrs["name"] = "sequential"
with zipfile.ZipFile(os.path.join(d, "seed.keras"), "w") as z:
    z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
    z.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Dense", "config": {"name": "d"}}]},
        "compile_config": {"optimizer": {"class_name": "Adam", "config": {}}}}))
    z.write(os.path.join(d, "seed_k3.weights.h5"), "model.weights.h5")
with h5py.File(os.path.join(d, "seed_legacy.h5"), "w") as f:
    f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": []})
    f.attrs["keras_version"] = "2.0.6"
    mw = f.create_group("model_weights")
    mw.attrs["layer_names0"] = np.array([b"dense_1"])
    mw.attrs["layer_names1"] = np.array([b"dropout_1"])
    g = mw.create_group("dense_1")
    g.attrs["weight_names"] = np.array([b"dense_1/kernel:0", b"dense_1/bias:0"])
    g.create_dataset("dense_1/kernel:0", data=np.ones((3, 2), "<f4"), chunks=(1, 2), compression="gzip")
    g.create_dataset("dense_1/bias:0", data=np.zeros(2, ">f4"))
    mw.create_group("dropout_1").attrs["weight_names"] = np.array([])
    ow = f.create_group("optimizer_weights")
    ow.attrs["weight_names"] = np.array([b"Adam/iter:0", b"Adam/dense_1/kernel/m:0"])
    ow.create_dataset("Adam/iter:0", data=np.int64(3))
    ow.create_dataset("Adam/dense_1/kernel/m:0", data=np.ones((3, 2), "<f4"))
    f["strings"] = np.array(["a", "bc"], dtype=h5py.string_dtype())
PY
    fi ;;
esac
exit 0
