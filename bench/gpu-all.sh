#!/usr/bin/env bash
# Every GPU check (issue #5) and the side-by-side benchmark with PyTorch (issue #6) in ONE device call, for a
# session whose whole device budget is 15 minutes including the machine's start.
#
# Here, first:   bash bench/device/bundle.sh             (builds the jar, packs .device/: JRE, jars, tests)
# Then, via the device tool:  run  command "bash bench/gpu-all.sh"  carry [".device"]  timeout_s 590
#
# The device tool brings back at most 8 files from $OUT, so everything lands in a work folder that is packed into
# $OUT/results.tgz after every phase (a kill keeps what ran), beside $OUT/run.log (all output) and
# $OUT/summary.txt (the figures). Phases, most valuable first, each with its own timeout, the later ones skipped
# when the overall deadline (DEADLINE_S, default 540 s) is near:
#   0. machine, `info`, CUDA probe (stops here when CUDA does not load: nothing else could run)
#   1. every JUnit test tagged gpu (each op, training steps, DDIM loop, CLI train/sample, bench: cuda vs cpu)
#   2. diffusion4j bench on CUDA: ddpm-cifar10, training at batch 128, DDIM-50 at batch 256 (JSON; sampling replays
#      the forward pass from a CUDA graph, the default); the sampling bench again with --no-cuda-graphs
#   3. bench/pytorch/speed.py: the same in PyTorch eager mode, NCHW and channels-last
#   4. the main job on the GPU: the README's default `train --device cuda` and `sample --check-shapes`
#   5. parity: a CPU dump (tiny, 3 classes) and a strict-FP32 GPU dump (small) against PyTorch
#   6. diffusion4j training with cuDNN's heuristics instead of timed algorithms (what autotuning buys)
#   7. torch.compile, with what time is left
#   8. the diffusion4j training bench once more (its run-to-run spread)
#   9. bench/compare.py: the table for bench/README.md
#  10. (run after 3) data-parallel: bench --scaling on cuda (bucket ready times, predicted efficiency) and
#      train --distributed self vs off (the data-parallel path over one rank through the real NCCL)
#  11. (run after 10) bf16 (issue #15): diffusion4j bench --precision bf16 (training, sampling), the same with
#      --conv-layout nhwc (cuDNN's NHWC kernels, operands transposed there and back), then speed.py's
#      amp_bf16 and amp_bf16_channels_last, then amp_bf16_compile and compile with what time is left
# Knobs for a dry run against the CUDA emulator (no PyTorch): MODEL, BATCH, SAMPLE_BATCH, SAMPLE_STEPS, TRAIN_STEPS.
# AB_ARGS="--option ...": phase 2 runs its training and sampling benches once more with these bench options appended
# (e.g. AB_ARGS="--unet-split-concat"; d4j-*-ab.json; compare.py adds their rows), to measure a setting against the
# defaults in the same run.
# SKIP: phases to leave out, by number (e.g. SKIP="4 6 7" for a short rerun); PROFILE=1 adds `bench --profile`
# (a per-operation GPU time table of one more training step and model evaluation, after the timed part);
# with PROFILE_BASE=bench/results/<folder> as well, phase 9 adds bench/profile-diff.py's table against that run.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${D4J_INNER:-}" ]; then
  if [ ! -x .device/run.sh ]; then
    echo "no .device/run.sh: run 'bash bench/device/bundle.sh' here first and carry [\".device\"]" >&2
    exit 2
  fi
  export D4J_INNER=1
  exec bash .device/run.sh sh "bash bench/gpu-all.sh"
fi

OUT=${OUT:-/tmp/device-out}
W=${WORK:-/tmp/d4j-work}
RUNS=${RUNS:-/tmp/d4j-runs}
MODEL=${MODEL:-ddpm-cifar10}
BATCH=${BATCH:-128}
SAMPLE_BATCH=${SAMPLE_BATCH:-256}
SAMPLE_STEPS=${SAMPLE_STEPS:-50}
TRAIN_STEPS=${TRAIN_STEPS:-3300}
DEADLINE=${DEADLINE_S:-540}
SKIP=" ${SKIP:-} "
want() { case "$SKIP" in *" $1 "*) say "$1. skipped (SKIP)"; return 1;; esac; return 0; }
PROF=(); [ "${PROFILE:-0}" = 1 ] && PROF=(--profile)
rm -rf "$W" "$RUNS" && mkdir -p "$W" "$RUNS" "$OUT"
T0=$(date +%s)
SUM="$OUT/summary.txt"
: > "$SUM"
left() { echo $(( DEADLINE - ($(date +%s) - T0) )); }
say() { echo "== [$(( $(date +%s) - T0 ))s] $*" | tee -a "$SUM"; }
note() { echo "$*" | tee -a "$SUM"; }
pack() { tar czf "$OUT/results.tmp" -C "$W" . 2>/dev/null && mv -f "$OUT/results.tmp" "$OUT/results.tgz"; }
# timeout of a phase: its own limit, but never past the deadline
lim() { local l; l=$(left); [ "$l" -lt "$1" ] && echo "$l" || echo "$1"; }
MAIN=io.github.diffusion4j.cli.Main
# PyTorch brings its own cuDNN (9.19 with torch 2.11) and refuses the older system one that run.sh's
# LD_LIBRARY_PATH puts first (seen on the H100 image: 9.14 in /usr/lib/x86_64-linux-gnu)
PY="env -u LD_LIBRARY_PATH python3"
J=(java --add-modules jdk.incubator.vector -cp "$CLASSPATH")

say "0. machine"
{
  date -u +%Y-%m-%dT%H:%M:%SZ
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.limit,temperature.gpu,persistence_mode --format=csv 2>&1
  $PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "gpu", torch.cuda.get_device_name(0))' 2>&1
  echo "cpus $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
  java -version 2>&1 | head -n1
} > "$W/machine.txt" 2>&1
cat "$W/machine.txt" | tee -a "$SUM"
timeout 60 "${J[@]}" $MAIN info > "$W/info.txt" 2>&1
note "info: exit $?"; tee -a "$SUM" < "$W/info.txt"
timeout 60 "${J[@]}" io.github.diffusion4j.backend.cuda.CudaAvailability > "$W/probe.txt" 2>&1
pack
if ! grep -q '^backend auto -> cuda' "$W/probe.txt"; then
  say "CUDA does not load: stopping (see probe above)"
  exit 3
fi

if want 1; then
say "1. gpu-tagged tests (timeout $(lim 190)s)"
s=$(date +%s)
timeout "$(lim 190)" java -jar .device/launcher/junit-platform-console-standalone-*.jar execute \
  --class-path ".device/test-classes:$CLASSPATH" --scan-class-path .device/test-classes \
  --details=tree --disable-banner --include-tag gpu --reports-dir "$W/junit" > "$W/gpu-tests.txt" 2>&1
rc=$?
note "gpu tests: exit $rc after $(( $(date +%s) - s )) s"
grep -E '^\[ +[0-9]+ tests (successful|failed|aborted|skipped) +\]' "$W/gpu-tests.txt" | tee -a "$SUM"
grep -E '✘' "$W/gpu-tests.txt" | head -n 40 | tee -a "$SUM"
grep -A3 -E '✘' "$W/gpu-tests.txt" | grep -E 'Exception|Error|expected' | head -n 30 | tee -a "$SUM"
pack
fi

if want 2; then
say "2. diffusion4j bench on cuda ($MODEL)"
s=$(date +%s)
timeout "$(lim 100)" "${J[@]}" $MAIN bench --device cuda --model "$MODEL" --batch-size "$BATCH" --no-sampling --json \
  "${PROF[@]}" > "$W/d4j-train.json" 2> "$W/d4j-train.err"
note "d4j train bench: exit $? after $(( $(date +%s) - s )) s; $(tail -n 2 "$W/d4j-train.err" | tr '\n' ' ')"
s=$(date +%s)
timeout "$(lim 100)" "${J[@]}" $MAIN bench --device cuda --model "$MODEL" --no-training --sample-batch "$SAMPLE_BATCH" \
  --sample-steps "$SAMPLE_STEPS" --json "${PROF[@]}" > "$W/d4j-sample.json" 2> "$W/d4j-sample.err"
note "d4j sample bench: exit $? after $(( $(date +%s) - s )) s; $(tail -n 2 "$W/d4j-sample.err" | tr '\n' ' ')"
s=$(date +%s)
timeout "$(lim 60)" "${J[@]}" $MAIN bench --device cuda --model "$MODEL" --no-training --sample-batch "$SAMPLE_BATCH" \
  --sample-steps "$SAMPLE_STEPS" --no-cuda-graphs --json > "$W/d4j-sample-eager.json" 2> "$W/d4j-sample-eager.err"
note "d4j sample bench --no-cuda-graphs: exit $? after $(( $(date +%s) - s )) s; $(tail -n 2 "$W/d4j-sample-eager.err" | tr '\n' ' ')"
pack
fi

if [ -n "${AB_ARGS:-}" ] && want 2; then
  # the same two benches with other bench options (an A/B of a setting, e.g. AB_ARGS="--unet-split-concat"; compare.py)
  say "2b. diffusion4j bench on cuda with $AB_ARGS"
  echo "$AB_ARGS" > "$W/ab-options.txt"
  read -r -a AB <<< "$AB_ARGS"
  s=$(date +%s)
  timeout "$(lim 60)" "${J[@]}" $MAIN bench --device cuda --model "$MODEL" --batch-size "$BATCH" --no-sampling --json \
    "${AB[@]}" > "$W/d4j-train-ab.json" 2> "$W/d4j-train-ab.err"
  note "d4j train bench ($AB_ARGS): exit $? after $(( $(date +%s) - s )) s"
  s=$(date +%s)
  timeout "$(lim 60)" "${J[@]}" $MAIN bench --device cuda --model "$MODEL" --no-training --sample-batch "$SAMPLE_BATCH" \
    --sample-steps "$SAMPLE_STEPS" --json "${AB[@]}" > "$W/d4j-sample-ab.json" 2> "$W/d4j-sample-ab.err"
  note "d4j sample bench ($AB_ARGS): exit $? after $(( $(date +%s) - s )) s; $(tail -n 1 "$W/d4j-sample-ab.err")"
  pack
fi

if want 3; then
say "3. PyTorch eager (timeout $(lim 100)s)"
s=$(date +%s)
PYTHONUNBUFFERED=1 timeout "$(lim 100)" $PY bench/pytorch/speed.py --model "$MODEL" --batch-size "$BATCH" \
  --sample-batch "$SAMPLE_BATCH" --sample-steps "$SAMPLE_STEPS" --variants eager,channels_last > "$W/pytorch-eager.txt" 2>&1
note "pytorch eager: exit $? after $(( $(date +%s) - s )) s, $(grep -c '^speed-json' "$W/pytorch-eager.txt") variants"
python3 bench/compare.py "$W" > "$W/summary.md" 2>&1 && tee -a "$SUM" < "$W/summary.md"
pack
fi

if [ "$(left)" -gt 60 ] && want 10; then
  # data-parallel (issue #17): where the gradient buckets become ready in a GPU step, the scaling prediction from
  # it, and the cost of the data-parallel path over one rank through the real NCCL (train --distributed self vs off)
  say "10. data-parallel: bench --scaling on cuda, then train --distributed self vs off"
  s=$(date +%s)
  timeout "$(lim 60)" "${J[@]}" $MAIN bench --device cuda --scaling --model "$MODEL" --batch-size "$BATCH" \
    --what-if-step-ms 25 > "$W/d4j-scaling.txt" 2>&1
  note "scaling profile: exit $? after $(( $(date +%s) - s )) s"
  grep -E '^\| (8|16) \|' "$W/d4j-scaling.txt" | tee -a "$SUM"
  for m in off self; do
    s=$(date +%s)
    timeout "$(lim 60)" "${J[@]}" $MAIN train --device cuda --data shapes --model "$MODEL" --batch-size "$BATCH" \
      --steps 60 --log-every 10 --sample-count 0 --checkpoint-every 0 --distributed $m --out "$RUNS/dp-$m" \
      > "$W/dp-$m.log" 2>&1
    note "train --distributed $m: exit $? after $(( $(date +%s) - s )) s; images/s at steps 30-60: $(grep -oE '"step":(30|40|50|60),.*"images_per_s":[0-9.]+' "$RUNS/dp-$m/metrics.jsonl" 2>/dev/null | grep -oE 'images_per_s":[0-9.]+' | cut -d: -f2 | tr '\n' ' ')"
    cp "$RUNS/dp-$m/metrics.jsonl" "$W/dp-$m-metrics.jsonl" 2>/dev/null
  done
  grep -E 'data-parallel|buckets' "$W/dp-self.log" | tee -a "$SUM"
  pack
fi

if [ "$(left)" -gt 40 ] && want 4; then
  say "4. the main job: train --device cuda (timeout $(lim 130)s), then sample --check-shapes"
  s=$(date +%s)
  timeout "$(lim 130)" "${J[@]}" $MAIN train --device cuda --steps "$TRAIN_STEPS" --out "$RUNS/gpu-default" \
    > "$W/main-train.log" 2>&1
  note "main job: train on cuda exit $? after $(( $(date +%s) - s )) s"
  tr '\r' '\n' < "$W/main-train.log" | grep -v '^\s*$' | tail -n 4 | tee -a "$SUM"
  mkdir -p "$W/main-job"
  cp "$RUNS/gpu-default/metrics.jsonl" "$RUNS/gpu-default/config.json" "$RUNS/gpu-default/loss.png" "$W/main-job/" 2>/dev/null
  last=$(ls "$RUNS/gpu-default/samples/"*.png 2>/dev/null | tail -n 1)
  [ -n "$last" ] && cp "$last" "$W/main-job/"
  s=$(date +%s)
  timeout "$(lim 60)" "${J[@]}" $MAIN sample --device cuda --run "$RUNS/gpu-default" --count 64 \
    --out "$W/main-job/gpu-eval-64.png" --check-shapes > "$W/main-job/sample.log" 2>&1
  note "main job: sample --check-shapes on cuda exit $? after $(( $(date +%s) - s )) s"
  grep -iE 'valid|images|rror' "$W/main-job/sample.log" | head -n 5 | tee -a "$SUM"
  for st in 10 100 300 1000 2000 3300; do
    grep -m1 "\"step\":$st," "$W/main-job/metrics.jsonl" 2>/dev/null | grep -oE '"(step|loss)":[^,]*' | tr '\n' ' '
    echo
  done | tee -a "$SUM"
  pack
fi

if [ "$(left)" -gt 40 ] && want 5; then
  say "5. parity with PyTorch"
  timeout "$(lim 40)" "${J[@]}" $MAIN bench --device cpu --dump "$W/dump-cpu-tiny" --model tiny --classes 3 --batch-size 4 \
    > "$W/dump-cpu-tiny.txt" 2>&1
  # bench --dump defaults to --tf32 off (strict FP32, what parity.py compares)
  timeout "$(lim 40)" "${J[@]}" $MAIN bench --device cuda --dump "$W/dump-cuda-small" --model small --batch-size 8 \
    > "$W/dump-cuda-small.txt" 2>&1
  for d in dump-cpu-tiny dump-cuda-small; do
    if [ -f "$W/$d/batch.safetensors" ]; then
      timeout "$(lim 45)" $PY bench/pytorch/parity.py "$W/$d" --device cuda --quiet --json "$W/parity-$d.json" \
        > "$W/parity-$d.txt" 2>&1
      note "$d: exit $? $(grep -m1 '^PARITY' "$W/parity-$d.txt")"
    else
      note "$d: no dump ($(tail -n 2 "$W/$d.txt" 2>/dev/null | tr '\n' ' '))"
    fi
  done
  for d in "$W"/dump-*/; do rm -f "$d"/*.safetensors; done   # large and reproducible: keep config and checksums
  pack
fi

if [ "$(left)" -gt 60 ] && want 11; then
  say "11. bf16: diffusion4j bench --precision bf16, PyTorch autocast bf16"
  s=$(date +%s)
  timeout "$(lim 80)" "${J[@]}" $MAIN bench --device cuda --model "$MODEL" --batch-size "$BATCH" --no-sampling \
    --precision bf16 --json > "$W/d4j-train-bf16.json" 2> "$W/d4j-train-bf16.err"
  note "d4j train bench bf16: exit $? after $(( $(date +%s) - s )) s; $(tail -n 2 "$W/d4j-train-bf16.err" | tr '\n' ' ')"
  s=$(date +%s)
  timeout "$(lim 80)" "${J[@]}" $MAIN bench --device cuda --model "$MODEL" --no-training --sample-batch "$SAMPLE_BATCH" \
    --sample-steps "$SAMPLE_STEPS" --precision bf16 --json > "$W/d4j-sample-bf16.json" 2> "$W/d4j-sample-bf16.err"
  note "d4j sample bench bf16: exit $? after $(( $(date +%s) - s )) s; $(tail -n 2 "$W/d4j-sample-bf16.err" | tr '\n' ' ')"
  for what in train sample; do
    if [ "$what" = train ]; then a=(--batch-size "$BATCH" --no-sampling); else a=(--no-training --sample-batch "$SAMPLE_BATCH" --sample-steps "$SAMPLE_STEPS"); fi
    s=$(date +%s)
    timeout "$(lim 60)" "${J[@]}" $MAIN bench --device cuda --model "$MODEL" "${a[@]}" --precision bf16 --conv-layout nhwc \
      --json > "$W/d4j-$what-bf16-nhwc.json" 2> "$W/d4j-$what-bf16-nhwc.err"
    note "d4j $what bench bf16 nhwc: exit $? after $(( $(date +%s) - s )) s; $(tail -n 2 "$W/d4j-$what-bf16-nhwc.err" | tr '\n' ' ')"
  done
  pack
  s=$(date +%s)
  PYTHONUNBUFFERED=1 timeout "$(lim 100)" $PY bench/pytorch/speed.py --model "$MODEL" --batch-size "$BATCH" \
    --sample-batch "$SAMPLE_BATCH" --sample-steps "$SAMPLE_STEPS" --variants amp_bf16,amp_bf16_channels_last \
    > "$W/pytorch-amp-bf16.txt" 2>&1
  note "pytorch amp bf16: exit $? after $(( $(date +%s) - s )) s, $(grep -c '^speed-json' "$W/pytorch-amp-bf16.txt") variants"
  pack
  if [ "$(left)" -gt 90 ]; then
    tc=$(( $(left) - 20 )); [ "$tc" -gt 200 ] && tc=200
    PYTHONUNBUFFERED=1 timeout "$tc" $PY bench/pytorch/speed.py --model "$MODEL" --batch-size "$BATCH" \
      --sample-batch "$SAMPLE_BATCH" --sample-steps "$SAMPLE_STEPS" --variants amp_bf16_compile,compile \
      > "$W/pytorch-amp-bf16-compile.txt" 2>&1
    note "pytorch amp_bf16_compile, compile: exit $?"
    pack
  fi
fi

if [ "$(left)" -gt 50 ] && want 6; then
  say "6. diffusion4j training with cuDNN heuristics (no algorithm timing)"
  timeout "$(lim 60)" "${J[@]}" $MAIN bench --device cuda --model "$MODEL" --batch-size "$BATCH" --no-sampling \
    --no-cudnn-benchmark --json > "$W/d4j-train-heuristic.json" 2> "$W/d4j-train-heuristic.err"
  note "heuristic train bench: exit $?; ms per step $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["training"]["ms_per_step"]["median"])' "$W/d4j-train-heuristic.json" 2>&1 | tail -n 1)"
  pack
fi

if [ "$(left)" -gt 70 ] && want 7; then
  tc=$(( $(left) - 15 )); [ "$tc" -gt 150 ] && tc=150
  say "7. PyTorch torch.compile (timeout ${tc}s)"
  PYTHONUNBUFFERED=1 timeout "$tc" $PY bench/pytorch/speed.py --model "$MODEL" --batch-size "$BATCH" \
    --sample-batch "$SAMPLE_BATCH" --sample-steps "$SAMPLE_STEPS" --variants compile > "$W/pytorch-compile.txt" 2>&1
  note "compile: exit $?"
elif [ "$(left)" -le 70 ]; then
  say "7. torch.compile skipped: $(left)s left" | tee "$W/pytorch-compile.txt"
fi

if [ "$(left)" -gt 60 ] && want 8; then
  say "8. diffusion4j training bench again (run-to-run spread)"
  timeout "$(lim 50)" "${J[@]}" $MAIN bench --device cuda --model "$MODEL" --batch-size "$BATCH" --no-sampling --json \
    > "$W/d4j-train-repeat.json" 2> "$W/d4j-train-repeat.err"
  note "repeat: exit $?; ms per step $($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["training"]["ms_per_step"]["median"])' "$W/d4j-train-repeat.json" 2>&1 | tail -n 1)"
  pack
fi

say "9. summary"
python3 bench/compare.py "$W" > "$W/summary.md" 2>&1
tee -a "$SUM" < "$W/summary.md"
if [ -n "${PROFILE_BASE:-}" ] && [ "${PROFILE:-0}" = 1 ]; then
  # which operations got faster or slower than in a committed run (best: one of the same card)
  python3 bench/profile-diff.py "$PROFILE_BASE" "$W" > "$W/profile-diff.md" 2>&1
  tee -a "$SUM" < "$W/profile-diff.md"
fi
pack
say "done"
