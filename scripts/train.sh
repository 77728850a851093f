#!/usr/bin/env bash
# The pipeline, STEP 0-3 (convert, register, train, results): sft-nb train.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
exec "$here/.venv/bin/sft-nb" train "$@"
