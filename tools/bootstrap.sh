#!/usr/bin/env bash
# Install everything gpuvirt-nova needs on a fresh Debian 12 machine with
# Python 3.11: Debian build packages, a virtualenv in .venv, the Python
# requirements and the package itself (editable). Safe to run again: it only
# reinstalls when the requirement files change.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${GPUVIRT_VENV:-.venv}
PYTHON=${PYTHON:-python3}

need_debs=()
for pkg in libvirt-dev pkg-config gcc python3-dev python3-venv git; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_debs+=("$pkg")
done
if [ ${#need_debs[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "bootstrap: installing Debian packages: ${need_debs[*]}"
    # Another apt (unattended upgrades on a fresh machine) may hold the
    # dpkg lock: wait for it, bounded, instead of failing at once.
    lock_wait=${GPUVIRT_APT_LOCK_TIMEOUT:-600}
    echo "bootstrap: waiting up to ${lock_wait}s for the dpkg lock if another apt holds it"
    # DPkg::Lock::Timeout covers dpkg's lock, not the lists lock that
    # `apt-get update` takes: retry that one ourselves, same bound.
    waited=0
    until $SUDO apt-get -o DPkg::Lock::Timeout="$lock_wait" update -qq; do
        [ "$waited" -lt "$lock_wait" ] || { echo "bootstrap: apt lists still locked after ${lock_wait}s" >&2; exit 1; }
        sleep 5; waited=$((waited + 5))
    done
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout="$lock_wait" \
        install -y -qq "${need_debs[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.gpuvirt-requirements.sha256"
want=$(cat requirements.txt test-requirements.txt setup.cfg | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "bootstrap: installing Python requirements into $VENV"
    "$VENV/bin/pip" install -q -U pip wheel setuptools
    "$VENV/bin/pip" install -q -r requirements.txt -r test-requirements.txt
    "$VENV/bin/pip" install -q -e .
    echo "$want" > "$stamp"
fi
