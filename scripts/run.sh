#!/usr/bin/env bash
# One command: set up (if needed) and run the whole platform locally on the offline defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m infra.stack "$@"
