#!/usr/bin/env bash
# The GPU table of bench/train_throughput.py, as one prepared script for a GPU machine (an H200 with Python 3.12 and
# torch, no network). Written here without a GPU; not run yet. From a session that has one:
#   bash bench/gpu_wheels.sh                                   # here, with PyPI: fills bench/wheels (<= 64 MiB)
#   run(command="bash bench/gpu.sh", carry=["bench/wheels"], timeout_s=600)
# It installs the carried wheels into a venv on top of the machine's torch, checks that LLaMA-Factory imports (naming
# what is missing if not), then runs the table: SDPA (LLaMA-Factory defaults) vs sft_nb's default vs group_by_length vs
# packing vs neat_packing vs liger kernels on long-tailed data, and the Qwen2.5-0.5B-shaped row (tokens/s, MFU),
# in under 10 minutes. The table lands in $OUT/gpu_table.md (bench/gpu_table.md without $OUT): copy it into the README.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench}
VENV=${VENV:-/tmp/sft_nb_gpu_venv}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu_info.txt"
python3 -m venv --system-site-packages "$VENV"
"$VENV/bin/python" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$OUT/gpu_info.txt"
"$VENV/bin/pip" install -q --no-index --no-deps bench/wheels/*.whl bench/wheels/*.tar.gz 2>&1 | tail -5
"$VENV/bin/python" - <<'PY' | tee -a "$OUT/gpu_info.txt"
import importlib
missing = []
for m in ("llamafactory.train.tuner", "llamafactory.data", "liger_kernel.transformers", "datasets", "transformers"):
    try: importlib.import_module(m)
    except ImportError as e: missing.append(f"{m}: {e}")
print("imports ok" if not missing else "MISSING (add their wheels to bench/gpu_wheels.sh):\n  " + "\n  ".join(missing))
if missing: raise SystemExit(3)
PY
export PYTHONPATH=$PWD DISABLE_VERSION_CHECK=1 HF_HUB_OFFLINE=1
timeout 540 "$VENV/bin/python" bench/train_throughput.py --gpu --samples 2000 --median-words 400 --cutoff 4096 --batch 8 \
  --repeat 1 --big-steps 12 --big-cutoff 4096 --out "$OUT/gpu_table.md" 2>&1 | grep -v -E "WARNING|warn" | tail -40
