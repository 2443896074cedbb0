#!/usr/bin/env bash
# hdf5_generated.sh: HDF5/Keras files written with h5py in a temp dir, read
# through modelfs and compared with h5py (see hdf5_generated.py).
# Exit 77 (skipped) when /usr/bin/python3 lacks h5py/numpy.
set -u
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
export MODELFS
if ! "$PYTHON" -c 'import h5py, numpy' 2>/dev/null; then
  echo "skipped: $PYTHON lacks h5py/numpy"; exit 77
fi
exec "$PYTHON" "$here/hdf5_generated.py"
