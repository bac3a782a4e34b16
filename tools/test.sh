#!/usr/bin/env bash
# Install everything (tools/bootstrap.sh) and run the whole test suite.
# Extra arguments go to `stestr run` (a test filter, for example).
# Ends with one line: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/bootstrap.sh || exit 1
VENV=${GPUVIRT_VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
export OS_WSGI__API_PASTE_CONFIG="$PWD/$VENV/etc/nova/api-paste.ini"
[ -d .stestr ] || stestr init >/dev/null
stestr run --concurrency "${GPUVIRT_TEST_CONCURRENCY:-0}" "$@"
rc=$?
"$VENV/bin/python" tools/summarize_stestr.py || rc=1
exit $rc
