#!/usr/bin/env bash
# Every GPU check of the project in ONE run, for the device machine (GPU, no JDK, no network).
#
# Here, first:   bash ../shared/device/bundle.sh            (builds the jar, packs .device/)
# Then, via the device tool:  run  command "bash bench/gpu-check.sh"  carry [".device"]  timeout_s 480
#
# Runs (1) the CUDA availability probe, (2) all JUnit tests tagged "gpu" (they compare every Backend op, whole
# training steps and a DDIM loop of the tiny U-Net with the CPU backend), and prints a summary: the JUnit counts,
# the failures, and the numeric comparison lines. Everything is also in $OUT/run.log; JUnit XML goes to $OUT/junit
# and the summary to $OUT/gpu-check-summary.txt (commit it under bench/results/ with the GPU and driver).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/device-out}
mkdir -p "$OUT"
if [ ! -x .device/run.sh ]; then
  echo "no .device/run.sh: run 'bash ../shared/device/bundle.sh' here first and carry [\".device\"]" >&2
  exit 2
fi
log="$OUT/run.log"

echo "== probe"
bash .device/run.sh java io.github.diffusion4j.backend.cuda.CudaAvailability

echo "== gpu-tagged tests"
start=$(date +%s)
# a hard limit inside the device call's own, so that the summary is still printed
timeout 420 bash .device/run.sh tests --include-tag gpu --reports-dir "$OUT/junit"
rc=$?
echo "== tests finished with exit code $rc after $(( $(date +%s) - start )) s"

{
  echo "# gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  grep -m1 -E '^CUDA (available|unavailable)|^backend auto' "$log" || true
  echo "## JUnit"
  grep -E '^\[ +[0-9]+ (containers|tests) (found|skipped|started|aborted|successful|failed) +\]' "$log" | tail -n 12
  echo "## failures"
  grep -E '✘' "$log" | head -n 60 || true
  echo "## op comparisons, GPU vs CPU"
  grep -E '^\[gpu-(fp32|tf32)\]' "$log" | head -n 400
  grep -E '^cuDNN plan|^\[cpu vs cuda|^DDIM 5 steps|^two steady-state|^step [0-9]+:|^stale arena|^GPU \(|^auto: |^--gpu 99|^10 axpby' "$log"
  echo "## exit code $rc"
} > "$OUT/gpu-check-summary.txt" 2>&1
echo
echo "================================ summary ($OUT/gpu-check-summary.txt)"
cat "$OUT/gpu-check-summary.txt"
exit $rc
