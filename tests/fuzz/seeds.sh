#!/usr/bin/env bash
# seeds.sh NAME DIR: copies seed inputs for fuzz target NAME into DIR
# (mnt-examples and, when present, corpus files of the reader's format).
# One case per target; a target without a case starts from nothing.
set -u
name=$1 dir=$2
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
corpus=${MFS_SHARED:-$src/../shared}/corpus
seed() { for f in "$@"; do [ -f "$f" ] && cp -f "$f" "$dir/" 2>/dev/null; done; return 0; }
case "$name" in
  fuzz_safetensors)
    seed "$src"/mnt-examples/*.safetensors "$corpus"/generated/safetensors/*.safetensors \
         "$corpus"/public/safetensors/*/*.safetensors ;;
  fuzz_bidding)
    seed "$src"/mnt-examples/* ;;
esac
exit 0
