#!/usr/bin/env bash
# joblib.sh: joblib / pickle / scikit-learn files made during the test
# (every joblib compressor, pickle protocols 2-5, estimators, pipelines,
# joblib <= 0.9 layouts) read through `modelfs ls/cat` and compared with
# joblib.load / pickle.load; see joblib_oracle.py. Exit 77 without numpy
# or joblib in $PYTHON.
set -u
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
# (the oracle itself exits 77 without numpy, joblib: one python start, not two)
command -v "$PYTHON" >/dev/null || { echo "skipped: no $PYTHON"; exit 77; }
exec timeout 280 "$PYTHON" "$here/joblib_oracle.py"
