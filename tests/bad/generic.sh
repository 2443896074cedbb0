#!/usr/bin/env bash
# generic.sh: bad input never crashes or hangs modelfs (ctest bad.generic).
# For every mnt-examples/ model it writes damaged copies into a temp dir:
#   * truncated: 0, 1, 7, 8, 9, 64 and 200 bytes, a quarter, half, all but
#     one byte;
#   * corrupted: 12 copies with 1 to 16 bytes set to random values, seeded
#     by the file name, half of them within the first 512 bytes where the
#     headers live;
# then runs `modelfs ls -R COPY` and, when that succeeds, `modelfs cat COPY
# SHA256SUMS` (reads every tensor of tensors/). Each run must exit below 128
# (no signal), within 20 s (no hang), with no sanitizer report, and a
# failing run must print exactly one line on stderr.
# Ends with "N passed, N failed"; exit 1 on any failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${MFS_SRC_DIR:-$(cd "$here/../.." && pwd)}
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
work=$(mktemp -d "${TMPDIR:-/tmp}/mfs-bad.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$PYTHON" - "$src/mnt-examples" "$work" <<'PY' || { echo "generic.sh: could not write copies"; exit 1; }
import os, random, sys, zlib
ex, out = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(ex)):
    if name.endswith((".py", ".md")):
        continue
    data = open(os.path.join(ex, name), "rb").read()
    n = len(data)
    for ln in sorted({0, 1, 7, 8, 9, 64, 200, n // 4, n // 2, n - 1}):
        if ln < n:
            open(os.path.join(out, f"trunc{ln}-{name}"), "wb").write(data[:ln])
    rng = random.Random(zlib.crc32(name.encode()))
    for i in range(12):
        b = bytearray(data)
        span = min(n, 512) if i % 2 == 0 else n
        for _ in range(rng.randint(1, 16)):
            b[rng.randrange(span)] = rng.randrange(256)
        open(os.path.join(out, f"flip{i}-{name}"), "wb").write(bytes(b))
PY

npass=0 nfail=0
# check WHAT COPY ARGS...: runs modelfs; returns 0 when it exited 0.
check() {
  local what=$1 copy=$2 rc nl
  shift 2
  timeout 20 "$MODELFS" "$@" >/dev/null 2>"$work/err"
  rc=$?
  nl=$(wc -l <"$work/err")
  if [ $rc -eq 124 ]; then
    echo "FAIL  $what $copy: hung (> 20 s)"; nfail=$((nfail + 1)); return 1
  elif [ $rc -ge 128 ] || grep -qE 'Sanitizer|runtime error:' "$work/err"; then
    echo "FAIL  $what $copy: crashed (status $rc): $(head -c 600 "$work/err")"; nfail=$((nfail + 1)); return 1
  elif [ $rc -ne 0 ] && [ "$nl" -ne 1 ]; then
    echo "FAIL  $what $copy: exit $rc with $nl stderr lines (want exactly 1): $(head -c 400 "$work/err")"
    nfail=$((nfail + 1)); return 1
  fi
  npass=$((npass + 1))
  [ -n "${VERBOSE:-}" ] && echo "ok    $what $copy: exit $rc $(head -c 200 "$work/err")"
  return $rc
}

nopen=0 ncopies=0
for c in "$work"/trunc* "$work"/flip*; do
  b=$(basename "$c")
  ncopies=$((ncopies + 1))
  if check "ls -R" "$b" ls -R "$c"; then
    nopen=$((nopen + 1))
    check "cat SHA256SUMS" "$b" cat "$c" SHA256SUMS || true
  fi
done
echo "$ncopies damaged copies, $nopen of them still open"
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
