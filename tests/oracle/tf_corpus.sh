#!/usr/bin/env bash
# tf_corpus.sh: TensorFlow checkpoints and SavedModels of the corpus
# against EXPECTED.json and their own protos (ctest oracle.tf_corpus); see
# tf_corpus.py. Exit 77 (skipped) without a corpus.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${MFS_SRC_DIR:-$(cd "$here/../.." && pwd)}
export MFS_SHARED=${MFS_SHARED:-$src/../shared}
PYTHON=${PYTHON:-/usr/bin/python3}
if [ ! -f "$MFS_SHARED/corpus/EXPECTED.json" ]; then
  echo "skipped: no corpus at $MFS_SHARED/corpus"
  exit 77
fi
: "${MODELFS:?set MODELFS to the modelfs binary}"
exec "$PYTHON" "$here/tf_corpus.py"
