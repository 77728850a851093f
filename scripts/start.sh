#!/usr/bin/env bash
# Dry run first (stop on config errors), then the whole pipeline: sft-nb run.
# Usage: scripts/start.sh [--config config.yaml] [--set key.path=value ...] [--run-name NAME]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
exec "$here/.venv/bin/sft-nb" run "$@"
