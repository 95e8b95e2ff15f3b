#!/usr/bin/env bash
# The README's main job (./d4j train) in each precision over several training seeds, then ShapeValidity of 256 EMA
# samples of each (DDPM-100, sample seed 0): how bf16's quality compares with FP32's beside the seeds' own spread.
# bench/results/cpu-2026-12-07-main-job-bf16-vs-fp32-seeds.txt came from these commands (in two scripts then).
#
#   bash bench/main-job-seeds.sh [OUT_DIR [DEVICE [SEEDS...]]]    default: runs/main-seeds cpu 0 1 2
#
# On 2 CPU cores one seed takes about 8 min in fp32 and 14 min in bf16, plus 70 s of sampling each. Then plot:
#   java -cp target/diffusion4j.jar bench/PlotRuns.java loss.png loss --log --smooth 20 fp32-s0=OUT_DIR/fp32-s0 ...
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/main-seeds}
device=${2:-cpu}
shift $(( $# > 2 ? 2 : $# )) || true
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(0 1 2)
mkdir -p "$out"
echo "# main job over seeds ${seeds[*]} on $device; commit $(git log --oneline -1 | cut -c1-7); $(nproc) cores; $(date)"
for s in "${seeds[@]}"; do
  for p in fp32 bf16; do
    d=$out/$p-s$s
    rm -rf "$d"
    t0=$(date +%s)
    ./d4j train --device "$device" --precision $p --seed "$s" --out "$d" > "$d.log" 2>&1
    tr '\r' '\n' < "$d.log" | grep -E "^(precision|done)" || true
    echo "== $p seed $s: trained in $(( $(date +%s) - t0 )) s"
    ./d4j sample --device "$device" --run "$d" --check-shapes --count 256 --out "$d/check.png" 2>&1 | tail -1
  done
done
date
