#!/usr/bin/env bash
# joblib.sh: damaged joblib / pickle / scikit-learn files never crash or
# hang modelfs, and fail with one clear line (ctest bad.joblib).
# Files made here with $PYTHON (numpy, joblib, sklearn when present):
# uncompressed and zlib/gzip/bz2/xz/lz4-compressed joblib dumps of a dict
# of arrays, a protocol-2 pickle, a LogisticRegression. Copies: truncated
# (0, 2, 9, 200 bytes, a third, all but one byte) and 8 with 1-16 bytes
# set to random values (half of them in the first 512 bytes). Each `modelfs
# ls -R COPY` (and, when it opens, `modelfs cat COPY SHA256SUMS`, which
# reads every tensor) must exit below 128, within 20 s, without a
# sanitizer report or leak; a failing run prints exactly one line. All in
# one process (batch.inc); the real binary on a few copies must agree.
# Truncated compressed copies and copies cut inside the pickle must fail.
set -u
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
work=$(mktemp -d "${TMPDIR:-/tmp}/mfs-badjl.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/src" "$work/bad"

"$PYTHON" - "$work/src" "$work/bad" <<'PY'
import os, pickle, random, sys, zlib
try:
    import numpy as np, joblib
except ImportError:
    sys.exit(77)  # (one python start: no separate check)
src, out = sys.argv[1], sys.argv[2]
rng = np.random.RandomState(0)
data = {"w": rng.standard_normal((40, 30)).astype("float32"), "b": np.arange(30, dtype=">i8"),
        "f": np.asfortranarray(np.ones((5, 7))), "l": [np.zeros(3, "uint8"), "x"]}
joblib.dump(data, os.path.join(src, "a.joblib"))
for m in ["zlib", "gzip", "bz2", "xz", "lz4"]:
    try:
        joblib.dump(data, os.path.join(src, f"a_{m}.joblib"), compress=(m, 3))
    except Exception as ex:
        print(f"note: {m}: {ex}")
for p in (2,):
    with open(os.path.join(src, f"a_p{p}.pkl"), "wb") as f:
        pickle.dump(data, f, protocol=p)
try:
    from sklearn.linear_model import LogisticRegression
    X = rng.standard_normal((50, 4)); y = (X[:, 0] > 0).astype(int)
    joblib.dump(LogisticRegression().fit(X, y), os.path.join(src, "lr.joblib"))
except ImportError:
    pass
for name in sorted(os.listdir(src)):
    d = open(os.path.join(src, name), "rb").read()
    n = len(d)
    for ln in sorted({0, 2, 9, 200, n // 3, n - 1}):
        if ln < n:
            open(os.path.join(out, f"trunc{ln}-{name}"), "wb").write(d[:ln])
    r = random.Random(zlib.crc32(name.encode()))
    for i in range(8):
        b = bytearray(d)
        span = min(n, 512) if i % 2 == 0 else n
        for _ in range(r.randint(1, 16)):
            b[r.randrange(span)] = r.randrange(256)
        open(os.path.join(out, f"flip{i}-{name}"), "wb").write(bytes(b))
PY
rc=$?
[ $rc -eq 77 ] || [ $rc -eq 127 ] && { echo "skipped: $PYTHON lacks numpy or joblib"; exit 77; }
[ $rc -eq 0 ] || { echo "joblib.sh: could not make the files"; exit 1; }

. "$here/batch.inc"
# Every copy, then the untouched files, in one driver process (batch.inc);
# the real binary is run on a few and must agree.
mfs_batch_run "$work/res" -1 -t 20 -c SHA256SUMS -- "$work"/bad/* "$work"/src/*
npass=0 nfail=0 nopen=0 ncopies=0
while IFS=$'\t' read -r kind rc nl stray file text; do
  b=${file##*/}
  case $kind in
    end) [[ $file == "$work"/bad/* ]] && ncopies=$((ncopies + 1)); continue ;;
    ls) what="ls -R" ;;
    cat) what="cat SHA256SUMS" ;;
    *) what=$kind ;;
  esac
  if [[ $file == "$work"/src/* ]]; then # the untouched files open
    if [ "$kind" = ls ] && [ "$rc" -ne 0 ]; then
      echo "FAIL  intact $b does not open: ${text:0:300}"; nfail=$((nfail + 1)); continue
    fi
    what="$what (intact)"
  fi
  if ! mfs_bad_verdict "$kind" "$rc" "$nl" "$text" 1; then
    echo "FAIL  $what $b: $why"; nfail=$((nfail + 1)); continue
  fi
  npass=$((npass + 1))
  [ -n "${VERBOSE:-}" ] && echo "ok    $what $b: exit $rc ${text:0:200}"
  [ "$kind" = ls ] && [ "$rc" -eq 0 ] && [[ $file == "$work"/bad/* ]] || continue
  nopen=$((nopen + 1))
  # a truncated file cut inside a compressed stream or the pickle must not open
  case "$b" in
    trunc[1-9]*)
      full="$work/src/${b#*-}"
      if [ "$(stat -c %s "$file")" -lt "$(stat -c %s "$full")" ]; then
        echo "FAIL  truncated copy $b opened"; nfail=$((nfail + 1))
      fi ;;
  esac
done <"$work/res"
mfs_batch_crosscheck "$work/res" 2 SHA256SUMS || nfail=$((nfail + 1))
echo "$ncopies damaged copies, $nopen of them still open"
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
