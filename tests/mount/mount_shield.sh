#!/bin/bash
# mount_shield.sh: the open runs in a watched child (src/tools/shield.c).
#   - an open that hangs (a FIFO nobody writes: the probe blocks) ends
#     after MFS_OPEN_TIMEOUT with one line, exit 1, nothing mounted: for a
#     mount and for `modelfs ls`;
#   - an open that crashes (the child gets SIGSEGV while blocked) gives one
#     "crashed (Segmentation fault)" line, exit 1, nothing mounted;
#   - killing the command while it opens kills the child too;
#   - a mount detaches: the command returns 0 once mounted, the daemon is
#     in a session of its own with cwd /, and unmounts cleanly;
#   - `modelfs cat ... | head -c 1` ends quietly (the child's SIGPIPE is
#     not reported as a crash);
#   - isolated opens skip the HDF5 reader's own canary fork (it runs with
#     MFS_SHIELD=0, where nothing else guards the open).
# Sanitizer builds open in-process (no shield): the test is skipped there.
. "$(dirname "$0")/common.inc"

MODEL=$WORK/model.safetensors
mfs_gen "$MODEL"
mfs_need_ls "$MODEL"
if "$MODELFS" --version 2>/dev/null | grep -q 'shield: off'; then
    echo "SKIP: this build opens in-process (sanitizers)" >&2
    exit 77
fi
mfs_newdir mnt >/dev/null; MNT=$WORK/mnt
FIFO=$WORK/model.fifo
mkfifo "$FIFO" || die "mkfifo"

one_line() { # FILE WANT: exactly one line, containing WANT
    [ "$(wc -l <"$1")" = 1 ] && grep -q -- "$2" "$1"
}

# --- hang: the timeout ends it ---
t0=$SECONDS
MFS_OPEN_TIMEOUT=2 $T "$MODELFS" "$FIFO" "$MNT" 2>"$WORK/hang.err"
rc=$?
[ $rc = 1 ] && one_line "$WORK/hang.err" "gave up after 2 s" && [ $((SECONDS - t0)) -lt 15 ] &&
    ! mfs_is_mounted "$MNT" && pass "hung mount: one line, exit 1, not mounted" ||
    fail "hung mount: rc $rc, $(cat "$WORK/hang.err")"
MFS_OPEN_TIMEOUT=2 $T "$MODELFS" ls "$FIFO" >/dev/null 2>"$WORK/hang2.err"
rc=$?
[ $rc = 1 ] && one_line "$WORK/hang2.err" "gave up after 2 s" &&
    pass "hung ls: one line, exit 1" || fail "hung ls: rc $rc, $(cat "$WORK/hang2.err")"

# shielded_child PARENT: sets child to the shield's child of PARENT (the
# modelfs started last, in the background), waiting up to 5 s for it.
shielded_child() {
    PIDS+=("$1")
    child=
    for _ in $(seq 100); do
        child=$(pgrep -P "$1" -x modelfs | head -1)
        [ -n "$child" ] && PIDS+=("$child") && return 0
        sleep 0.05
    done
    return 1
}

# --- crash: SIGSEGV in the child while it opens ---
MFS_OPEN_TIMEOUT=30 "$MODELFS" "$FIFO" "$MNT" 2>"$WORK/crash.err" & # its own limit: 30 s
parent=$!
if ! shielded_child "$parent"; then
    fail "no shielded child under $parent"
    kill "$parent" 2>/dev/null
else
    kill -SEGV "$child"
    wait "$parent"
    rc=$?
    [ $rc = 1 ] && one_line "$WORK/crash.err" "crashed (Segmentation fault) while opening it" &&
        ! mfs_is_mounted "$MNT" && pass "crash: one line, exit 1, not mounted" ||
        fail "crash: rc $rc, $(cat "$WORK/crash.err")"
fi

# --- killing the command takes the opening child with it ---
"$MODELFS" ls "$FIFO" >/dev/null 2>&1 &
parent=$!
shielded_child "$parent"
kill -TERM "$parent"
wait "$parent" 2>/dev/null
for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
[ -n "$child" ] && ! kill -0 "$child" 2>/dev/null && pass "killed command: its child is gone too" ||
    fail "child ${child:-?} outlived its killed parent"

# --- a normal mount detaches ---
$T "$MODELFS" "$MODEL" "$MNT" 2>"$WORK/mount.err" || fail "mount: $(cat "$WORK/mount.err")"
if mfs_is_mounted "$MNT"; then
    daemon=$(pgrep -f "^$MODELFS $MODEL $MNT\$" | head -1)
    PIDS+=("$daemon")
    [ -n "$daemon" ] && [ "$(ps -o sid= -p "$daemon" | tr -d ' ')" = "$daemon" ] &&
        [ "$(readlink "/proc/$daemon/cwd")" = / ] && [ ! -s "$WORK/mount.err" ] &&
        pass "mount returns once mounted; daemon $daemon leads its own session, cwd /" ||
        fail "daemon ${daemon:-?}: sid $(ps -o sid= -p "${daemon:-1}"), cwd $(readlink "/proc/${daemon:-1}/cwd")"
    [ "$($T cat "$MNT/format")" = safetensors ] || fail "format through the mount"
    mfs_unmount "$MNT"
    for _ in $(seq 100); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$daemon" 2>/dev/null && fail "daemon still running after unmount" ||
        pass "daemon exits on unmount"
else
    fail "modelfs returned 0 but nothing is mounted"
fi

# --- SIGPIPE is not a crash ---
vals=$("$MODELFS" tree "$MODEL" | grep '^tensors/.*/values$' | head -1)
mapfile -t many < <(for _ in $(seq 4000); do echo "$vals"; done) # far more than a pipe holds
out=$( { $T "$MODELFS" cat "$MODEL" "${many[@]}" | head -c 1 >/dev/null; echo "status ${PIPESTATUS[0]}"; } 2>&1)
[ "$out" = "status 141" ] && pass "cat | head -c 1: ends by SIGPIPE, quietly" ||
    fail "cat | head -c 1: $out (want status 141, nothing on stderr)"

# --- the HDF5 canary: skipped when shielded, run without the shield ---
if "$PYTHON" -c 'import h5py' 2>/dev/null; then
    "$PYTHON" -c "
import h5py, numpy as np
with h5py.File('$WORK/m.h5', 'w') as f:
    f.create_dataset('g/x', data=np.arange(6, dtype='<f4'))" || die "h5py"
    MFS_H5_CANARY_DEBUG=1 "$MODELFS" ls "$WORK/m.h5" >/dev/null 2>"$WORK/c1.err"
    MFS_H5_CANARY_DEBUG=1 MFS_SHIELD=0 "$MODELFS" ls "$WORK/m.h5" >/dev/null 2>"$WORK/c2.err"
    ! grep -q '^canary:' "$WORK/c1.err" && grep -q '^canary:' "$WORK/c2.err" &&
        pass "HDF5 canary: off under the shield, on with MFS_SHIELD=0" ||
        fail "HDF5 canary: shielded '$(cat "$WORK/c1.err")', unshielded '$(cat "$WORK/c2.err")'"
fi
exit $FAILED
