#!/usr/bin/env bash
# The mini cloud: a multi-process OpenStack on 127.0.0.1 running our driver.
#
#   tools/minicloud.sh up       # start it (about two minutes), print its processes
#   tools/minicloud.sh status   # processes, their memory and configuration files
#   tools/minicloud.sh down     # stop every process it started, drop its databases
#   tools/minicloud.sh restart compute-mig   # one nova-compute, stopped by PID and started again
#
# Keystone, Glance and the Neutron API do not share Nova's pins: they are
# installed from tools/minicloud/requirements.txt (exact versions in
# constraints.txt) into a virtualenv of their own, kept under
# ${XDG_CACHE_HOME:-~/.cache}/gpuvirt-nova and reused while those files are
# unchanged. Nova, Placement and gpuvirt-nova run from the project's .venv
# (tools/bootstrap.sh). Needs MariaDB on 127.0.0.1:3306 (root, no password)
# and RabbitMQ on 127.0.0.1:5672 (guest/guest). Settings (environment):
# GPUVIRT_MINICLOUD_STATE (default .minicloud), GPUVIRT_MINICLOUD_PORT_BASE
# (25000: Keystone, then Placement, Glance, Neutron, Nova at +1..+4).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
VENV=${GPUVIRT_VENV:-.venv}
PYTHON=${PYTHON:-python3}
action=${1:-}
case "$action" in
    up|down|status|restart) ;;
    *) echo "usage: $0 up|down|status|restart COMPUTE" >&2; exit 2 ;;
esac

want=$(cat tools/minicloud/requirements.txt tools/minicloud/constraints.txt \
       | sha256sum | cut -c1-12)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/gpuvirt-nova
export GPUVIRT_MINICLOUD_VENV=${GPUVIRT_MINICLOUD_VENV:-$cache/minicloud-venv-$want}
if [ "$action" = up ] && [ ! -f "$GPUVIRT_MINICLOUD_VENV/.installed" ]; then
    echo "minicloud: installing Keystone, Glance, Neutron into $GPUVIRT_MINICLOUD_VENV"
    rm -rf "$GPUVIRT_MINICLOUD_VENV"
    mkdir -p "$cache"
    "$PYTHON" -m venv "$GPUVIRT_MINICLOUD_VENV"
    install_log="$GPUVIRT_MINICLOUD_VENV/install.log"
    if ! { "$GPUVIRT_MINICLOUD_VENV/bin/pip" install -q -U pip wheel setuptools &&
           "$GPUVIRT_MINICLOUD_VENV/bin/pip" install -q \
               -c tools/minicloud/constraints.txt \
               -r tools/minicloud/requirements.txt; } >"$install_log" 2>&1; then
        echo "minicloud: install failed; the end of $install_log:" >&2
        tail -n 20 "$install_log" >&2
        exit 1
    fi
    touch "$GPUVIRT_MINICLOUD_VENV/.installed"
fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
exec "$VENV/bin/python" -m tools.minicloud.cloud "$@"
