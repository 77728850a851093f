#!/usr/bin/env bash
# STEP 0-1b (convert, register, tokenize the data): sft-nb dataprep; --no-tokenize converts only.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
exec "$here/.venv/bin/sft-nb" dataprep "$@"
