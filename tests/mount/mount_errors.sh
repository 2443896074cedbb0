#!/bin/bash
# mount_errors.sh: errno on the mount.
#   - every kind of write gets EROFS (shell tools and syscalls), the model
#     file is left untouched;
#   - missing names get ENOENT, also the second time (cached negative
#     entry), and a name under a file ENOTDIR;
#   - a tensor whose bytes vanish under the daemon (the model is truncated
#     after mounting) gets EIO and one log line naming the file, and the
#     daemon keeps serving the other files.
. "$(dirname "$0")/common.inc"

MODEL=$WORK/model.safetensors
mfs_gen "$MODEL"
mfs_need_ls "$MODEL"
SUM0=$(sha256sum <"$MODEL")
mfs_newdir mnt >/dev/null; MNT=$WORK/mnt
mfs_mount_fg "$MODEL" "$MNT" "$WORK/daemon.log" || die "mount failed"

# --- writes: EROFS from the tools users type ---
erofs() { # DESCRIPTION COMMAND...: COMMAND must fail with "Read-only file system"
    local what=$1
    shift
    if $T "$@" >"$WORK/out" 2>&1; then
        fail "$what succeeded on the mount"
    elif ! grep -q "Read-only file system" "$WORK/out"; then
        fail "$what: $(head -1 "$WORK/out") (expected EROFS)"
    fi
}
erofs "touch new" touch "$MNT/new"
erofs "touch existing" touch "$MNT/format"
erofs "echo >" bash -c "echo x > '$MNT/format'"
erofs "echo >>" bash -c "echo x >> '$MNT/tensors/counts/data'"
erofs "mkdir" mkdir "$MNT/dir"
erofs "rm" rm -f "$MNT/format"
erofs "rm -r" rm -rf "$MNT/tensors/counts"
erofs "mv" mv "$MNT/format" "$MNT/format2"
erofs "chmod" chmod 777 "$MNT/format"
erofs "truncate" truncate -s 0 "$MNT/tensors/counts/data"
[ $FAILED = 0 ] && pass "shell writes get EROFS"
$T "$PYTHON" "$HELPER" check-erofs "$MNT" && pass "write syscalls get EROFS" ||
    fail "write syscalls"

# --- missing names ---
$T "$PYTHON" "$HELPER" check-enoent "$MNT" && pass "ENOENT / ENOTDIR (cached too)" ||
    fail "missing names"
out=$($T cat "$MNT/no/such/file" 2>&1) && fail "cat of a missing file succeeded"
case $out in *"No such file or directory"*) ;; *) fail "cat missing: $out" ;; esac

[ "$(sha256sum <"$MODEL")" = "$SUM0" ] && pass "model file unchanged" ||
    fail "the model file was modified"

# --- a read that fails: EIO, one log line, the daemon stays up ---
# Cut the file inside tensor "big" (its data starts after the small
# tensors); the tensors before it stay readable.
read -r BIG_OFF < <("$PYTHON" - "$MODEL" <<'EOF'
import json, struct, sys
with open(sys.argv[1], 'rb') as f:
    n = struct.unpack('<Q', f.read(8))[0]
    h = json.loads(f.read(n))
print(8 + n + h['big']['data_offsets'][0] + 100000)
EOF
)
[ -n "$BIG_OFF" ] || die "cannot locate tensor big"
truncate -s "$BIG_OFF" "$MODEL"
out=$($T dd if="$MNT/tensors/big/data" of=/dev/null bs=1M 2>&1)
st=$?
if [ $st = 0 ]; then
    fail "reading a tensor cut short succeeded"
else
    case $out in *"Input/output error"*) pass "truncated tensor read gets EIO" ;;
    *) fail "truncated tensor read: $out (expected EIO)" ;; esac
fi
sleep 0.2
if grep -q '^modelfs: read /tensors/big/data: ' "$WORK/daemon.log"; then
    pass "read error logged: $(grep -m1 '^modelfs: read' "$WORK/daemon.log")"
else
    cat "$WORK/daemon.log" >&2
    fail "no 'modelfs: read /tensors/big/data: ...' line in the daemon log"
fi
mfs_alive "$DAEMON_PID" || die "daemon died after a read error"
"$PYTHON" - "$MNT" <<'EOF' && pass "daemon still serves after EIO" || fail "daemon unusable after EIO"
import sys, numpy as np
v = np.fromfile(sys.argv[1] + '/tensors/counts/data', dtype='<i8')
sys.exit(0 if list(v) == [1, -2, 3 << 40] else 1)
EOF

mfs_stop "$MNT" "$DAEMON_PID" || fail "daemon exit status $? after unmount"
exit $FAILED
