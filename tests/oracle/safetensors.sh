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
timeout 300 "$PYTHON" - "$MODELFS" "$corpus" <<'PY'
import hashlib, json, subprocess, sys
modelfs, corpus = sys.argv[1:]
exp = json.load(open(corpus + "/EXPECTED.json"))
n = bad = 0
for rel, ent in exp.items():
    if not rel.endswith(".safetensors"):
        continue
    for name, (dt, shape, sha) in ent.get("tensors", {}).items():
        n += 1
        def cat(p):
            return subprocess.run([modelfs, "cat", f"{corpus}/{rel}", f"tensors/{name}/{p}"],
                                  capture_output=True, timeout=60).stdout
        ok = (hashlib.sha256(cat("data")).hexdigest() == sha and cat("dtype").decode().strip() == dt
              and cat("shape").decode().strip() == "[" + ", ".join(map(str, shape)) + "]")
        if not ok:
            bad += 1
            print("FAIL", rel, name)
print(f"corpus safetensors: {n - bad} passed, {bad} failed")
sys.exit(1 if bad or n == 0 else 0)
PY
