#!/usr/bin/env bash
# npm run setup:scan — the pinned checkov (scripts/scan/checkov-version) in .venv-scan/.
# checkov supports Python 3.9-3.12 and pins most of its own dependencies.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION="$(tr -d '[:space:]' < scripts/scan/checkov-version)"
exec bash scripts/python-tool.sh .venv-scan checkov "$VERSION" "checkov==$VERSION" 12
