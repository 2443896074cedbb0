#!/usr/bin/env bash
# tf_generated.sh: TensorFlow bundles (snappy, partitioned, big-endian,
# strings), a V1 checkpoint and a frozen GraphDef written by a Python
# writer independent of modelfs, read back and compared with numpy
# (ctest oracle.tf_generated); see tf_generated.py.
set -u
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
"$PYTHON" -c "import numpy" 2>/dev/null || { echo "skipped: $PYTHON lacks numpy"; exit 77; }
exec "$PYTHON" "$here/tf_generated.py"
