#!/usr/bin/env bash
# generic.sh: bad input never crashes or hangs modelfs (ctest bad.generic).
# For every mnt-examples/ model it writes damaged copies into a temp dir:
#   * truncated: 0, 1, 7, 8, 9, 64 and 200 bytes, a quarter, half, all but
#     one byte;
#   * corrupted: 12 copies with 1 to 16 bytes set to random values, seeded
#     by the file name, half of them within the first 512 bytes where the
#     headers live;
# then does `modelfs ls -R COPY` and, when that succeeds, `modelfs cat COPY
# SHA256SUMS` (reads every tensor of tensors/), all copies in one process
# (batch.inc; the real binary is run on a few and must agree). Each command
# must not crash (signal, sanitizer report, leak), must end within 20 s (no
# hang), and a failing one must print exactly one line on stderr.
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

. "$here/batch.inc"
# Every copy through one driver (batch.inc): `ls -R`, then `cat
# SHA256SUMS` when it opened; the real binary is run on a few of them.
# HDF5 copies each in a child of their own (libhdf5 keeps state from one
# corrupt file to the next), the others all in one process (-1).
h5=() other=()
for c in "$work"/trunc* "$work"/flip*; do
  case $c in *.h5|*.hdf5|*.keras) h5+=("$c") ;; *) other+=("$c") ;; esac
done
mfs_batch_run "$work/res" -1 -t 20 -c SHA256SUMS -- "${other[@]}"
if [ ${#h5[@]} -gt 0 ]; then
  mfs_batch_run "$work/res.h5" -t 20 -c SHA256SUMS -- "${h5[@]}"
  cat "$work/res.h5" >>"$work/res"
fi
npass=0 nfail=0 nopen=0 ncopies=0
mfs_batch_judge "$work/res" "cat SHA256SUMS"
mfs_batch_crosscheck "$work/res" 2 SHA256SUMS || nfail=$((nfail + 1))
echo "$ncopies damaged copies, $nopen of them still open"
echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
