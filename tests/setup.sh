#!/usr/bin/env bash
# Installs what the suite's own tests use on a fresh Debian machine, and makes sure Postgres is up.
# Needs root (or sudo) for the system packages. Python packages go into .venv (requirements-test.txt:
# the suite's own requirements.txt plus its test tools), never into the machine's Python.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
packages="git curl docker-registry skopeo chromium apache2-utils postgresql bubblewrap"
missing=""
for p in $packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
# Debian's python3 ships venv without ensurepip; python3-venv brings it
python3 -c "import ensurepip" 2>/dev/null || missing="$missing python3-venv"
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements-test.txt
# the checkout itself, editable: the folder plugins/ imports as the package `releasegate`
.venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
# The tests use the machine's Postgres on 127.0.0.1:5432 (trust auth as postgres).
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  for version in $(ls /etc/postgresql 2>/dev/null); do
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi
pg_isready -h 127.0.0.1 -p 5432
