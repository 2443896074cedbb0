#!/usr/bin/env bash
# demo.sh [MODEL]: sets everything up and shows modelfs at work on a bundled
# example (default mnt-examples/mlp.safetensors): mounts it on a temporary
# directory, lists the root and layers/, prints the first tensor's shape and
# the summary, then unmounts (also on error or Ctrl-C). Every command on the
# mount runs under `timeout`. Without FUSE (/dev/fuse missing) it shows the
# same tree through the no-mount mode (`modelfs ls|cat`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
model=${1:-mnt-examples/mlp.safetensors}
[ -f "$model" ] || { echo "demo.sh: no such model: $model" >&2; exit 1; }

bash scripts/deps.sh
dir=$(bash scripts/build.sh | tail -n 1)
bin=$dir/modelfs
[ -x "$bin" ] || { echo "demo.sh: $bin was not built" >&2; exit 1; }

show() { printf '$ %s\n' "$*"; timeout 20 "$@"; }

if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null 2>&1; then
  echo "(no FUSE on this machine: showing the same tree with the no-mount mode)"
  show "$bin" ls "$model"
  show "$bin" ls "$model" layers
  first=$("$bin" cat "$model" summary | head -n 1 | awk '{print $NF}')
  show "$bin" cat "$model" "tensors/$first/shape"
  show "$bin" cat "$model" summary
  exit 0
fi

mnt=$(mktemp -d "${TMPDIR:-/tmp}/modelfs-demo.XXXXXX")
cleanup() {
  if mountpoint -q "$mnt" 2>/dev/null; then
    timeout 10 fusermount3 -u "$mnt" 2>/dev/null || timeout 10 fusermount3 -uz "$mnt" || true
  fi
  rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show "$bin" "$model" "$mnt"
for _ in $(seq 50); do mountpoint -q "$mnt" && break; sleep 0.1; done
mountpoint -q "$mnt" || { echo "demo.sh: $mnt did not get mounted" >&2; exit 1; }
show ls -l "$mnt"
show ls "$mnt/layers"
first=$(timeout 20 head -n 1 "$mnt/summary" | awk '{print $NF}')
show cat "$mnt/tensors/$first/shape"
show cat "$mnt/summary"
show fusermount3 -u "$mnt"
echo "demo: ok"
