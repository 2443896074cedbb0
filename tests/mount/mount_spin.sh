#!/bin/bash
# mount_spin.sh: the daemon's request loop (src/fuse/spin.c: one leader
# reads, keeps the role over metadata requests and busy-polls briefly,
# hands it over before reads).
#   - a walk and every file's bytes are the same with the default loop,
#     with -o spin=0 (libfuse's plain read) and with -s;
#   - 4 concurrent readers of data files while a walk runs: all bytes
#     right, nothing hangs (reads hand the role over);
#   - unmounting a busy multithreaded daemon ends it (workers cancelled
#     inside the loop's wait).
. "$(dirname "$0")/common.inc"

MODEL=$WORK/model.safetensors
mfs_gen "$MODEL"
mfs_need_ls "$MODEL"
"$MODELFS" tree "$MODEL" >"$WORK/tree.want" || die "modelfs tree"
mapfile -t DATA < <(grep '^tensors/.*/data$' "$WORK/tree.want")
"$MODELFS" cat "$MODEL" "${DATA[@]}" | sha256sum >"$WORK/data.want"
[ ${#DATA[@]} -ge 2 ] || die "the test model has fewer than 2 tensors"

n=0
for opts in "" "-o spin=0" "-s" "-o spin=5000"; do
    n=$((n + 1))
    mfs_newdir "m$n" >/dev/null; MNT=$WORK/m$n
    # shellcheck disable=SC2086 # opts is a word list on purpose
    mfs_mount_fg "$MODEL" "$MNT" "$WORK/d$n.log" $opts || { fail "mount ${opts:-default}"; continue; }
    mfs_find_tree "$MNT" >"$WORK/tree.$n" || fail "${opts:-default}: find"
    cmp -s "$WORK/tree.want" "$WORK/tree.$n" || fail "${opts:-default}: walk != modelfs tree"
    (cd "$MNT" && $T cat "${DATA[@]}") | sha256sum | cmp -s - "$WORK/data.want" ||
        fail "${opts:-default}: data bytes differ"
    # concurrent readers while walking
    pids=()
    for k in 1 2 3 4; do
        (cd "$MNT" && for _ in 1 2 3; do $T cat "${DATA[@]}"; done) | sha256sum >"$WORK/par.$n.$k" &
        pids+=($!)
    done
    $T ls -R "$MNT" >/dev/null || fail "${opts:-default}: ls -R during reads"
    for p in "${pids[@]}"; do wait "$p"; done
    want3=$(for _ in 1 2 3; do "$MODELFS" cat "$MODEL" "${DATA[@]}"; done | sha256sum)
    for k in 1 2 3 4; do
        [ "$(cat "$WORK/par.$n.$k")" = "$want3" ] || fail "${opts:-default}: concurrent reader $k got other bytes"
    done
    mfs_stop "$MNT" "$DAEMON_PID"
    rc=$?
    [ $rc = 0 ] || fail "${opts:-default}: daemon exit status $rc after unmount (124: did not exit)"
    [ $FAILED = 0 ] && pass "${opts:-default}: walk, bytes, 4 concurrent readers, clean exit"
done
exit $FAILED
