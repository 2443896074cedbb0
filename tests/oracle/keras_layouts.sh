#!/usr/bin/env bash
# keras_layouts.sh: Keras 3 sharded weights, Keras 2.0 anonymous optimizer
# weights and .keras npz weights, written with h5py/numpy in Keras' own
# layouts, read through modelfs and compared with h5py/numpy (see
# keras_layouts.py). Exit 77 (skipped) when /usr/bin/python3 lacks h5py.
set -u
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
export MODELFS
if ! "$PYTHON" -c 'import h5py, numpy' 2>/dev/null; then
  echo "skipped: $PYTHON lacks h5py/numpy"; exit 77
fi
exec "$PYTHON" "$here/keras_layouts.py"
