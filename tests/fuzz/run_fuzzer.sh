#!/usr/bin/env bash
# run_fuzzer.sh BIN NAME CORPUS_DIR SECONDS: runs one libFuzzer target for
# SECONDS, seeded with the fixtures its reader handles (tests/fuzz/seeds.sh).
set -eu
bin=$1 name=$2 corpus=$3 secs=$4
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$corpus"
if [ -x "$here/seeds.sh" ] || [ -f "$here/seeds.sh" ]; then bash "$here/seeds.sh" "$name" "$corpus" || true; fi
exec "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "$corpus"
