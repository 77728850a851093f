#!/usr/bin/env bash
# Remove __pycache__ folders. Generated artifacts (data, models, logs, runs; never the shipped DeepSpeed configs)
# only with --artifacts --yes. Without --yes it only prints what it would remove.
set -euo pipefail
cd "$(dirname "$0")/.."
artifacts=0; yes=0
for a in "$@"; do
  case "$a" in
    --artifacts) artifacts=1 ;;
    --yes) yes=1 ;;
    *) echo "unknown option: $a (use --artifacts, --yes)" >&2; exit 2 ;;
  esac
done
find . -path ./.venv -prune -o -type d -name __pycache__ -print0 | xargs -0 rm -rf
echo "removed __pycache__ folders"
if [ "$artifacts" = 1 ]; then
  targets=()
  for p in artifacts/*; do
    [ -e "$p" ] || continue
    [ "$p" = artifacts/training_config ] && continue
    targets+=("$p")
  done
  for p in artifacts/training_config/*; do
    [ -e "$p" ] || continue
    [ "$p" = artifacts/training_config/deepspeed ] && continue
    targets+=("$p")
  done
  if [ "${#targets[@]}" = 0 ]; then echo "no generated artifacts"; exit 0; fi
  if [ "$yes" = 1 ]; then rm -rf -- "${targets[@]}"; printf 'removed %s\n' "${targets[@]}";
  else printf 'would remove %s\n' "${targets[@]}"; echo "add --yes to remove them"; fi
fi
