#!/usr/bin/env bash
# One prepared script for a lent GPU machine (its image has torch, triton, pytest; nothing can be fetched).
# Runs the CUDA-only kernel tests, then the kernel benchmark; everything lands in $OUT (or ./gpu-out).
#   device run:  bash benchmarks/gpu_checks.sh   (at most 170 + 370 s by its own timeouts; run with timeout_s 600)
# The device image had torch 2.11 and triton 3.6 (KINDS.md); the versions are recorded in $out/gpu.txt.
set -uo pipefail
out="${OUT:-gpu-out}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$out/gpu.txt"
# 1. correctness on the GPU: the CUDA-marked tests (compiled kernels vs the CPU masks, torch.compile and its
#    backward with a stream, CUDA-graph replay, the LayerNorm backward at every benchmarked launch
#    configuration, the native path on CUDA). TRITON_INTERPRET=0 so conftest does not pick the interpreter.
#    No -x: one failure should not hide the others.
TRITON_INTERPRET=0 timeout 170 python3 -m pytest -q -p no:cacheprovider --durations=5 -m cuda tests/kernels tests/functional 2>&1 | tee "$out/tests.log" | tail -12
# 2. speed: the fused LayerNorm case (with backward launch variants) first, then dropout fwd/bwd/full for
#    fp32/bf16/fp16 at 2^28, 2^24, 2^20, 2^16 (block-size variants at 2^28); the targets are at 2^28
#    and 32768x4096 bf16. The CSV is rewritten after each step, so a timeout keeps what was measured.
timeout 370 python3 benchmarks/bench_kernels.py --step-log2 4 --out "$out/kernels.csv" 2>&1 | tee "$out/bench.log" | tail -40
