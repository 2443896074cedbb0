#!/usr/bin/env bash
# corpus.sh: the format-agnostic oracle over the whole corpus (ctest
# oracle.corpus). Every file of $MFS_SHARED/corpus/EXPECTED.json is listed
# and read through the no-mount mode and compared with EXPECTED; see
# corpus_oracle.py for the checks. Exit 77 (skipped) without a corpus.
# Env (set by ctest): MODELFS, MFS_SRC_DIR, MFS_SHARED, PYTHON.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${MFS_SRC_DIR:-$(cd "$here/../.." && pwd)}
export MFS_SHARED=${MFS_SHARED:-$src/../shared}
PYTHON=${PYTHON:-/usr/bin/python3}
if [ ! -f "$MFS_SHARED/corpus/EXPECTED.json" ]; then
  echo "skipped: no corpus at $MFS_SHARED/corpus (EXPECTED.json missing)"
  exit 77
fi
: "${MODELFS:?set MODELFS to the modelfs binary}"
exec "$PYTHON" "$here/corpus_oracle.py"
