#!/usr/bin/env bash
# One prepared script for a lent GPU machine (its image has torch, triton, pytest; nothing can be fetched).
# Runs the CUDA-only kernel tests, then the kernel benchmark; everything lands in $OUT (or ./gpu-out).
#   device run:  bash benchmarks/gpu_checks.sh   (about 6-9 minutes on an H100; limit_s 600)
set -uo pipefail
out="${OUT:-gpu-out}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$out/gpu.txt"
# 1. correctness on the GPU: the CUDA-marked kernel tests (compiled kernels vs the CPU masks, torch.compile,
#    CUDA-graph replay). TRITON_INTERPRET=0 so tests/kernels/conftest.py does not select the interpreter.
TRITON_INTERPRET=0 timeout 240 python3 -m pytest -q -x -p no:cacheprovider -m cuda tests/kernels 2>&1 | tee "$out/tests.log" | tail -5
# 2. speed: dropout fwd/bwd/full for fp32/bf16/fp16 at 2^16..2^28 and the fused LayerNorm case.
timeout 420 python3 benchmarks/bench_kernels.py --out "$out/kernels.csv" 2>&1 | tee "$out/bench.log" | tail -40
