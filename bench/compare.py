"""Side-by-side table of a `bench/gpu-all.sh` result folder (plain Python, no PyTorch):

    python3 bench/compare.py RESULT_DIR            # prints Markdown for bench/README.md

Reads d4j-train.json and d4j-sample.json (`diffusion4j bench --json`), the "speed-json" lines of
pytorch-eager.txt and pytorch-compile.txt (`bench/pytorch/speed.py`), parity-*.json (`bench/pytorch/parity.py`)
and machine.txt. Ratios are diffusion4j's speed over PyTorch's (PyTorch time / our time): above 1 we are faster.
Missing or failed pieces are shown as such, never filled in.
"""
import glob
import json
import os
import sys


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def speed_lines(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("speed-json "):
                    out.append(json.loads(line[len("speed-json "):]))
    except OSError:
        pass
    return out


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def fmt(v, digits=2):
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def mib(b):
    return None if b is None else b / 2 ** 20


def main(folder):
    train = load_json(os.path.join(folder, "d4j-train.json"))
    sample = load_json(os.path.join(folder, "d4j-sample.json"))
    torch_runs = speed_lines(os.path.join(folder, "pytorch-eager.txt")) + speed_lines(os.path.join(folder, "pytorch-compile.txt"))
    variants = [r for r in torch_runs if "error" not in r]
    failed = [r for r in torch_runs if "error" in r]
    d4j = train or sample or {}
    first = variants[0] if variants else {}

    print("## diffusion4j vs PyTorch, " + fmt(get(d4j, "model", "preset") or get(first, "model", "preset")))
    print()
    machine = ""
    try:
        machine = open(os.path.join(folder, "machine.txt")).read().splitlines()
    except OSError:
        machine = []
    # the line after nvidia-smi's CSV header
    smi = [machine[i + 1] for i, m in enumerate(machine[:-1]) if m.startswith("name, driver_version")]
    print(f"- GPU (nvidia-smi: name, driver, memory, SM clock, max SM clock, mem clock, max mem clock, power limit, "
          f"temperature, persistence): {smi[0] if smi else 'not recorded'}")
    print(f"- diffusion4j: {fmt(d4j.get('device'))}; settings {json.dumps(d4j.get('settings'))}")
    if first:
        print(f"- PyTorch {first.get('torch')} (CUDA {first.get('cuda')}, cuDNN {first.get('cudnn')}) flags "
              f"{json.dumps({k: v for k, v in first.get('flags', {}).items() if k not in ('channels_last', 'compile')})}")
    print(f"- training: batch {fmt(get(train, 'training', 'batch_size'))}, medians of "
          f"{fmt(get(train, 'training', 'timed_steps'))} steps after {fmt(get(train, 'training', 'warmup_steps'))} "
          f"warm-up; sampling: DDIM-{fmt(get(sample, 'sampling', 'ddim_steps'))} at batch "
          f"{fmt(get(sample, 'sampling', 'batch_size'))}, median of {fmt(get(sample, 'sampling', 'timed_runs'))} runs")
    for r in failed:
        print(f"- PyTorch {r['variant']}: failed ({r['error']})")
    print()

    cols = [("diffusion4j", None)] + [(f"PyTorch {r['variant']}", r) for r in variants]
    rows = [
        ("training ms/step", get(train, "training", "ms_per_step", "median"), lambda r: get(r, "training", "ms_per_step", "median"), "time"),
        ("training images/s", get(train, "training", "images_per_s"), lambda r: get(r, "training", "images_per_s"), "rate"),
        ("training TFLOP/s (3x fwd)", get(train, "training", "achieved_tflops"), lambda r: get(r, "training", "achieved_tflops"), "rate"),
        ("training peak memory MiB", mib(get(train, "training", "memory", "peak_device_bytes")),
         lambda r: mib(get(r, "training", "max_memory_allocated_bytes")), None),
        ("DDIM run ms", get(sample, "sampling", "ms_per_run", "median"), lambda r: get(r, "sampling", "ms_per_run", "median"), "time"),
        ("DDIM images/s", get(sample, "sampling", "images_per_s"), lambda r: get(r, "sampling", "images_per_s"), "rate"),
        ("ms per model evaluation", get(sample, "sampling", "ms_per_model_eval", "median"),
         lambda r: get(r, "sampling", "ms_per_model_eval", "median"), "time"),
        ("sampling TFLOP/s", get(sample, "sampling", "achieved_tflops"), lambda r: get(r, "sampling", "achieved_tflops"), "rate"),
    ]
    # the sampling bench in the other mode, when it ran: runs before CUDA graphs became the default sampled
    # without them and added a --cuda-graphs run (d4j-sample-graphs.json); later ones add --no-cuda-graphs
    for file, label in (("d4j-sample-graphs.json", "--cuda-graphs"), ("d4j-sample-eager.json", "--no-cuda-graphs")):
        other = load_json(os.path.join(folder, file))
        if other:
            rows += [
                (f"DDIM run ms, diffusion4j {label}", get(other, "sampling", "ms_per_run", "median"),
                 lambda r: get(r, "sampling", "ms_per_run", "median"), "time"),
                (f"ms per model evaluation, {label}", get(other, "sampling", "ms_per_model_eval", "median"),
                 lambda r: get(r, "sampling", "ms_per_model_eval", "median"), "time"),
            ]
    # an A/B run of phase 2 with other JVM options (gpu-all.sh AB_ARGS)
    ab_train = load_json(os.path.join(folder, "d4j-train-ab.json"))
    ab_sample = load_json(os.path.join(folder, "d4j-sample-ab.json"))
    if ab_train or ab_sample:
        try:
            ab = open(os.path.join(folder, "ab-options.txt")).read().strip()
        except OSError:
            ab = "other options"
        rows += [
            (f"training ms/step, diffusion4j {ab}", get(ab_train, "training", "ms_per_step", "median"),
             lambda r: get(r, "training", "ms_per_step", "median"), "time"),
            (f"DDIM run ms, diffusion4j {ab}", get(ab_sample, "sampling", "ms_per_run", "median"),
             lambda r: get(r, "sampling", "ms_per_run", "median"), "time"),
            (f"ms per model evaluation, {ab}", get(ab_sample, "sampling", "ms_per_model_eval", "median"),
             lambda r: get(r, "sampling", "ms_per_model_eval", "median"), "time"),
        ]
    names = [c for c, _ in cols] + [f"ratio vs {c[8:]}" for c, r in cols if r]
    print("| figure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for name, ours, theirs_of, kind in rows:
        theirs = [theirs_of(r) for _, r in cols if r]
        digits = 4 if "TFLOP" in name else 3 if kind == "time" else 2
        cells = [fmt(ours, digits)] + [fmt(t, digits) for t in theirs]
        ratios = []
        for t in theirs:
            if ours is None or t is None or not kind or ours == 0 or t == 0:
                ratios.append("—")
            else:
                ratios.append(f"{(t / ours) if kind == 'time' else (ours / t):.2f}x")
        print(f"| {name} | " + " | ".join(cells + ratios) + " |")
    print()
    print("Ratios: PyTorch time / diffusion4j time (or our rate / theirs); above 1x diffusion4j is faster. "
          "Memory: diffusion4j's owned tensors + activation arena + cuDNN workspace; PyTorch's "
          "torch.cuda.max_memory_allocated (its caching allocator's peak).")
    print()
    for p in sorted(glob.glob(os.path.join(folder, "parity-*.json"))):
        j = load_json(p)
        if not j:
            continue
        print(f"- parity {os.path.basename(p)[7:-5]} ({j.get('preset')}, dump by {j.get('dump_backend')}): "
              f"{'PASS' if j.get('pass') else 'FAIL ' + str(j.get('failures', [])[:5])}; output rel "
              f"{get(j, 'output', 'max_rel'):.2e}, worst gradient rel {get(j, 'gradients', 'worst_rel'):.2e} "
              f"({get(j, 'gradients', 'worst')}), AdamW {get(j, 'adamw', 'worst_rel'):.2e}, EMA {get(j, 'ema', 'worst_rel'):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
