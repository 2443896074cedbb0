#!/usr/bin/env bash
# deps.sh: installs everything modelfs needs to build, test, fuzz and
# benchmark on a fresh Debian 12 machine (Debian packages only).
#
# Idempotent and quiet: when every package is already installed (dpkg
# check) it does nothing, so reruns cost a fraction of a second; otherwise
# it runs `apt-get update` then one `apt-get install`. Needs root (uses
# sudo when run as another user and sudo exists). Exit status: apt's.
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake pkg-config git
  # libFuzzer (clang -fsanitize=fuzzer) and symbolized sanitizer reports
  clang clang-14 libclang-rt-14-dev llvm-14
  # libraries linked into libmodelfs / the daemon
  fuse3 libfuse3-dev libhdf5-dev libzip-dev libprotobuf-c-dev protobuf-c-compiler
  zlib1g-dev libjansson-dev libssl-dev libsnappy-dev liblzma-dev liblz4-dev
  libzstd-dev libbz2-dev
  # oracles and fixture writers: Debian's /usr/bin/python3 and its packages
  python3 python3-numpy python3-h5py python3-torch python3-joblib python3-sklearn
  # tools the tests and the benchmark call
  attr fuse-zip hyperfine lz4 zstd xz-utils bzip2 gzip zip unzip
  coreutils diffutils findutils util-linux procps time file
)

# One dpkg-query for all: the installed ones; the rest are missing.
installed=" $(dpkg-query -W -f='${Package} ${Status}\n' "${PKGS[@]}" 2>/dev/null |
              awk '/install ok installed/ {printf "%s ", $1}') "
missing=()
for p in "${PKGS[@]}"; do
  case "$installed" in *" $p "*) ;; *) missing+=("$p") ;; esac
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo
  else echo "deps.sh: not root and no sudo; install as root: ${missing[*]}" >&2; exit 1; fi
fi
echo "deps.sh: installing ${#missing[@]} package(s): ${missing[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt() { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get "$@" >>"$log" 2>&1 ||
        { cat "$log" >&2; echo "deps.sh: apt-get $1 failed" >&2; exit 1; }; }
apt update -q
apt install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "${PKGS[@]}"
echo "deps.sh: done"
