#!/usr/bin/env bash
# Oracle test of the safetensors readers against numpy (safetensors_oracle.py)
# and of every safetensors file of the corpus against EXPECTED.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${MODELFS:?}" "${PYTHON:=/usr/bin/python3}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -c "import numpy" 2>/dev/null || { echo "skipped: $PYTHON has no numpy"; exit 77; }
timeout 300 "$PYTHON" "$here/safetensors_oracle.py" "$MODELFS" "$work"
corpus=${MFS_SHARED:-$here/../../../shared}/corpus
if [ ! -f "$corpus/EXPECTED.json" ]; then echo "corpus absent: corpus part skipped"; exit 0; fi
timeout 300 "$PYTHON" - "$MODELFS" "$corpus" "$here" <<'PY'
import hashlib, json, sys
modelfs, corpus = sys.argv[1:3]
sys.path.insert(0, sys.argv[3])
import mfs_fetch
exp = json.load(open(corpus + "/EXPECTED.json"))
n = bad = 0
for rel, ent in exp.items():
    if not rel.endswith(".safetensors"):
        continue
    tens = ent.get("tensors", {})
    try:  # one ls -l -R and one batched cat per file (mfs_fetch.py)
        m = mfs_fetch.Model(f"{corpus}/{rel}", modelfs, timeout=120)
        m.fetch([f"tensors/{name}/{p}" for name in tens for p in ("data", "dtype", "shape")])
    except mfs_fetch.NotOpen as e:
        m = None
        print("FAIL", rel, e)
    for name, (dt, shape, sha) in tens.items():
        n += 1
        def cat(p):
            rc, out, err = m.result(f"tensors/{name}/{p}") if m else (1, b"", "")
            return out if rc == 0 and m.size_ok(f"tensors/{name}/{p}") else b""
        ok = (m is not None and hashlib.sha256(cat("data")).hexdigest() == sha
              and cat("dtype").decode().strip() == dt
              and cat("shape").decode().strip() == "[" + ", ".join(map(str, shape)) + "]")
        if not ok:
            bad += 1
            print("FAIL", rel, name)
print(f"corpus safetensors: {n - bad} passed, {bad} failed")
sys.exit(1 if bad or n == 0 else 0)
PY
