#!/usr/bin/env bash
# npy_npz.sh: damaged .npy/.npz files never crash or hang modelfs (ctest
# bad.npy_npz).
#
# Fixtures: the corpus's .npy/.npz files (when present) and files written
# here by numpy (npy 1.0/2.0/3.0, Fortran, big-endian, scalar; npz stored
# and compressed). From each the test makes:
#   * truncated copies (0 bytes, a half, all but one byte; for .npy also
#     9 and the header's end +-1): `modelfs ls` MUST fail (exit 1..127)
#     with exactly one line on stderr;
#   * copies with one header byte replaced (each of the first 80 bytes of
#     v1.npy: prelude and dict; the 12-byte prelude of v3.npy twice), and
#     3 copies of each file with 1-16 random bytes replaced (the first
#     within its first 256 bytes): `modelfs ls -R` either succeeds or
#     fails with exactly one stderr line; when it succeeds, `modelfs cat
#     COPY SHA256SUMS` (reads every tensor) must not crash or hang either;
#   * an npz whose deflated member has corrupt compressed bytes past its
#     npy header: it opens, and `cat tensors/big/data` fails (exit 1, an
#     error line) while the intact member still reads.
# A crash is an exit status >= 128 or a sanitizer report; a hang is more
# than 20 s. Ends with "N passed, N failed"; exit 1 on any failure.
set -u
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
here=$(cd "$(dirname "$0")" && pwd)
MFS_SHARED=${MFS_SHARED:-$here/../../../shared}
"$PYTHON" -c 'import numpy' 2>/dev/null || { echo "skipped: $PYTHON has no numpy"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/mfs-badnpy.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/fix" "$work/trunc" "$work/flip"
for f in "$MFS_SHARED"/corpus/generated/numpy/*.np[yz] "$MFS_SHARED"/corpus/generated/pytorch/*.npz; do
  [ -f "$f" ] && cp "$f" "$work/fix/corpus_$(basename "$f")"
done

"$PYTHON" - "$work" <<'PY' || { echo "npy_npz.sh: could not write fixtures"; exit 1; }
import os, random, sys, zipfile, zlib
import numpy as np
w = sys.argv[1]
fix = os.path.join(w, "fix")
rng = np.random.default_rng(7)
def npy(name, a, version=None):
    with open(os.path.join(fix, name), "wb") as f:
        np.lib.format.write_array(f, a, version=version)
npy("v1.npy", rng.standard_normal((4, 6)).astype("<f4"))
npy("v2.npy", np.arange(10, dtype="<i8"), (2, 0))
npy("v3.npy", np.arange(6, dtype="<u2").reshape(2, 3), (3, 0))
npy("fortran.npy", np.asfortranarray(rng.standard_normal((5, 3))))
npy("be.npy", rng.integers(0, 99, size=(3, 3)).astype(">i4"))
npy("scalar.npy", np.array(2.5))
arrs = {"a": rng.standard_normal((30, 20)).astype("<f4"), "n/b": np.arange(12, dtype=">i2"),
        "c": np.asfortranarray(np.arange(6.0).reshape(2, 3))}
np.savez(os.path.join(fix, "stored.npz"), **arrs)
np.savez_compressed(os.path.join(fix, "compressed.npz"), **arrs)

# every fixture: truncations (must fail) and random corruptions; the
# header bytes of v1.npy one by one (a cheap exhaustive pass: each
# position gets one of six values, cycling), the prelude of v3.npy
header_vals = (0x00, 0xFF, ord("("), ord("9"), ord(" "), ord("'"))
for name in sorted(os.listdir(fix)):
    data = open(os.path.join(fix, name), "rb").read()
    n = len(data)
    cuts = {0, n // 2, n - 1}
    if name.endswith(".npy"):
        hl = 10 + int.from_bytes(data[8:10], "little") if data[6] == 1 else \
             12 + int.from_bytes(data[8:12], "little")
        cuts |= {9, hl - 1, hl + 1}
        positions = range(min(80, n)) if name == "v1.npy" else \
            range(12) if name == "v3.npy" else ()
        for i in positions:
            for v in (header_vals[i % 6], header_vals[(i + 3) % 6]) if i < 12 else (header_vals[i % 6],):
                b = bytearray(data)
                b[i] = v
                if bytes(b) != data:
                    open(os.path.join(w, "flip", f"h{i}_{v}-{name}"), "wb").write(b)
    for c in sorted(cuts):
        if 0 <= c < n:
            open(os.path.join(w, "trunc", f"t{c}-{name}"), "wb").write(data[:c])
    r = random.Random(zlib.crc32(name.encode()))
    for k in range(3):
        b = bytearray(data)
        span = min(n, 256) if k % 2 == 0 else n
        for _ in range(r.randint(1, 16)):
            b[r.randrange(span)] = r.randrange(256)
        open(os.path.join(w, "flip", f"r{k}-{name}"), "wb").write(b)

# a deflated member with corrupt compressed bytes well past its header
big = rng.integers(0, 50, size=1_000_000).astype("<i4")
p = os.path.join(w, "deflate_bad.npz")
np.savez_compressed(p, big=big, small=np.arange(3))
z = zipfile.ZipFile(p)
i = z.getinfo("big.npy")
off = i.header_offset + 30 + len(i.filename) + len(i.extra)
d = bytearray(open(p, "rb").read())
for k in range(64):
    d[off + i.compress_size // 2 + k] ^= 0x5A
open(p, "wb").write(d)
PY

# Every copy in one driver process (batch.inc): `ls -R`, then `cat
# SHA256SUMS` when it opened; the real binary is run on a few and must
# agree. Debug builds trace "modelfs: debug:" lines to stderr; they are not
# counted.
. "$here/batch.inc"
mfs_batch_run "$work/res" -1 -t 20 -c SHA256SUMS -- "$work"/trunc/* "$work"/flip/*
npass=0 nfail=0 nopened=0
while IFS=$'\t' read -r kind rc nl stray file text; do
  b=${file##*/}
  [ "$kind" = end ] && continue
  t="\\n$text" dbg=${t//'\nmodelfs: debug:'/}
  nl=$((nl - (${#t} - ${#dbg}) / 17))
  if ! mfs_bad_verdict "$kind" "$rc" "$nl" "$text" 1; then
    echo "FAIL  $kind $b: $why"; nfail=$((nfail + 1))
  elif [ "$kind" = ls ] && [ "$rc" -eq 0 ] && [[ $file == "$work"/trunc/* ]]; then
    echo "FAIL  ls $b: a truncated file opened"; nfail=$((nfail + 1))
  else
    [ "$kind" = cat ] && nopened=$((nopened + 1))
    # a copy passes once: with its cat when it opened, else with its ls
    if [ "$kind" = cat ] || [ "$rc" -ne 0 ]; then npass=$((npass + 1)); fi
    [ -n "${VERBOSE:-}" ] && echo "ok    $kind $b: exit $rc ${text:0:200}"
  fi
done <"$work/res"
mfs_batch_crosscheck "$work/res" 2 SHA256SUMS || nfail=$((nfail + 1))
echo "$(ls "$work"/trunc | wc -l) truncated and $(ls "$work"/flip | wc -l) corrupted copies," \
     "$nopened of them still open"

fail() { echo "FAIL  $*"; nfail=$((nfail + 1)); }
# run WHAT COPY ARGS...: sets rc and nl (stderr lines); returns 1 (and
# counts a failure) on a crash or hang.
run() {
  local what=$1 copy=$2
  shift 2
  timeout 20 "$MODELFS" "$@" >/dev/null 2>"$work/err"
  rc=$?
  nl=$(grep -avc '^modelfs: debug:' "$work/err")
  if [ $rc -eq 124 ]; then fail "$what $copy: hung (> 20 s)"; return 1; fi
  if [ $rc -ge 128 ] || grep -aqE 'Sanitizer|runtime error:' "$work/err"; then
    fail "$what $copy: crashed (status $rc): $(head -c 600 "$work/err")"; return 1
  fi
  return 0
}

bad="$work/deflate_bad.npz"
if run "ls" deflate_bad.npz ls "$bad"; then
  if [ $rc -ne 0 ]; then fail "ls deflate_bad.npz: does not open: $(cat "$work/err")"; else npass=$((npass + 1)); fi
fi
if run "cat data" deflate_bad.npz cat "$bad" tensors/big/data; then
  if [ $rc -eq 0 ]; then fail "cat deflate_bad.npz tensors/big/data: corrupt deflate data read without error"
  elif [ "$nl" -lt 1 ]; then fail "cat deflate_bad.npz tensors/big/data: failed without a message"
  else npass=$((npass + 1)); fi
fi
if run "cat data" deflate_bad.npz cat "$bad" tensors/small/data; then
  if [ $rc -ne 0 ]; then fail "cat deflate_bad.npz tensors/small/data: the intact member fails: $(cat "$work/err")"
  else npass=$((npass + 1)); fi
fi

echo "$npass passed, $nfail failed"
[ "$nfail" -eq 0 ]
