#!/usr/bin/env bash
# Installs one pinned Python tool into its own virtualenv (gitignored). Idempotent: does nothing
# when the pinned version is already installed there. Needs Python 3.9 up to MAX_MINOR with venv;
# on Debian/Ubuntu as root it installs python3-venv itself when missing.
# PYTHON=/path/to/python overrides the choice.
#
# usage: python-tool.sh VENV DISTRIBUTION VERSION REQUIREMENT MAX_MINOR
#   e.g. python-tool.sh .venv-moto moto 5.2.5 'moto[server]==5.2.5' 99
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: $0 VENV DISTRIBUTION VERSION REQUIREMENT MAX_MINOR" >&2; exit 2; }
VENV="$1" DIST="$2" VERSION="$3" REQUIREMENT="$4" MAX_MINOR="$5"

installed_version() {
  "$VENV/bin/python" -c "from importlib.metadata import version; print(version('$DIST'))" 2>/dev/null || true
}

if [ -x "$VENV/bin/python" ] && [ "$(installed_version)" = "$VERSION" ]; then
  echo "$DIST $VERSION already installed in $VENV"
  exit 0
fi

# Prefer a supported minor version over a newer default python3.
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.12 python3.11 python3.10 python3.9 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c "import sys; sys.exit(not ((3, 9) <= sys.version_info[:2] <= (3, $MAX_MINOR)))" 2>/dev/null; then
      PY="$candidate"
      break
    fi
  done
  PY="${PY:-python3}"
fi
command -v "$PY" >/dev/null 2>&1 || { echo "error: $PY not found; install Python 3.9-3.$MAX_MINOR" >&2; exit 1; }

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

echo "installing $REQUIREMENT into $VENV with $("$PY" --version 2>&1)"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
pip_install() { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$@"; }
pip_install --upgrade pip
pip_install "$REQUIREMENT"
echo "installed $DIST $(installed_version) in $VENV"
