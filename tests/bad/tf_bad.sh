#!/usr/bin/env bash
# tf_bad.sh: damaged TensorFlow checkpoints, SavedModels and GraphDefs
# give clear errors, never a crash or a hang (ctest bad.tf_bad).
#
# From the corpus's TF files it writes damaged copies into a temp dir:
#   * .index files truncated (0, 1, 10, 47, 48 bytes, half, all but one)
#     and with bytes flipped in the footer and in the blocks;
#   * data shards truncated and with bytes flipped;
#   * saved_model.pb, keras_metadata.pb, fingerprint.pb, .meta and a frozen
#     GraphDef truncated and with bytes flipped; the `checkpoint` state file
#     garbled;
#   * saved_model.pbtxt (the corpus SavedModels printed as text by
#     tests/oracle/tf_pbtext.py) truncated, with bytes replaced, a brace
#     removed, a bad escape: a text error names the line and column;
# then runs `modelfs ls -R` on each and, when that succeeds,
# `modelfs cat SHA256SUMS` (reads every tensor through the CRC checks),
# all of them in one process (batch.inc; the real binary on a few).
# Every run must exit below 128, within 20 s, with no sanitizer report; a
# mount that fails prints exactly one line. Specific cases must fail with
# the right message: a truncated index ("table"/"footer"), a truncated
# shard ("beyond the end"), a flipped data byte ("crc32c mismatch" on
# read, the mount itself succeeding). Exit 77 without the corpus.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${MFS_SRC_DIR:-$(cd "$here/../.." && pwd)}
shared=${MFS_SHARED:-$src/../shared}
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
P=$shared/corpus/public
[ -d "$P/tf_checkpoint" ] || { echo "skipped: no corpus at $shared/corpus"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/mfs-tfbad.XXXXXX")
trap 'rm -rf "$work"' EXIT

. "$here/batch.inc"
# The cases below run twice (cases): first with collect=1, which only
# writes the damaged copies and gathers every path probe() would try; then
# all of them go through one driver process (batch.inc: `ls -R`, then
# `cat SHA256SUMS` when it opens), and the second pass (collect=0) judges
# each from its records (run). The real binary is run on a few.
npass=0 nfail=0 collect=1 mounts=() rc=0 nl=0 out= errtext=
: >"$work/err"
declare -A R_rc R_nl R_text
fail() { [ $collect = 1 ] && return 0; echo "FAIL  $*"; nfail=$((nfail + 1)); }
genfail() { echo "FAIL  $*"; nfail=$((nfail + 1)); }

# run ls -R MOUNT | run cat MOUNT SHA256SUMS: the driver's record of that
# command; sets rc, out (stderr text), nl, and $work/err holds the text. A
# crash (the driver died) reads as exit >= 128, a hang as 124.
run() {
  local mnt=$2 k
  [ "$1" = cat ] && mnt=$2 || mnt=$3
  k="$1|$mnt"
  if [ -z "${R_rc[$k]+x}" ]; then
    if [ -n "${R_rc[hang|$mnt]+x}" ]; then k="hang|$mnt" R_rc[$k]=124
    elif [ -n "${R_rc[crash|$mnt]+x}" ]; then
      k="crash|$mnt"; [ "${R_rc[$k]}" -lt 128 ] && R_rc[$k]=134
    else R_rc[$k]=1 R_nl[$k]=1 R_text[$k]="mfs_batch: no record for $k\\n"
    fi
  fi
  rc=${R_rc[$k]} nl=${R_nl[$k]}
  printf -v errtext '%b' "${R_text[$k]}" # (builtins only: this runs for every case)
  printf '%s' "$errtext" >"$work/err"
  out=${errtext:0:2000}
}

# probe WHAT MOUNT: ls -R, then SHA256SUMS; no crash, hang or multi-line
# mount error. Returns 0 when the mount worked.
probe() {
  local what=$1 mnt=$2
  if [ $collect = 1 ]; then mounts+=("$mnt"); return 2; fi
  run ls -R "$mnt"
  if [ $rc -eq 124 ]; then fail "$what: ls hung"; return 2; fi
  if [ $rc -ge 128 ] || [[ $errtext =~ Sanitizer|runtime\ error: ]]; then
    fail "$what: ls crashed ($rc): $out"; return 2
  fi
  if [ $rc -ne 0 ]; then
    if [ "$nl" -ne 1 ]; then fail "$what: mount error in $nl lines: $out"; return 2; fi
    npass=$((npass + 1)); return 1
  fi
  printf '%s' "$errtext" >"$work/err_ls"
  run cat "$mnt" SHA256SUMS
  if [ $rc -eq 124 ]; then fail "$what: cat SHA256SUMS hung"; return 2; fi
  if [ $rc -ge 128 ] || [[ $errtext =~ Sanitizer|runtime\ error: ]]; then
    fail "$what: cat crashed ($rc): $out"; return 2
  fi
  npass=$((npass + 1))
  return 0
}

# expect WHAT MOUNT PATTERN: the mount must fail with PATTERN in its line.
expect_mount_error() {
  local what=$1 mnt=$2 pat=$3
  probe "$what" "$mnt"
  local r=$?
  [ $r -eq 2 ] && return
  if [ $r -eq 0 ]; then fail "$what: mounted, expected an error matching '$pat'"; return; fi
  [[ ${errtext,,} =~ ${pat,,} ]] || fail "$what: error does not match '$pat': $out"
}

cases() {
# --- checkpoints: damaged copies of each bundle ---
for d in "$P"/tf_checkpoint/* "$P"/keras_tf_checkpoint/*; do
  for idx in $(ls "$d"/*.index | tail -1); do # one checkpoint per directory (ckpt-7/8/9 alike)
    [ -f "$idx" ] || continue
    name=$(basename "$idx" .index)
    case_dir=$work/$(basename "$d")-$name
    [ $collect = 1 ] && { "$PYTHON" - "$d" "$name" "$case_dir" <<'PY' || { genfail "could not write copies of $idx"; continue; }; }
import os, random, shutil, sys, zlib
d, name, out = sys.argv[1:4]
files = [f for f in os.listdir(d) if f.startswith(name + ".")]
def copy(tag):
    """a case dir whose files are symlinks to the corpus (not copies: the
    shards are MBs); a damaged file replaces its link (put)"""
    c = os.path.join(out, tag)
    os.makedirs(c)
    for f in files:
        os.symlink(os.path.join(d, f), os.path.join(c, f))
    return c
def put(path, data):
    os.unlink(path)  # the link, never the corpus file it points to
    open(path, "wb").write(data)
idx = open(os.path.join(d, name + ".index"), "rb").read()
n = len(idx)
for ln in sorted({0, 1, 10, 47, 48, n // 2, n - 1}):
    c = copy(f"itrunc{ln}")
    put(os.path.join(c, name + ".index"), idx[:ln])
rng = random.Random(zlib.crc32(name.encode()))
for i in range(6):
    b = bytearray(idx)
    lo = n - 48 if i < 3 else 0
    for _ in range(rng.randint(1, 4)):
        b[rng.randrange(lo, n)] ^= 1 << rng.randrange(8)
    c = copy(f"iflip{i}")
    put(os.path.join(c, name + ".index"), bytes(b))
for f in files:
    if ".data-" not in f:
        continue
    data = open(os.path.join(d, f), "rb").read()
    if len(data) < 8:
        continue
    c = copy(f"dtrunc-{f}")
    put(os.path.join(c, f), data[: len(data) - 3])
    b = bytearray(data)
    b[len(b) // 2] ^= 0x20
    c = copy(f"dflip-{f}")
    put(os.path.join(c, f), bytes(b))
PY
    [ -d "$case_dir" ] || continue
    for c in "$case_dir"/*; do
      tag=${c##*/}
      case $tag in
        itrunc0|itrunc1|itrunc10|itrunc47)
          expect_mount_error "$name $tag" "$c/$name" "too short|footer|table" ;;
        itrunc*)
          expect_mount_error "$name $tag" "$c/$name" "table|footer|magic|block|crc32c" ;;
        dtrunc-*)
          expect_mount_error "$name $tag" "$c/$name" "beyond the end" ;;
        dflip-*)
          probe "$name $tag" "$c/$name"
          r=$?
          if [ $r -eq 1 ]; then fail "$name $tag: a flipped data byte stopped the mount: $out"
          elif [ $r -eq 0 ]; then
            # the flipped byte is in a numeric tensor (reading it fails) or
            # in a string tensor (decoded at mount, which logs it)
            if ! grep -q "crc32c mismatch" "$work/err" "$work/err_ls"; then
              fail "$name $tag: corrupt shard read without a crc32c error (exit $rc): $out"
            elif grep -q "crc32c mismatch (stored" "$work/err" && [ $rc -eq 0 ]; then
              fail "$name $tag: a tensor read failed its crc32c but SHA256SUMS exited 0"
            fi
          fi ;;
        *) probe "$name $tag" "$c/$name" ;;
      esac
    done
  done
done

# --- a checkpoint directory with a garbled state file ---
g=$work/garbled-state
if [ $collect = 1 ]; then
  mkdir -p "$g"
  cp "$P"/tf_checkpoint/tf2_object_based_a2c_adam_slots/ckpt-8.* "$g"/
  printf 'model_checkpoint_path: "ckpt-\001\377\n\n::\n"unterminated' >"$g/checkpoint"
fi
probe "garbled state file" "$g"
[ $? -eq 0 ] || fail "garbled state file: the directory should still mount (newest checkpoint)"

# --- SavedModels, .meta, frozen graph ---
[ $collect = 1 ] && { "$PYTHON" - "$P" "$work/sm" <<'PY' || genfail "could not write SavedModel copies"; }
import os, random, shutil, sys, zlib
P, out = sys.argv[1:3]
def mirror(src, dst):
    """dst: fresh directories like src's, its files symlinks to src's (not
    copies: 30 copies of MBs); a damaged file replaces its link"""
    for root, dirs, files in os.walk(src):
        d = os.path.join(dst, os.path.relpath(root, src))
        os.makedirs(d, exist_ok=True)
        for x in files:
            os.symlink(os.path.join(root, x), os.path.join(d, x))
sms = [os.path.join(P, "saved_model/tfserving_half_plus_two_tf2_cpu/00000123"),
       os.path.join(P, "saved_model/tfkeras2.10.0_sequential_mnist_keras_metadata"),
       os.path.join(P, "saved_model/tfserving_counter/00000123")]
for sm in sms:
    base = os.path.basename(os.path.dirname(sm)) if sm.endswith("00000123") else os.path.basename(sm)
    for f in ("saved_model.pb", "keras_metadata.pb", "fingerprint.pb", "variables/variables.index"):
        src = os.path.join(sm, f)
        if not os.path.exists(src):
            continue
        data = open(src, "rb").read()
        n = len(data)
        rng = random.Random(zlib.crc32((base + f).encode()))
        variants = [("trunc%d" % ln, data[:ln]) for ln in sorted({0, 1, 5, n // 3, n - 1})]
        for i in range(3):
            b = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(min(n, 4096) if i % 2 else n)] = rng.randrange(256)
            variants.append(("flip%d" % i, bytes(b)))
        for tag, content in variants:
            c = os.path.join(out, f"{base}-{f.replace('/', '_')}-{tag}")
            mirror(sm, c)
            os.unlink(os.path.join(c, f))  # the link, never the corpus file
            open(os.path.join(c, f), "wb").write(content)
for rel in ("tf_frozen_graph/tf2onnx_lstm/frozen.pb", "tf_checkpoint/tf1_name_based_simple_graph/data-all-1000.meta"):
    data = open(os.path.join(P, rel), "rb").read()
    n = len(data)
    rng = random.Random(zlib.crc32(rel.encode()))
    name = os.path.basename(rel)
    for ln in sorted({0, 1, 2, 7, n // 2, n - 1}):
        os.makedirs(os.path.join(out, f"t{ln}"), exist_ok=True)
        open(os.path.join(out, f"t{ln}", name), "wb").write(data[:ln])
    for i in range(4):
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(min(n, 512) if i % 2 else n)] = rng.randrange(256)
        os.makedirs(os.path.join(out, f"f{i}"), exist_ok=True)
        open(os.path.join(out, f"f{i}", name), "wb").write(bytes(b))
PY
# (no subprocess per case: this loop runs twice over ~100 dirs)
graph_dir() { local x; for x in "$1"/*frozen?pb "$1"/*.meta; do [ -e "$x" ] && return 0; done; return 1; }
for c in "$work"/sm/*; do
  if [ -d "$c" ] && ! graph_dir "$c"; then
    probe "SavedModel ${c##*/}" "$c"
    case ${c##*/} in
      *saved_model.pb-trunc0|*saved_model.pb-trunc1)
        [[ ${errtext,,} =~ saved_model.pb|meta\ graph ]] || fail "${c##*/}: unclear error: $out" ;;
    esac
  else
    for f in "$c"/*; do probe "${c##*/}/${f##*/}" "$f"; done
  fi
done

# --- text SavedModels (saved_model.pbtxt) ---
[ $collect = 1 ] && { "$PYTHON" - "$P" "$work/txt" "$src/tests/oracle" <<'PY' || genfail "could not write pbtxt copies"; }
import os, random, sys, zlib
P, out, oracle = sys.argv[1:4]
sys.path.insert(0, oracle)
import tf_pbtext
for sm in ("saved_model/tfserving_half_plus_two_tf2_cpu/00000123", "saved_model/tfserving_counter/00000123"):
    src = os.path.join(P, sm)
    text = tf_pbtext.to_text(open(os.path.join(src, "saved_model.pb"), "rb").read(), 3).encode()
    n = len(text)
    rng = random.Random(zlib.crc32(sm.encode()))
    brace = text.index(b"}")
    esc = text.index(b'"') + 1
    variants = [("trunc%d" % ln, text[:ln]) for ln in (0, 1, n // 3, n - 2)]
    variants += [("nobrace", text[:brace] + text[brace + 1:]), ("badescape", text[:esc] + b"\\q" + text[esc:])]
    for i in range(4):
        b = bytearray(text)
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(n)] = rng.choice(b'{}<>[]:;,"\\#\n\x00\xff-.0aZ_ ')
        variants.append(("flip%d" % i, bytes(b)))
    for tag, content in variants:
        c = os.path.join(out, "%s-%s" % (sm.split("/")[1], tag))
        os.makedirs(c)
        os.symlink(os.path.join(src, "variables"), os.path.join(c, "variables"))
        open(os.path.join(c, "saved_model.pbtxt"), "wb").write(content)
PY
for c in "$work"/txt/*; do
  case ${c##*/} in
    *-trunc0|*-trunc1) expect_mount_error "pbtxt ${c##*/}" "$c" "saved_model.pbtxt holds no meta graph" ;;
    *-trunc[2-9]*|*-nobrace|*-badescape)
      expect_mount_error "pbtxt ${c##*/}" "$c" "saved_model.pbtxt: line [0-9]+, column [0-9]+" ;;
    *) probe "pbtxt ${c##*/}" "$c" ;;
  esac
done
}

cases
mfs_batch_run "$work/res" -1 -t 20 -c SHA256SUMS -- "${mounts[@]}"
while IFS=$'\t' read -r kind rc nl stray file text; do
  [ "$kind" = end ] && continue
  R_rc[$kind|$file]=$rc R_nl[$kind|$file]=$nl R_text[$kind|$file]=$text
done <"$work/res"
collect=0
cases
mfs_batch_crosscheck "$work/res" 2 SHA256SUMS || nfail=$((nfail + 1))

echo "$npass passed, $nfail failed"
[ $nfail -eq 0 ]
