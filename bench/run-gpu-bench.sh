#!/usr/bin/env bash
# The benchmark half of bench/gpu-all.sh (issue #6): diffusion4j bench on ddpm-cifar10, PyTorch eager (NCHW and
# channels-last), the parity check against PyTorch, torch.compile if time is left, and bench/compare.py's table.
# One device call:
#   run  command "bash bench/run-gpu-bench.sh"  carry [".device"]  timeout_s 480
# BENCH_DEADLINE_S (default 360) bounds the phases. Output as gpu-all.sh's: $OUT/summary.txt, $OUT/results.tgz.
DEADLINE_S="${DEADLINE_S:-${BENCH_DEADLINE_S:-360}}" SKIP="${SKIP:-1 4 6 8}" exec bash "$(dirname "$0")/gpu-all.sh"
