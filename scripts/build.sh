#!/usr/bin/env bash
# build.sh [--asan|--fuzz|--san] [extra cmake -D options...]: configures and
# builds modelfs with warnings as errors.
#   (default)  build/       RelWithDebInfo, the compiler cmake finds (gcc)
#   --asan     build-asan/  AddressSanitizer + UBSan (-DMFS_ASAN=ON)
#   --fuzz     build-fuzz/  clang, ASan + UBSan, libFuzzer targets
#                           (-DMFS_FUZZ=ON); the library is compiled with
#                           -fsanitize=fuzzer-no-link so the fuzzers get
#                           coverage feedback from the readers they drive;
#                           only the fuzz_* targets are built
#   --san      build-san/   both at once, for CI: clang, ASan + UBSan,
#                           everything (daemon, unit tests) plus the
#                           coverage-instrumented fuzz targets; one
#                           sanitizer build instead of two
# The build dir is relative to the repository root; MFS_BUILD_DIR overrides
# it. MFS_CMAKE_ARGS adds cmake options (e.g. -DMFS_WERROR=OFF while
# hacking), after the defaults, so they win. Prints the build dir on the
# last line of stdout. Exit status: cmake's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=normal
if [ $# -gt 0 ]; then
  case "$1" in
    --asan) mode=asan; shift ;;
    --fuzz) mode=fuzz; shift ;;
    --san)  mode=san; shift ;;
    --normal) shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  esac
fi
jobs=${MFS_JOBS:-$(nproc 2>/dev/null || echo 2)}
args=(-DMFS_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
case $mode in
  normal) dir=${MFS_BUILD_DIR:-$root/build} ;;
  asan)   dir=${MFS_BUILD_DIR:-$root/build-asan}
          args+=(-DMFS_ASAN=ON -DMFS_BENCH=OFF) ;;
  fuzz)   dir=${MFS_BUILD_DIR:-$root/build-fuzz}
          args+=(-DMFS_FUZZ=ON -DMFS_BENCH=OFF -DCMAKE_C_COMPILER=clang
                 "-DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link") ;;
  san)    dir=${MFS_BUILD_DIR:-$root/build-san}
          args+=(-DMFS_ASAN=ON -DMFS_FUZZ=ON -DMFS_BENCH=OFF -DCMAKE_C_COMPILER=clang
                 "-DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link") ;;
esac
mkdir -p "$dir"
read -r -a env_args <<<"${MFS_CMAKE_ARGS:-}"
cmake -S "$root" -B "$dir" "${args[@]}" "${env_args[@]}" "$@" >"$dir/configure.log" 2>&1 ||
  { cat "$dir/configure.log" >&2; echo "build.sh: cmake configure failed ($mode)" >&2; exit 1; }
# Quiet build: show compiler output (warnings, errors) but not progress lines.
# The fuzz build makes only the fuzz_* targets (and the library they link):
# the suite runs nothing else from it.
targets=()
if [ $mode = fuzz ]; then
  for f in "$root"/tests/fuzz/fuzz_*.c; do
    [ -e "$f" ] && targets+=(--target "$(basename "$f" .c)")
  done
  [ ${#targets[@]} -gt 0 ] || { echo "build.sh: no tests/fuzz/fuzz_*.c yet" >&2; echo "$dir"; exit 0; }
fi
status=0
cmake --build "$dir" -j"$jobs" "${targets[@]}" >"$dir/build.log" 2>&1 || status=$?
grep -vE '^(\[ *[0-9]+%\] )?(Building|Linking|Built target|Generating|Running|Scanning|Consolidate|gmake)' \
  "$dir/build.log" >&2 || true
[ "$status" -eq 0 ] || { echo "build.sh: build failed ($mode), log: $dir/build.log" >&2; exit "$status"; }
echo "$dir"
