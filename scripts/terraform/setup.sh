#!/usr/bin/env bash
# npm run setup:rehearse — the pinned moto[server] (scripts/terraform/moto-version) in .venv-moto/
# for `npm run rehearse`.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION="$(tr -d '[:space:]' < scripts/terraform/moto-version)"
exec bash scripts/python-tool.sh .venv-moto moto "$VERSION" "moto[server]==$VERSION" 99
