#!/usr/bin/env bash
# pytorch.sh: PyTorch files made during the test with Debian's torch (zip,
# legacy, deflated, every dtype, views, checkpoints with Adam/SGD, whole
# models, TorchScript, a malicious pickle), read through `modelfs ls/cat`
# and compared with torch.load; see pytorch_oracle.py. Exit 77 without
# torch in $PYTHON.
set -u
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
# (the oracle itself exits 77 without torch: one python start, not two)
command -v "$PYTHON" >/dev/null || { echo "skipped: no $PYTHON"; exit 77; }
exec timeout 280 "$PYTHON" "$here/pytorch_oracle.py"
