#!/usr/bin/env bash
# joblib_corpus.sh: every joblib / scikit-learn pickle of the corpus
# (EXPECTED.json keys under generated/sklearn and public/joblib_pickle)
# must open and match EXPECTED.json: each expected tensor found at
# tensors/<name> (the names are attribute paths joined by "/", see
# docs/joblib.md) with identical dtype, shape and `cat .../data | sha256sum`.
# Uses the format-agnostic corpus_oracle.py, but here a file that no reader
# claims is a failure, not a skip. Exit 77 without a corpus.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${MFS_SRC_DIR:-$(cd "$here/../.." && pwd)}
export MFS_SHARED=${MFS_SHARED:-$src/../shared}
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
if [ ! -f "$MFS_SHARED/corpus/EXPECTED.json" ]; then
  echo "skipped: no corpus at $MFS_SHARED/corpus"
  exit 77
fi
rc=0
for part in generated/sklearn/ public/joblib_pickle/; do
  n=$("$PYTHON" -c "import json,sys; d=json.load(open(sys.argv[1])); print(sum(k.startswith(sys.argv[2]) for k in d))" \
      "$MFS_SHARED/corpus/EXPECTED.json" "$part")
  out=$(MFS_ORACLE_ONLY=$part timeout 250 "$PYTHON" "$here/corpus_oracle.py" 2>&1)
  echo "$out"
  if ! grep -q "^$n passed, 0 failed, 0 skipped" <<<"$out"; then
    echo "FAIL: $part: expected $n files to pass"
    rc=1
  fi
done
exit $rc
