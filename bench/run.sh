#!/bin/bash
# run.sh: the modelfs benchmarks, one command.
#
#   bench/run.sh [-b BUILD_DIR] [-n REPEAT] [SECTION...]
#
# Runs bench/bench_<SECTION>.sh for each SECTION given (default: every
# bench/bench_*.sh, in name order) and prints one table per section, with
# the machine it ran on. A section is a bash script that sources
# bench/lib.inc and prints rows with bench_row; to add one (pytorch, hdf5,
# tf ...), drop a bench/bench_<name>.sh next to this file.
#
# Environment passed to every section:
#   MODELFS      the modelfs binary        (default BUILD_DIR/modelfs)
#   MFS_CEILING  the ceiling FUSE server   (default BUILD_DIR/bench/mfs_ceiling)
#   BENCH_DIR    work dir for generated models and mount points
#                (default /tmp/modelfs-bench; generated files are kept
#                 there and reused by later runs)
#   BENCH_REPEAT runs per measurement, the best is reported (default 5)
#   PYTHON       /usr/bin/python3 (numpy)
#   MFS_SRC_DIR  the source tree
# Exit status: 0 when every section ran (targets missed are shown as MISS
# in the tables, not as a failure), 1 when a section could not run.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BUILD=${BUILD_DIR:-$SRC/build}
REPEAT=${BENCH_REPEAT:-5}

while getopts "b:n:h" o; do
    case $o in
    b) BUILD=$OPTARG ;;
    n) REPEAT=$OPTARG ;;
    *) sed -n '2,/^set -u/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

export MODELFS=${MODELFS:-$BUILD/modelfs}
export MFS_CEILING=${MFS_CEILING:-$BUILD/bench/mfs_ceiling}
export BENCH_DIR=${BENCH_DIR:-/tmp/modelfs-bench}
export BENCH_REPEAT=$REPEAT
export PYTHON=${PYTHON:-/usr/bin/python3}
export MFS_SRC_DIR=$SRC
for b in "$MODELFS" "$MFS_CEILING"; do
    [ -x "$b" ] || { echo "run.sh: $b missing: build first (cmake --build $BUILD)" >&2; exit 1; }
done
mkdir -p "$BENCH_DIR"

if [ $# -eq 0 ]; then
    set -- $(cd "$HERE" && ls bench_*.sh | sed -e 's/^bench_//' -e 's/\.sh$//')
fi

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
echo "modelfs benchmarks  $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $cpu, $(nproc) CPUs, $mem RAM, Linux $(uname -r), libfuse $(pkg-config --modversion fuse3 2>/dev/null || echo '?')"
echo "modelfs: $("$MODELFS" --version 2>/dev/null | head -1) ($MODELFS)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

status=0
for s in "$@"; do
    script=$HERE/bench_$s.sh
    echo
    echo "== $s"
    if [ ! -f "$script" ]; then
        echo "  no such section ($script)"
        status=1
        continue
    fi
    bash "$script" || { echo "  section $s failed"; status=1; }
done
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
