#!/usr/bin/env bash
# Every GPU figure in one call: the GPU tests, GRPO/RLOO/DPO/PPO against TRL and the memory
# table on a Qwen2.5-0.5B shape in bfloat16 -> docs/results/gpu-<date>.json (bench/gpu_suite.py).
#   bench/gpu_suite.sh             one CUDA GPU, under 8 minutes on an H100
#   bench/gpu_suite.sh --dry-run   the same steps on the CPU at tiny sizes (the suite's test)
# Uses .venv's python (PYTHON= to override): it needs a CUDA build of torch for the real run,
# and `make bench-venvs` for TRL's sides (docs/benchmarks.md, "The GPU suite").
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
exec "$PYTHON" -m bench.gpu_suite "$@"
