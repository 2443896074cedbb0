#!/bin/bash
# mount_walk.sh: a mount shows exactly what `modelfs ls|tree|cat` show.
#
# Mounts a safetensors file the test writes itself (st_helper.py) and
# checks, through the kernel:
#   - the walk: `find` (readdir order, unsorted) == `modelfs tree`, and
#     GNU `ls -RU` == `modelfs ls -R` (both in node order);
#   - every file: content == `modelfs cat`, st_size == its length;
#   - tensors/*/data and data.npy == numpy's bytes/arrays (odd offsets too);
#   - user.dtype / user.shape / user.nbytes xattrs, ENODATA, ERANGE.
. "$(dirname "$0")/common.inc"

MODEL=$WORK/model.safetensors
mfs_gen "$MODEL"
mfs_need_ls "$MODEL"
mfs_newdir mnt >/dev/null; MNT=$WORK/mnt
mfs_mount_fg "$MODEL" "$MNT" "$WORK/daemon.log" || die "mount failed"

# --- the walk, in readdir order ---
"$MODELFS" tree "$MODEL" >"$WORK/tree.want" || die "modelfs tree"
mfs_find_tree "$MNT" >"$WORK/tree.got" || die "find on the mount"
if cmp -s "$WORK/tree.want" "$WORK/tree.got"; then
    pass "find == modelfs tree ($(wc -l <"$WORK/tree.got") entries)"
else
    diff "$WORK/tree.want" "$WORK/tree.got" | head -20 >&2
    fail "find of the mount differs from 'modelfs tree'"
fi

# --- symlinks: layers/ entries point at the tensor's dir in tensors/ ---
nlinks=0
while IFS= read -r line; do
    link=${line%% -> *}
    [ -L "$MNT/$link" ] || { fail "$link: not a symlink on the mount"; continue; }
    real=$(cd "$MNT" && realpath -e "$link") || { fail "$link: dangling"; continue; }
    case $real in "$MNT"/tensors/*) ;; *) fail "$link -> $real: not into tensors/" ;; esac
    $T cmp -s "$MNT/$link/data" "$real/data" || fail "$link/data differs from its target's"
    [ "$($T cat "$MNT/$link/shape")" = "$("$MODELFS" cat "$MODEL" "$link/shape")" ] ||
        fail "$link/shape through the link != modelfs cat"
    nlinks=$((nlinks + 1))
done < <(grep ' -> ' "$WORK/tree.want" | head -20)
[ "$nlinks" -gt 0 ] && pass "$nlinks symlinks resolve into tensors/, same bytes" ||
    fail "no symlink in layers/"

# GNU ls -RU: ".:" header first and "./dir:" headers; modelfs ls -R has no
# top header and bare "dir:" headers. Otherwise the same layout.
"$MODELFS" ls -R "$MODEL" >"$WORK/lsR.want" || die "modelfs ls -R"
(cd "$MNT" && $T ls -RU1 .) | sed -e '1{/^\.:$/d}' -e 's|^\./\(.*\):$|\1:|' >"$WORK/lsR.got"
if cmp -s "$WORK/lsR.want" "$WORK/lsR.got"; then
    pass "ls -RU == modelfs ls -R"
else
    diff "$WORK/lsR.want" "$WORK/lsR.got" | head -20 >&2
    fail "ls -RU of the mount differs from 'modelfs ls -R'"
fi

# --- every file's bytes and size ---
# modelfs's side in two processes (ls -l -R, then one `modelfs cat MODEL
# P1 P2 ...` split by the ls -l sizes: mfs_fetch.py, which rereads a path
# alone when its bytes and size disagree), the mount's side in one python
# reading every regular file through the kernel.
timeout -k 5 120 "$PYTHON" - "$MNT" "$MODELFS" "$MODEL" "$HERE/../oracle" <<'PY' || fail "file contents (above)"
import os, sys
mnt, modelfs, model, oracle = sys.argv[1:5]
sys.path.insert(0, oracle)
import mfs_fetch
m = mfs_fetch.Model(model, modelfs, timeout=60)
rels = []
for root, dirs, files in os.walk(mnt):  # find -type f: regular files only
    for f in files:
        p = os.path.join(root, f)
        if not os.path.islink(p):
            rels.append(os.path.relpath(p, mnt))
m.fetch(rels)
bad = 0
for rel in rels:
    rc, want, err = m.result(rel)
    if rc != 0:
        print(f"FAIL: modelfs cat {rel}: {err.strip()}", file=sys.stderr); bad += 1; continue
    try:
        with open(os.path.join(mnt, rel), "rb") as f:
            got = f.read()
        size = os.stat(os.path.join(mnt, rel)).st_size
    except OSError as e:
        print(f"FAIL: cat {rel} on the mount: {e}", file=sys.stderr); bad += 1; continue
    if got != want:
        print(f"FAIL: {rel}: mount content != modelfs cat", file=sys.stderr); bad += 1
    if size != len(want):
        print(f"FAIL: {rel}: st_size {size} != {len(want)} bytes", file=sys.stderr); bad += 1
if len(rels) <= 20:
    print(f"FAIL: only {len(rels)} files in the mount", file=sys.stderr); bad += 1
print(f"ok: {len(rels)} files: content == modelfs cat, st_size exact")
sys.exit(1 if bad else 0)
PY

# --- against numpy ---
$T "$PYTHON" "$HELPER" check-data "$MNT" && pass "data, data.npy == numpy" ||
    fail "data/data.npy differ from numpy"
$T "$PYTHON" "$HELPER" check-xattr "$MNT" && pass "xattrs" || fail "xattrs"

# Nothing should have been logged (no read errors).
[ ! -s "$WORK/daemon.log" ] || { cat "$WORK/daemon.log" >&2; fail "daemon logged errors"; }

mfs_stop "$MNT" "$DAEMON_PID" || fail "daemon exit status $? after unmount"
exit $FAILED
