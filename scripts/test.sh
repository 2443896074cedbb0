#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it (.ci/run calls this).
#   1. scripts/deps.sh (no-op when everything is installed)
#   2. normal build (build/)       -> ctest, every test
#   3. ASan + UBSan build (build-asan/) -> ctest, every test again
#   4. libFuzzer build (build-fuzz/)    -> ctest -R '^fuzz\.', each target
#      for MFS_FUZZ_SECONDS (default 5) seconds: its seeds first, whatever
#      that takes, then mutations for the rest
# ctest runs with --output-on-failure -j2. A stage whose build fails counts
# as one failure and the next stage still runs. Each stage prints its wall
# time and the sum of its tests' times. Ends with the plain line
# "N passed, N failed, N skipped" over all stages; exit 1 if anything
# failed. Env: MFS_STAGES (default "normal asan fuzz") picks stages,
# MFS_FUZZ_SECONDS, MFS_CTEST_ARGS (extra ctest arguments, e.g. -R oracle).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
stages=${MFS_STAGES:-normal asan fuzz}
fuzz_secs=${MFS_FUZZ_SECONDS:-5}
read -r -a extra <<<"${MFS_CTEST_ARGS:-}"
npass=0 nfail=0 nskip=0
t0=$(date +%s)

bash scripts/deps.sh || { echo "test.sh: scripts/deps.sh failed"; echo "0 passed, 1 failed"; exit 1; }

# Sanitizer settings for the asan and fuzz stages: stop at the first
# report, with a stack, so ctest shows where it happened.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/scripts/lsan.supp:print_suppressions=0}

# count_ctest LOG: adds the log's passed/failed/skipped to the totals and
# prints this stage's counts.
count_ctest() {
  local log=$1 p s total f
  p=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed +[0-9.]+ sec' "$log")
  s=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*(\*\*\*Skipped|\*\*\*Not Run|Not Run)' "$log")
  total=$(sed -nE 's/.*tests? failed out of ([0-9]+).*/\1/p' "$log" | tail -1)
  total=${total:-$((p + s))}
  f=$((total - p - s))
  [ "$f" -lt 0 ] && f=0
  # ctest could not run at all (bad build dir, no tests file): one failure
  grep -q 'tests\? failed out of' "$log" || grep -q 'No tests were found' "$log" || f=$((f + 1))
  npass=$((npass + p)) nfail=$((nfail + f)) nskip=$((nskip + s))
  echo "== $2: $p passed, $f failed, $s skipped"
}

run_stage() {
  local name=$1 flag=$2 dir=$3 ts
  shift 3
  ts=$(date +%s)
  echo "== stage $name: build ($dir)"
  if ! bash scripts/build.sh $flag "${build_extra[@]}" >/dev/null; then
    echo "== $name: build FAILED"
    nfail=$((nfail + 1))
    return
  fi
  echo "== stage $name: ctest"
  ctest --test-dir "$dir" --output-on-failure -j2 --timeout 600 "$@" "${extra[@]}" \
    2>&1 | tee "$dir/ctest.log"
  count_ctest "$dir/ctest.log" "$name"
  echo "== stage $name took $(( $(date +%s) - ts )) s (tests: $(sed -nE \
    's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: .* ([0-9.]+) sec$/\1/p' "$dir/ctest.log" |
    awk '{ s += $1 } END { printf "%.0f", s }') s summed)"
}

for st in $stages; do
  build_extra=()
  case $st in
    normal) run_stage normal "" build ;;
    asan)   run_stage asan --asan build-asan ;;
    fuzz)   build_extra=("-DMFS_FUZZ_SECONDS=$fuzz_secs")
            run_stage fuzz --fuzz build-fuzz -R '^fuzz\.' ;;
    *) echo "test.sh: unknown stage $st"; nfail=$((nfail + 1)) ;;
  esac
done
echo "== all stages took $(( $(date +%s) - t0 )) s"
echo "$npass passed, $nfail failed, $nskip skipped"
[ "$nfail" -eq 0 ]
