#!/usr/bin/env bash
# Every GPU check of the project in ONE run, for the device machine (GPU, no JDK, no network).
#
# Here, first:   bash ../shared/device/bundle.sh            (builds the jar, packs .device/)
# Then, via the device tool:  run  command "bash bench/gpu-check.sh"  carry [".device"]  timeout_s 600
#
# Runs (1) the CUDA availability probe, (2) all JUnit tests tagged "gpu" (they compare every Backend op, whole
# training steps and a DDIM loop of the tiny U-Net with the CPU backend), and prints a summary: the JUnit counts,
# the failures, and the numeric comparison lines; then (3) the main job on the GPU (below). Everything is also in $OUT/run.log; JUnit XML goes to $OUT/junit
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
timeout 300 bash .device/run.sh tests --include-tag gpu --reports-dir "$OUT/junit"
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
  echo "## exit code of the gpu tests: $rc"
} > "$OUT/gpu-check-summary.txt" 2>&1
# (3) the main job end to end on the GPU (issue #5): the README's default `train` with --device cuda and its
# shape validity, and 300 steps on the GPU and on the CPU (same seed) with their loss curves side by side. Run
# folders stay on the machine; only logs, metrics and images come back.
echo "== the main job on the GPU"
SUM="$OUT/gpu-check-summary.txt"   # written above; the main job appends to it as it goes (a kill keeps what ran)
echo "## the main job (--device cuda, and 300 steps on cuda vs cpu)" >> "$SUM"
J='java --add-modules jdk.incubator.vector io.github.diffusion4j.cli.Main'
R=/tmp/d4j-runs
rm -rf "$R" && mkdir -p "$R" "$OUT/main-job"
s=$(date +%s)
timeout 150 bash .device/run.sh sh "$J train --device cuda --out $R/gpu-default" > "$OUT/main-job/gpu-default-train.log" 2>&1
echo "main job: default train on cuda exit $? after $(( $(date +%s) - s )) s" | tee -a "$SUM"
tail -n 3 "$OUT/main-job/gpu-default-train.log" | tee -a "$SUM"
timeout 45 bash .device/run.sh sh "$J sample --device cuda --run $R/gpu-default --count 64 --out $OUT/main-job/gpu-default-eval.png --check-shapes" 2>&1 \
  | grep -E 'validity|images in|rror' | sed 's/^/main job: cuda sample: /' | tee -a "$SUM"
for dev in cuda cpu; do
  s=$(date +%s)
  timeout 90 bash .device/run.sh sh "$J train --device $dev --steps 300 --sample-count 0 --checkpoint-every 0 --out $R/$dev-300" \
    > "$OUT/main-job/$dev-300-train.log" 2>&1
  echo "main job: 300 steps on $dev exit $? after $(( $(date +%s) - s )) s" | tee -a "$SUM"
  cp "$R/$dev-300/metrics.jsonl" "$OUT/main-job/$dev-300-metrics.jsonl" 2>/dev/null
done
for st in 10 50 100 200 300; do
  for dev in cuda cpu; do
    l=$(grep -m1 "\"step\":$st," "$OUT/main-job/$dev-300-metrics.jsonl" 2>/dev/null | grep -o '"loss":[^,]*')
    printf 'main job: step %s %s %s\n' "$st" "$dev" "$l"
  done
done | tee -a "$SUM"

echo
echo "================================ summary ($OUT/gpu-check-summary.txt)"
cat "$OUT/gpu-check-summary.txt"
exit $rc
