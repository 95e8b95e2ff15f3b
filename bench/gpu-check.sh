#!/usr/bin/env bash
# The correctness half of bench/gpu-all.sh (issue #5): the CUDA probe, every JUnit test tagged "gpu" and the main
# job on the GPU (the README's default `train --device cuda`, then `sample --check-shapes`). One device call:
#   run  command "bash bench/gpu-check.sh"  carry [".device"]  timeout_s 600
# Output as gpu-all.sh's: $OUT/summary.txt, $OUT/results.tgz, $OUT/run.log.
SKIP="${SKIP:-2 3 5 6 7 8}" exec bash "$(dirname "$0")/gpu-all.sh"
