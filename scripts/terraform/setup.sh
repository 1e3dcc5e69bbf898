#!/usr/bin/env bash
# npm run setup:rehearse — installs the pinned moto[server] (scripts/terraform/moto-version) into
# .venv-moto/ (gitignored) for `npm run rehearse`. Idempotent: does nothing when the pinned version
# is already installed. Needs Python >= 3.9 with venv; on Debian/Ubuntu as root it installs
# python3-venv itself when missing. PYTHON=/path/to/python overrides the choice.
set -euo pipefail
cd "$(dirname "$0")/../.."

MOTO_VERSION="$(tr -d '[:space:]' < scripts/terraform/moto-version)"
VENV=.venv-moto

installed_version() {
  "$VENV/bin/python" -c 'from importlib.metadata import version; print(version("moto"))' 2>/dev/null || true
}

if [ -x "$VENV/bin/moto_server" ] && [ "$(installed_version)" = "$MOTO_VERSION" ]; then
  echo "moto $MOTO_VERSION already installed in $VENV"
  exit 0
fi

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.12 python3.11 python3.10 python3.9 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(not sys.version_info[:2] >= (3, 9))' 2>/dev/null; then
      PY="$candidate"
      break
    fi
  done
  PY="${PY:-python3}"
fi
command -v "$PY" >/dev/null 2>&1 || { echo "error: $PY not found; install Python >= 3.9" >&2; exit 1; }

if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  # Debian's python3 ships venv/ensurepip separately.
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "python venv support missing: installing python3-venv with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "error: '$PY -m venv' is not available; install python3-venv (Debian/Ubuntu) and retry" >&2
    exit 1
  fi
fi

echo "installing moto[server] $MOTO_VERSION into $VENV with $("$PY" --version 2>&1)"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
pip_install() { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$@"; }
pip_install --upgrade pip
pip_install "moto[server]==$MOTO_VERSION"
echo "installed moto $(installed_version) in $VENV"
