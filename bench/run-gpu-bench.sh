#!/usr/bin/env bash
# The side-by-side GPU run of the "faster than PyTorch" issue, in ONE device call (target: under 6 minutes).
#
# Here, first (no GPU needed):  mvn -B -q -o test   then   bash ../shared/device/bundle.sh
# Then, via the device tool:    run  command "bash bench/run-gpu-bench.sh"  carry [".device"]  timeout_s 480
#
# What it runs, in order of value (each step bounded by `timeout`; the optional ones are skipped when the
# overall deadline, BENCH_DEADLINE_S seconds (default 360), is near):
#   1. parity: diffusion4j writes a dump on the CPU (tiny model, 3 classes) and one on the GPU in strict FP32 (small
#      model); bench/pytorch/parity.py compares PyTorch's output, every gradient and the AdamW/EMA update with ours
#   2. diffusion4j bench on CUDA: ddpm-cifar10, training at batch 128, then DDIM-50 sampling at batch 256 (JSON)
#   3. bench/pytorch/speed.py: the same in PyTorch eager mode (NCHW and channels-last), same precision flags
#   4. bench/pytorch/speed.py with torch.compile, if time is left
#   5. bench/compare.py: the table for bench/README.md, with ratios
# Everything lands in $OUT/bench/ (plus $OUT/run.log from .device/run.sh); commit that folder as
# bench/results/gpu-<date>/ together with the table.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/device-out}
R="$OUT/bench"
mkdir -p "$R"
DEADLINE=${BENCH_DEADLINE_S:-360}
T0=$(date +%s)
left() { echo $(( DEADLINE - ($(date +%s) - T0) )); }
say() { echo "== [$(( $(date +%s) - T0 ))s] $*" | tee -a "$R/steps.log"; }
if [ ! -x .device/run.sh ]; then
  echo "no .device/run.sh: run 'bash ../shared/device/bundle.sh' here first and carry [\".device\"]" >&2
  exit 2
fi
MAIN=io.github.diffusion4j.cli.Main

say "machine"
{
  date -u +%Y-%m-%dT%H:%M:%SZ
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.limit,temperature.gpu,persistence_mode --format=csv 2>&1
  nvidia-smi -q -d CLOCK 2>/dev/null | sed -n '1,60p'
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "gpu", torch.cuda.get_device_name(0))' 2>&1
  nproc; head -n1 /proc/loadavg
} > "$R/machine.txt" 2>&1
cat "$R/machine.txt" | head -n 4

# 1 + 2: every Java step in one run.sh call (it finds the CUDA libraries once); separate JVMs so that one failure
# or a slow phase does not take the others' figures with it
say "diffusion4j: parity dumps and bench (timeout 200s)"
timeout 200 bash .device/run.sh sh "
  set -x
  java -cp \"\$CLASSPATH\" $MAIN bench --device cpu --dump '$R/dump-cpu-tiny' --model tiny --classes 3 --batch-size 4 \
    > '$R/dump-cpu-tiny.txt' 2>&1
  java -Ddiffusion4j.tf32=false -cp \"\$CLASSPATH\" $MAIN bench --device cuda --dump '$R/dump-cuda-small' --model small --batch-size 8 \
    > '$R/dump-cuda-small.txt' 2>&1
  timeout 75 java -cp \"\$CLASSPATH\" $MAIN bench --device cuda --model ddpm-cifar10 --batch-size 128 --no-sampling --json \
    > '$R/d4j-train.json' 2> '$R/d4j-train.err'
  timeout 90 java -cp \"\$CLASSPATH\" $MAIN bench --device cuda --model ddpm-cifar10 --no-training --sample-batch 256 --sample-steps 50 --json \
    > '$R/d4j-sample.json' 2> '$R/d4j-sample.err'
  true
"
tail -n 3 "$R"/d4j-*.err 2>/dev/null

say "parity (PyTorch FP32, TF32 off)"
for d in dump-cpu-tiny dump-cuda-small; do
  if [ -f "$R/$d/batch.safetensors" ]; then
    timeout 45 python3 bench/pytorch/parity.py "$R/$d" --device cuda --quiet --json "$R/parity-$d.json" > "$R/parity-$d.txt" 2>&1
    echo "$d: exit $? $(grep -m1 '^PARITY' "$R/parity-$d.txt")"
  else
    echo "$d: no dump ($(tail -n 2 "$R/$d.txt" 2>/dev/null))"
  fi
done
# the dumps are large and reproducible: keep only their config and checksums
for d in "$R"/dump-*/; do rm -f "$d"/*.safetensors; done

t_eager=$(( $(left) - 40 )); [ "$t_eager" -gt 110 ] && t_eager=110
say "PyTorch eager (timeout ${t_eager}s)"
timeout "$t_eager" python3 bench/pytorch/speed.py --model ddpm-cifar10 --batch-size 128 --sample-batch 256 \
  --sample-steps 50 --variants eager,channels_last > "$R/pytorch-eager.txt" 2>&1
grep -c '^speed-json' "$R/pytorch-eager.txt"

if [ "$(left)" -gt 80 ]; then
  say "PyTorch torch.compile (timeout $(( $(left) - 10 ))s)"
  timeout $(( $(left) - 10 )) python3 bench/pytorch/speed.py --model ddpm-cifar10 --batch-size 128 --sample-batch 256 \
    --sample-steps 50 --variants compile > "$R/pytorch-compile.txt" 2>&1
  echo "compile: exit $?"
else
  say "torch.compile skipped: $(left)s left" | tee "$R/pytorch-compile.txt"
fi

say "summary"
python3 bench/compare.py "$R" | tee "$R/summary.md"
say "done"
