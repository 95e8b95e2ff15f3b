#!/usr/bin/env bash
# Where the GPU time goes, diffusion4j against PyTorch eager, in one short device call (about 2 minutes):
#   run  command "bash bench/gpu-profile.sh"  carry [".device"]  timeout_s 300
# 1. diffusion4j bench --profile (ddpm-cifar10; GPU time of every kernel and cuBLAS/cuDNN call of one training step
#    and one model evaluation), 2. speed.py --profile (torch.profiler, eager NCHW), 3. diffusion4j with the cuDNN that
#    PyTorch bundles instead of the system one, 4. with non-deterministic cuDNN algorithms allowed.
# Output: $OUT/profile.tgz (everything) and the run.log of .device/run.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${D4J_INNER:-}" ]; then
  export D4J_INNER=1
  exec bash .device/run.sh sh "bash bench/gpu-profile.sh"
fi
OUT=${OUT:-/tmp/device-out}
W=/tmp/d4j-profile
rm -rf "$W" && mkdir -p "$W"
T0=$(date +%s)
say() { echo "== [$(( $(date +%s) - T0 ))s] $*"; }
pack() { tar czf "$OUT/profile.tmp" -C "$W" . 2>/dev/null && mv -f "$OUT/profile.tmp" "$OUT/profile.tgz"; }
J=(java --add-modules jdk.incubator.vector -cp "$CLASSPATH")
MAIN=io.github.diffusion4j.cli.Main
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader > "$W/machine.txt" 2>&1

say "1. diffusion4j --profile"
timeout 60 "${J[@]}" $MAIN bench --device cuda --model ddpm-cifar10 --profile --json > "$W/d4j-profile.json" 2> "$W/d4j-profile.err"
echo "exit $?"; grep -A40 '^profile of' "$W/d4j-profile.err" | head -n 90
pack

say "2. PyTorch eager --profile"
PYTHONUNBUFFERED=1 timeout 90 env -u LD_LIBRARY_PATH python3 bench/pytorch/speed.py --model ddpm-cifar10 --variants eager \
  --steps 10 --sample-repeats 1 --eval-repeats 5 --profile > "$W/pytorch-profile.txt" 2>&1
echo "exit $?"; grep '^profile' "$W/pytorch-profile.txt" | head -n 100
pack

TORCH_CUDNN=$(ls -d /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib 2>/dev/null)
say "3. diffusion4j with PyTorch's cuDNN ($TORCH_CUDNN)"
LD_LIBRARY_PATH="$TORCH_CUDNN:$LD_LIBRARY_PATH" timeout 60 "${J[@]}" $MAIN bench --device cuda --model ddpm-cifar10 --json \
  > "$W/d4j-torch-cudnn.json" 2> "$W/d4j-torch-cudnn.err"
echo "exit $?"; grep -m1 '^backend' "$W/d4j-torch-cudnn.err"
pack

say "4. diffusion4j with non-deterministic cuDNN algorithms"
timeout 40 "${J[@]}" $MAIN bench --device cuda --model ddpm-cifar10 --no-cudnn-deterministic --json \
  > "$W/d4j-nondet.json" 2> "$W/d4j-nondet.err"
echo "exit $?"
for f in d4j-profile d4j-torch-cudnn d4j-nondet; do
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); t=d.get("training",{}); s=d.get("sampling",{}); print(sys.argv[1].split("/")[-1], "train ms", t.get("ms_per_step",{}).get("median"), "eval ms", s.get("ms_per_model_eval",{}).get("median"), "ddim ms", s.get("ms_per_run",{}).get("median"), d.get("device"))' "$W/$f.json" 2>&1 | tail -n 1
done
grep '^speed-json' "$W/pytorch-profile.txt" | python3 -c 'import json,sys
for l in sys.stdin:
    d=json.loads(l[11:]); print("pytorch", d["variant"], "train ms", d.get("training",{}).get("ms_per_step",{}).get("median"), "eval ms", d.get("sampling",{}).get("ms_per_model_eval",{}).get("median"), "ddim ms", d.get("sampling",{}).get("ms_per_run",{}).get("median"))'
pack
say done
