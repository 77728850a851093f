#!/usr/bin/env bash
# Fill bench/wheels/ (ignored by git) with what bench/gpu.sh installs on a GPU machine that has Python 3.12 and torch
# but no network: LLaMA-Factory 0.9.5 (without its web UI dependencies), transformers 4.57.1, datasets, liger-kernel and
# the small libraries they import at train time. Run here, where PyPI is reachable. Stays under the 64 MiB a device run carries.
set -euo pipefail
cd "$(dirname "$0")"
PIP=${PIP:-../.venv/bin/pip}
mkdir -p wheels
"$PIP" download -q --no-deps --python-version 3.12 --only-binary=:all: \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 -d wheels \
  llamafactory==0.9.5 transformers==4.57.1 datasets==4.0.0 liger-kernel==0.8.5 accelerate==1.11.0 peft==0.18.1 trl==0.24.0 \
  tokenizers==0.22.1 safetensors huggingface_hub==0.36.0 omegaconf==2.4.0 einops dill==0.3.8 multiprocess==0.70.16 xxhash \
  fsspec==2025.3.0 pyarrow==21.0.0
"$PIP" download -q --no-deps --no-binary=:all: -d wheels antlr4-python3-runtime==4.9.3
size=$(du -sm wheels | cut -f1)
echo "bench/wheels: ${size} MiB"
[ "$size" -le 64 ] || { echo "over the 64 MiB a device run carries: drop pyarrow if the GPU machine has it" >&2; exit 1; }
