#!/usr/bin/env bash
# Serve functions/ over HTTP exactly as serverless.yml declares them (serverless-offline), against a
# local AWS endpoint (python -m infra.local_aws). Binds 127.0.0.1:${FUNCTIONS_PORT:-3000}.
#
#   infra/local_aws/serve_functions.sh            # routes at http://127.0.0.1:3000/token ...
#   FUNCTIONS_PORT=3100 AWS_ENDPOINT_URL=http://127.0.0.1:4570 infra/local_aws/serve_functions.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

if [ ! -x node_modules/.bin/osls ]; then
  npm ci --no-audit --no-fund >&2
fi

# serverless-offline starts `python3` from PATH (and prefers $VIRTUAL_ENV/bin): use the project venv.
export VIRTUAL_ENV="${VIRTUAL_ENV:-$ROOT/.venv}"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
# serverless-offline sets LAMBDA_TASK_ROOT, which makes Powertools believe it runs in Lambda.
export POWERTOOLS_TRACE_DISABLED=1
export FUNCTIONS_PORT="${FUNCTIONS_PORT:-3000}"
export FUNCTIONS_LAMBDA_PORT="${FUNCTIONS_LAMBDA_PORT:-3002}"

exec node_modules/.bin/osls offline start --stage local --region "$AWS_DEFAULT_REGION" "$@"
