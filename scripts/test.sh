#!/usr/bin/env bash
# One command: set up (if needed) and run every check — lint, types, web unit tests, then pytest
# (unit, protocol, end-to-end through the development SFU, and the browser test in Debian's chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "ruff (lint and format)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
step "mypy"
.venv/bin/mypy agent_worker functions infra benchmarks
step "web: type check and Vitest"
(cd web && npm run --silent typecheck && npm test --silent)
step "pytest"
exec .venv/bin/pytest "$@"
