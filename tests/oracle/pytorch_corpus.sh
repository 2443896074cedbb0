#!/usr/bin/env bash
# pytorch_corpus.sh: every PyTorch/TorchScript/Lightning corpus file against
# EXPECTED.json, and the malicious pickle never runs; see pytorch_corpus.py.
set -u
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
exec timeout 280 "$PYTHON" "$here/pytorch_corpus.py"
