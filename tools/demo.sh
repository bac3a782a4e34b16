#!/usr/bin/env bash
# Install everything (tools/bootstrap.sh) and run the main job on embedded
# defaults: simulated hosts, no cloud needed. Extra arguments go to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/bootstrap.sh
exec "${GPUVIRT_VENV:-.venv}/bin/gpuvirt-nova" demo "$@"
