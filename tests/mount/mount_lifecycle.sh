#!/bin/bash
# mount_lifecycle.sh: how the daemon starts, serves in parallel, and ends.
#   - SIGTERM, SIGINT and SIGHUP to a foreground daemon unmount cleanly, exit 0;
#   - -s (single-threaded) serves correct bytes;
#   - 8 concurrent readers of one 4 MiB tensor (and of different files)
#     on the default multithreaded daemon all get numpy's bytes;
#   - a second read of a file and a second `ls -R` send no READ/READDIR
#     (keep_cache, readdir cache: counted in the -d debug log);
#   - without -f the command returns once mounted (daemonized), the mount
#     works, and fusermount3 -u ends it.
. "$(dirname "$0")/common.inc"

MODEL=$WORK/model.safetensors
mfs_gen "$MODEL"
mfs_need_ls "$MODEL"
BIG_SHA=$("$PYTHON" "$HELPER" sha x big)

# --- signals ---
# A non-interactive shell starts background jobs with SIGINT ignored, and
# libfuse (rightly) keeps an ignored signal ignored: MFS_EXEC restores the
# default dispositions so the daemon sees SIGINT as from a terminal.
for sig in TERM INT HUP; do
    mfs_newdir "mnt-$sig" >/dev/null; MNT=$WORK/"mnt-$sig"
    MFS_EXEC="env --default-signal=INT,QUIT" \
        mfs_mount_fg "$MODEL" "$MNT" "$WORK/daemon-$sig.log" || die "mount failed"
    $T cat "$MNT/summary" >/dev/null || fail "read before SIG$sig"
    kill -"$sig" "$DAEMON_PID"
    for _ in $(seq 100); do mfs_alive "$DAEMON_PID" || break; sleep 0.1; done
    if mfs_alive "$DAEMON_PID"; then
        fail "daemon still running 10 s after SIG$sig"
    else
        wait "$DAEMON_PID"
        st=$?
        [ $st = 0 ] || fail "daemon exit status $st after SIG$sig"
        mfs_is_mounted "$MNT" && fail "still mounted after SIG$sig" ||
            pass "SIG$sig unmounts cleanly (exit $st)"
    fi
done

# --- single-threaded ---
mfs_newdir mnt-s >/dev/null; MNT=$WORK/mnt-s
mfs_mount_fg "$MODEL" "$MNT" "$WORK/daemon-s.log" -s || die "mount -s failed"
[ "$($T sha256sum <"$MNT/tensors/big/data" | cut -d' ' -f1)" = "$BIG_SHA" ] ||
    fail "-s: tensors/big/data differs from numpy"
$T "$PYTHON" "$HELPER" check-data "$MNT" && pass "-s serves correct bytes" || fail "-s data"
mfs_stop "$MNT" "$DAEMON_PID" || fail "-s daemon exit status $?"

# --- concurrent readers, multithreaded ---
mfs_newdir mnt-mt >/dev/null; MNT=$WORK/mnt-mt
mfs_mount_fg "$MODEL" "$MNT" "$WORK/daemon-mt.log" || die "mount failed"
READERS=()
for i in $(seq 8); do
    ( $T sha256sum <"$MNT/tensors/big/data" | cut -d' ' -f1 >"$WORK/par.$i" ) &
    READERS+=($!)
done
# Meanwhile other files, with small odd-sized reads (dd bs=4097).
for f in tensors/embed.weight/data tensors/pixels/data.npy summary; do
    ( $T dd if="$MNT/$f" bs=4097 2>/dev/null | cmp -s - <("$MODELFS" cat "$MODEL" "$f") ||
        echo "$f" >>"$WORK/par.bad" ) &
    READERS+=($!)
done
wait_jobs_ok=1
for j in "${READERS[@]}"; do wait "$j" || wait_jobs_ok=0; done
for i in $(seq 8); do
    [ "$(cat "$WORK/par.$i")" = "$BIG_SHA" ] || fail "concurrent reader $i got wrong bytes"
done
[ ! -s "$WORK/par.bad" ] || fail "concurrent small reads differ: $(cat "$WORK/par.bad")"
[ $wait_jobs_ok = 1 ] || fail "a concurrent reader failed"
# The page cache now holds big/data: a re-read comes from it, same bytes.
[ "$($T sha256sum <"$MNT/tensors/big/data" | cut -d' ' -f1)" = "$BIG_SHA" ] ||
    fail "cached re-read differs"
[ $FAILED = 0 ] && pass "8 concurrent readers + 3 small-read streams: correct bytes"
mfs_stop "$MNT" "$DAEMON_PID" || fail "daemon exit status $?"

# --- caching: a second read / listing is served by the kernel alone ---
# Requests are counted per requesting pid (the -d log names it), so other
# processes that happen to walk /tmp do not disturb the count.
mfs_newdir mnt-d >/dev/null; MNT=$WORK/mnt-d
mfs_mount_fg "$MODEL" "$MNT" "$WORK/daemon-d.log" -d || die "mount -d failed"
# One python process reads big/data and walks the tree, printing its pid.
pass_pid() {
    $T "$PYTHON" -c 'import os, sys
print(os.getpid(), flush=True)
with open(sys.argv[1], "rb") as f:
    while f.read(1 << 20):
        pass
for _ in os.walk(sys.argv[2]):
    pass' "$MNT/tensors/big/data" "$MNT"
}
ops_by() { # PID OPCODE-REGEX: requests of that kind from that pid
    grep -cE "opcode: ($2) \(.*pid: $1\$" "$WORK/daemon-d.log"
}
p1=$(pass_pid) p2=$(pass_pid)
sleep 0.2
r1=$(ops_by "$p1" READ) r2=$(ops_by "$p2" READ)
d1=$(ops_by "$p1" 'READDIR|READDIRPLUS') d2=$(ops_by "$p2" 'READDIR|READDIRPLUS')
[ "$r1" -gt 0 ] && [ "$r2" = 0 ] && pass "re-read from the page cache ($r1 READs, then none)" ||
    fail "keep_cache: READ requests $r1 then $r2"
[ "$d1" -gt 0 ] && [ "$d2" = 0 ] && pass "re-listing from the readdir cache ($d1 READDIRs, then none)" ||
    fail "readdir cache: READDIR requests $d1 then $d2"
mfs_stop "$MNT" "$DAEMON_PID" || fail "-d daemon exit status $?"

# --- daemonized (no -f) ---
mfs_newdir mnt-bg >/dev/null; MNT=$WORK/mnt-bg
$T "$MODELFS" "$MODEL" "$MNT" -o log="$WORK/daemon-bg.log" ||
    die "daemonized mount exited $?"
mfs_is_mounted "$MNT" || die "modelfs returned but $MNT is not mounted"
pass "daemonized mount returns once mounted"
[ "$($T cat "$MNT/format")" = safetensors ] || fail "daemonized: /format"
$T "$PYTHON" "$HELPER" check-data "$MNT" || fail "daemonized: data"
timeout 20 fusermount3 -u "$MNT" || fail "fusermount3 -u"
mfs_is_mounted "$MNT" && fail "still mounted after fusermount3 -u" ||
    pass "fusermount3 -u ends a daemonized mount"
exit $FAILED
