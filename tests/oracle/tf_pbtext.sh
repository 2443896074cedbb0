#!/usr/bin/env bash
# tf_pbtext.sh: every corpus SavedModel printed as saved_model.pbtxt by an
# independent printer, mounted against its saved_model.pb (ctest
# oracle.tf_pbtext); see tf_pbtext.py.
set -u
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}
: "${MODELFS:?set MODELFS to the modelfs binary}"
exec "$PYTHON" "$here/tf_pbtext.py"
