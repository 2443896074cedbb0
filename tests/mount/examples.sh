#!/usr/bin/env bash
# examples.sh: mounts every mnt-examples/ model for real and checks it with
# standard tools (ctest mount.examples):
#   * ls of the root shows format, summary, SHA256SUMS, tensors; `format` is
#     one line;
#   * `cd tensors && sha256sum -c ../SHA256SUMS` passes;
#   * for every tensor dir: numpy.load(data.npy) has the dtype/shape of the
#     dtype/shape files and the bytes of `data`; and the tensors of the
#     original file, as the framework reads it (numpy, torch, h5py, or the
#     safetensors header), are found with equal bytes;
#   * diff -r of two mounts of the same file is empty; diff -r of
#     mlp.safetensors and mlp_finetuned.safetensors names exactly the fc2
#     tensors (info.json aside); the tensors/ trees of the same weights in different formats
#     are equal (info.json aside, which says where bytes live).
# A file that no reader claims yet is skipped unless MUST_MOUNT lists it.
# Every command touching a mount runs under `timeout` (common.inc's T); the
# common.inc trap unmounts and stops the daemons.
# Ends with "N passed, N failed"; exit 1 on a failure, 77 without FUSE.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=common.inc
. "$here/common.inc"    # skips without FUSE; WORK, T, trap that unmounts
src=${MFS_SRC_DIR:-$(cd "$here/../.." && pwd)}
ex=$src/mnt-examples
MUST_MOUNT=" mlp.safetensors mlp_finetuned.safetensors weights.npz weights_compressed.npz array.npy array_fortran_be.npy "

npass=0 nfail=0 nskip=0
ok()   { echo "ok    $*"; npass=$((npass + 1)); }
bad()  { echo "FAIL  $*"; nfail=$((nfail + 1)); }

# mount_model FILE NAME: mounts FILE on $WORK/NAME (daemon in the
# foreground, tracked by pid for the cleanup trap). Returns 0 when mounted,
# 2 when no reader claims the file, 1 otherwise (error in $WORK/NAME.err).
mount_model() {
  local m=$WORK/$2
  mfs_newdir "$2" >/dev/null   # not in $(...): it registers the mount point
  mfs_mount_fg "$1" "$m" "$WORK/$2.err" 2>/dev/null && return 0
  grep -qi 'no reader' "$WORK/$2.err" && return 2
  return 1
}

# check_trees MNT FILE [MNT FILE]...: the python half of the per-file
# checks, every mounted example in one python process; prints one line per
# example: its name, then "ok" or its problems (tab-separated). Its own
# timeout is longer than T: importing torch alone can take 20 s on a busy
# machine, and the mount reads it does are small.
check_trees() {
  timeout 300 "$PYTHON" - "$@" <<'PY'
import hashlib, json, os, struct, sys
import numpy as np

def esc(c):
    if c in ("", ".", ".."):
        return {"": "%00", ".": "%2E", "..": "%2E%2E"}[c]
    return "".join("%%%02X" % ord(ch) if ch == "%" or ord(ch) < 0x20 or ord(ch) == 0x7F else ch
                   for ch in c)

def check(mnt, orig):
    """Problems of the mount @mnt of example @orig (empty: all good)."""
    bad = []
    tdirs = []
    for d, subdirs, files in os.walk(mnt, followlinks=True):  # raw/, layers/ link into tensors/
        subdirs.sort()
        if {"dtype", "shape", "data", "data.npy"} <= set(files):
            tdirs.append(d)
    for d in tdirs:
        rel = os.path.relpath(d, mnt)
        dtype = open(f"{d}/dtype").read().strip()
        shape = json.loads(open(f"{d}/shape").read())
        data = open(f"{d}/data", "rb").read()
        try:
            a = np.load(f"{d}/data.npy", allow_pickle=False)
        except Exception as e:
            bad.append(f"{rel}/data.npy: numpy.load failed: {e}")
            continue
        if list(a.shape) != shape:
            bad.append(f"{rel}: data.npy shape {list(a.shape)} vs shape file {shape}")
        if a.dtype.name != dtype and not dtype.startswith(("bfloat16", "float8", "q")):
            bad.append(f"{rel}: data.npy dtype {a.dtype.name} vs dtype file {dtype}")
        if np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes() != data:
            bad.append(f"{rel}: data.npy bytes differ from data")
        if os.stat(f"{d}/data").st_size != len(data):
            bad.append(f"{rel}: st_size of data {os.stat(f'{d}/data').st_size} != {len(data)} bytes read")

    # The original file as its framework reads it.
    ref = {}
    name = os.path.basename(orig)
    if name.endswith(".safetensors"):
        raw = open(orig, "rb").read()
        n = struct.unpack("<Q", raw[:8])[0]
        hdr = json.loads(raw[8:8 + n])
        dt = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4", "I8": "i1",
              "U8": "u1", "BOOL": "?"}
        for k, v in hdr.items():
            if k == "__metadata__":
                continue
            b, e = v["data_offsets"]
            ref[k] = np.frombuffer(raw[8 + n + b:8 + n + e], dt[v["dtype"]]).reshape(v["shape"])
    elif name.endswith(".npz"):
        with np.load(orig) as z:
            ref = {k: z[k] for k in z.files}
    elif name.endswith(".npy"):
        ref = {".": np.load(orig)}
    elif name.endswith(".pth"):
        import torch
        def walk(o, pre):
            if isinstance(o, torch.Tensor):
                ref[pre] = o.numpy()
            elif isinstance(o, dict):
                for k, v in o.items():
                    walk(v, f"{pre}/{k}" if pre else str(k))
            elif isinstance(o, (list, tuple)):
                for i, v in enumerate(o):
                    walk(v, f"{pre}/{i}" if pre else str(i))
        walk(torch.load(orig), "")
    elif name.endswith(".h5"):
        import h5py
        with h5py.File(orig, "r") as f:
            f.visititems(lambda k, v: ref.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)

    rels = [os.path.relpath(d, mnt) for d in tdirs]
    for k, a in ref.items():
        if k == ".":
            cands = [r for r in rels if r.startswith("tensors/")]
            cands = cands if len(cands) == 1 else []
        else:
            e = "/".join(esc(c) for c in k.split("/"))
            cands = [r for r in (f"tensors/{e}", f"raw/{e}") if r in rels][:1] or \
                sorted((r for r in rels if r.endswith("/" + e)), key=len)
        want = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        if not cands:
            bad.append(f"{k}: not found in the mount")
        elif not any(open(f"{mnt}/{c}/data", "rb").read() == want for c in cands):
            bad.append(f"{k}: bytes differ from the original ({cands[0]})")

    if not tdirs:
        bad.append("no tensor dir in the mount")
    return bad


# one python for every example (numpy, torch and h5py imported once)
for mnt, orig in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        bad = check(mnt, orig)
    except Exception as e:  # an unreadable file, a bug here: a failure too
        bad = [f"{type(e).__name__}: {e}"]
    print(os.path.basename(orig), "\t".join(bad[:10]) if bad else "ok", sep="\t")
PY
}

trees=()
for f in "$ex"/*; do
  b=$(basename "$f")
  case $b in *.py|*.md) continue ;; esac
  mount_model "$f" "$b"
  case $? in
    0) ;;
    2) if [[ $MUST_MOUNT == *" $b "* ]]; then bad "$b: must mount: $(head -c 300 "$WORK/$b.err")"
       else echo "skip  $b: not yet supported ($(head -n 1 "$WORK/$b.err"))"; nskip=$((nskip + 1)); fi
       continue ;;
    *) bad "$b: mount failed: $(head -c 300 "$WORK/$b.err")"; continue ;;
  esac
  m=$WORK/$b
  root=$($T ls "$m" 2>&1 | tr '\n' ' ')
  miss=""
  for want in format source summary SHA256SUMS tensors; do
    [[ " $root" == *" $want "* ]] || miss="$miss $want"
  done
  [ -z "$miss" ] && ok "$b: ls shows $root" || bad "$b: ls lacks$miss (shows: $root)"
  fmt=$($T cat "$m/format" 2>&1)
  [ -n "$fmt" ] && [ "$(printf '%s\n' "$fmt" | wc -l)" -eq 1 ] && ok "$b: format is $fmt" \
    || bad "$b: format is '$fmt'"
  nsums=$($T cat "$m/SHA256SUMS" | wc -l)
  if [ "$nsums" -eq 0 ]; then
    bad "$b: SHA256SUMS is empty"
  elif out=$(cd "$m/tensors" && $T sha256sum --quiet --strict -c ../SHA256SUMS 2>&1); then
    ok "$b: sha256sum -c ../SHA256SUMS ($nsums tensors)"
  else
    bad "$b: sha256sum -c ../SHA256SUMS: $(echo "$out" | head -n 3)"
  fi
  trees+=("$m" "$f")
done
if [ ${#trees[@]} -gt 0 ]; then
  check_trees "${trees[@]}" >"$WORK/trees.out" 2>&1
  st=$?
  for ((i = 1; i < ${#trees[@]}; i += 2)); do
    b=${trees[i]##*/}
    line=$(grep -m1 "^$b	" "$WORK/trees.out")
    if [ "$line" = "$b	ok" ]; then ok "$b: data.npy == data for every tensor; tensors equal the original's"
    elif [ -n "$line" ]; then bad "$b: tensor check: ${line#*	}"
    elif [ $st -eq 124 ]; then bad "$b: tensor check timed out (300 s)"
    else bad "$b: tensor check: $(tail -c 400 "$WORK/trees.out")"; fi
  done
fi

# diff -r of two mounts of the same file: nothing differs.
if mount_model "$ex/mlp.safetensors" again.safetensors; then
  if out=$($T diff -r "$WORK/mlp.safetensors" "$WORK/again.safetensors" 2>&1); then
    ok "diff -r of two mounts of mlp.safetensors is empty"
  else
    bad "diff -r of two mounts of mlp.safetensors: $(echo "$out" | head -n 5)"
  fi
else
  bad "second mount of mlp.safetensors: $(head -c 300 "$WORK/again.safetensors.err")"
fi

# diff -r of a model and its fine-tuned copy: exactly the fc2 tensors differ
# (info.json aside: it names the file and the offsets, which differ).
if [ -d "$WORK/mlp_finetuned.safetensors/tensors" ]; then
  out=$($T diff -rq -x info.json "$WORK/mlp.safetensors/tensors" "$WORK/mlp_finetuned.safetensors/tensors" 2>&1)
  changed=$(echo "$out" | sed -nE 's@^Files .*/tensors/([^/]+)/.* and .* differ$@\1@p' | sort -u | tr '\n' ' ')
  if [ "$changed" = "fc2.bias fc2.weight " ] && ! echo "$out" | grep -q fc1; then
    ok "diff -r mlp vs mlp_finetuned names only: $changed"
  else
    bad "diff -r mlp vs mlp_finetuned: changed '$changed'; output: $(echo "$out" | head -n 5)"
  fi
  if $T diff "$WORK/mlp.safetensors/summary" "$WORK/mlp_finetuned.safetensors/summary" >/dev/null; then
    ok "summary of mlp and mlp_finetuned are equal (same dtypes and shapes)"
  else
    bad "summary of mlp and mlp_finetuned differ"
  fi
fi

# Same weights in other formats: tensors/ trees equal except info.json.
for other in weights.npz weights_compressed.npz mlp.pth; do
  [ -d "$WORK/$other/tensors" ] || continue
  if out=$($T diff -r -x info.json "$WORK/mlp.safetensors/tensors" "$WORK/$other/tensors" 2>&1); then
    ok "diff -r tensors/ of mlp.safetensors and $other: same"
  else
    bad "diff -r tensors/ of mlp.safetensors and $other: $(echo "$out" | head -n 5)"
  fi
done

echo "$npass passed, $nfail failed, $nskip skipped"
[ "$nfail" -eq 0 ]
