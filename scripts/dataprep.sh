#!/usr/bin/env bash
# STEP 0 only (convert the data): sft-nb dataprep.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
exec "$here/.venv/bin/sft-nb" dataprep "$@"
