#!/usr/bin/env bash
# Remove __pycache__ folders. With --artifacts: generated artifacts (data, models, logs, runs, notebooks, demo; never the
# shipped DeepSpeed configs). With --repo-cache: the repo's package and tool caches (.pytest_cache, *.egg-info, _proc,
# _docs, .ipynb_checkpoints, artifacts/.cache, build, dist). Both only with --yes; without it, print what would go.
set -euo pipefail
cd "$(dirname "$0")/.."
artifacts=0; repo_cache=0; yes=0
for a in "$@"; do
  case "$a" in
    --artifacts) artifacts=1 ;;
    --repo-cache) repo_cache=1 ;;
    --yes) yes=1 ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "unknown option: $a (use --artifacts, --repo-cache, --yes)" >&2; exit 2 ;;
  esac
done
find . -path ./.venv -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
echo "removed __pycache__ folders"
targets=()
if [ "$artifacts" = 1 ]; then
  for p in artifacts/* artifacts/.cache artifacts/training_config/*; do
    [ -e "$p" ] || continue
    case "$p" in artifacts/training_config|artifacts/training_config/deepspeed) continue ;; esac
    targets+=("$p")
  done
fi
if [ "$repo_cache" = 1 ]; then
  for p in .pytest_cache *.egg-info _proc _docs build dist artifacts/.cache; do [ -e "$p" ] && targets+=("$p"); done
  while IFS= read -r -d '' p; do targets+=("$p"); done < <(find . -path ./.venv -prune -o -type d -name .ipynb_checkpoints -print0)
fi
if [ "${#targets[@]}" = 0 ]; then
  [ "$artifacts$repo_cache" != 00 ] && echo "nothing else to remove"
  exit 0
fi
if [ "$yes" = 1 ]; then rm -rf -- "${targets[@]}"; printf 'removed %s\n' "${targets[@]}"
else printf 'would remove %s\n' "${targets[@]}"; echo "nothing removed: add --yes to remove them"; fi
