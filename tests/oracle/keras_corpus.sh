#!/usr/bin/env bash
# keras_corpus.sh: every Keras/HDF5 corpus file against EXPECTED.json and
# h5py (layers order, optimizer slots, metadata); see keras_corpus.py.
# Exit 77 (skipped) without a corpus or without /usr/bin/python3 + h5py.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${MFS_SRC_DIR:-$(cd "$here/../.." && pwd)}
export MFS_SHARED=${MFS_SHARED:-$src/../shared}
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
export MODELFS
if ! "$PYTHON" -c 'import h5py, numpy' 2>/dev/null; then
  echo "skipped: $PYTHON lacks h5py/numpy"; exit 77
fi
exec "$PYTHON" "$here/keras_corpus.py"
