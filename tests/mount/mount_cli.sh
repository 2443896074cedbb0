#!/bin/bash
# mount_cli.sh: the daemon's command line and its refusals.
#   - --version, --help (every -o option, format=ID included), --formats
#     (one line per reader: id + description; safetensors among them);
#   - a model that cannot be mounted (corrupt in several ways, missing,
#     unknown -o format=, a format that does not fit) gives exactly one
#     line "modelfs: ..." on stderr, a non-zero exit, and leaves the mount
#     point unmounted and untouched;
#   - a missing mount point or one that is a file is refused the same way.
. "$(dirname "$0")/common.inc"

# --- informational options ---
out=$("$MODELFS" --version 2>&1) || fail "--version exit $?"
case $out in "modelfs "[0-9]*) pass "--version: $(echo "$out" | head -1)" ;;
*) fail "--version printed: $out" ;; esac

out=$("$MODELFS" --help 2>&1) || fail "--help exit $?"
for want in "format=ID" "timeout=" "log=" "max_read=" "--formats" "-f" "-s" "-d" \
            "MODEL MOUNTPOINT" "allow_other"; do
    case $out in *"$want"*) ;; *) fail "--help does not mention $want" ;; esac
done
pass "--help"

"$MODELFS" --formats >"$WORK/formats" 2>&1 || fail "--formats exit $?"
grep -q '^safetensors[[:space:]]\+[^[:space:]]' "$WORK/formats" ||
    fail "--formats lacks a 'safetensors <description>' line: $(cat "$WORK/formats")"
n_bad=$(grep -cv '^[a-z0-9][a-z0-9-]*[[:space:]]\+[^[:space:]]' "$WORK/formats")
[ "$n_bad" = 0 ] || fail "--formats has $n_bad lines that are not 'id description'"
pass "--formats ($(wc -l <"$WORK/formats") readers)"

# --- refusals: one stderr line, non-zero exit, mount point untouched ---
mfs_newdir mnt >/dev/null; MNT=$WORK/mnt
refuse() { # DESCRIPTION EXPECTED-TEXT ARGS...: modelfs ARGS must refuse cleanly
    local what=$1 text=$2 st lines
    shift 2
    $T "$MODELFS" "$@" >"$WORK/out" 2>"$WORK/err"
    st=$?
    lines=$(wc -l <"$WORK/err")
    if [ $st = 0 ]; then
        fail "$what: exit 0"
    elif [ $st = 124 ]; then
        fail "$what: timed out"
    elif [ "$lines" != 1 ]; then
        fail "$what: $lines stderr lines, expected 1:"; cat "$WORK/err" >&2
    elif ! grep -q "^modelfs: .*$text" "$WORK/err"; then
        fail "$what: '$(cat "$WORK/err")' lacks 'modelfs: ...$text'"
    else
        pass "$what refused: $(cat "$WORK/err")"
    fi
    mfs_is_mounted "$MNT" && { fail "$what: mount point got mounted"; mfs_unmount "$MNT"; }
    [ -z "$(ls -A "$MNT")" ] || fail "$what: mount point no longer empty"
}

for kind in hugeheader badjson truncated badoffsets garbage; do
    f=$WORK/$kind.safetensors
    "$PYTHON" "$HELPER" corrupt "$kind" "$f" || die "cannot write $kind"
    refuse "corrupt model ($kind)" "$f" "$f" "$MNT"
    refuse "corrupt model ($kind), -f" "$f" "$f" "$MNT" -f
done

GOOD=$WORK/model.safetensors
mfs_gen "$GOOD"
mfs_need_ls "$GOOD"
refuse "missing model" "$WORK/nope.safetensors" "$WORK/nope.safetensors" "$MNT"
refuse "unknown -o format" "no-such-format" "$GOOD" "$MNT" -o format=no-such-format
# A format that exists but does not fit the file (any non-safetensors id).
other=$(awk '$1 != "safetensors" { print $1; exit }' "$WORK/formats")
[ -n "$other" ] && refuse "-o format=$other on safetensors" "$GOOD" "$GOOD" "$MNT" -o format="$other"
refuse "missing mount point" "$WORK/nodir" "$GOOD" "$WORK/nodir"
touch "$WORK/afile"
refuse "mount point is a file" "Not a directory" "$GOOD" "$WORK/afile"
refuse "no mount point" "MOUNTPOINT" "$GOOD"

# The good model does mount, with -o format=safetensors (no bidding).
mfs_mount_fg "$GOOD" "$MNT" "$WORK/daemon.log" -o format=safetensors ||
    die "-o format=safetensors does not mount"
[ "$($T cat "$MNT/format")" = safetensors ] && pass "-o format=safetensors mounts" ||
    fail "/format of a -o format=safetensors mount: $($T cat "$MNT/format")"
mfs_stop "$MNT" "$DAEMON_PID" || fail "daemon exit status $?"
exit $FAILED
