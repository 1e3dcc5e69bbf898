#!/usr/bin/env bash
# npm run setup:scan — installs the pinned checkov into .venv-scan/ (gitignored). Idempotent:
# does nothing when the pinned version is already there. Needs python3 (3.9-3.12) with venv.
set -euo pipefail
cd "$(dirname "$0")/../.."

CHECKOV_VERSION="$(tr -d '[:space:]' < scripts/scan/checkov-version)"
VENV=.venv-scan
PY="${PYTHON:-python3}"

installed_version() {
  "$VENV/bin/python" -c 'from checkov.version import version; print(version)' 2>/dev/null || true
}

if [ -x "$VENV/bin/checkov" ] && [ "$(installed_version)" = "$CHECKOV_VERSION" ]; then
  echo "checkov $CHECKOV_VERSION already installed in $VENV"
  exit 0
fi

if ! "$PY" -m venv --help >/dev/null 2>&1 || ! "$PY" -c 'import ensurepip' >/dev/null 2>&1; then
  # Debian's python3 ships venv/ensurepip separately.
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "python3 venv support missing: installing python3-venv with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
  else
    echo "error: '$PY -m venv' is not available; install python3-venv (Debian/Ubuntu) and retry" >&2
    exit 1
  fi
fi

rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
echo "installed checkov $(installed_version) in $VENV"
