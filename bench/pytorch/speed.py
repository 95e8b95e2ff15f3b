"""Speed of the PyTorch twin on the same work as `diffusion4j bench`: one training step (forward, backward, global
grad-norm clipping, AdamW, EMA) and DDIM sampling, with CUDA events and medians over repeats after warm-up.

Variants (--variants, comma-separated; each prints one JSON line "speed-json {...}" as soon as it is done):
  eager          NCHW, eager mode
  channels_last  eager mode with the model and inputs in channels-last (NHWC) memory format
  compile        torch.compile(model, dynamic=False) (default mode); failures are reported, not fatal
  amp_bf16, amp_bf16_channels_last, amp_bf16_compile
                 the same three under torch.autocast(dtype=torch.bfloat16): FP32 master weights, gradients and AdamW
                 state, bf16 convolutions and matmuls (diffusers' --mixed_precision bf16); no loss scaling
Precision flags (stated in the output): --tf32 default (PyTorch's defaults: FP32 matmuls, TF32 cuDNN convolutions,
the same as diffusion4j's default), on, or off; cudnn.benchmark on unless --no-benchmark. Attention uses
F.scaled_dot_product_attention unless --attention math. AdamW is torch.optim.AdamW (foreach unless --adam fused),
the EMA one torch._foreach_lerp_. The step reads nothing back to the host (diffusion4j's reads the loss and the
gradient norm); the training loss is not logged per step.

    python3 bench/pytorch/speed.py --model ddpm-cifar10 --batch-size 128 --variants eager,channels_last
"""
import argparse
import json
import math
import os
import statistics
import sys
import time
import traceback

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet import UNet, decayed, init_ddpm  # noqa: E402
from unet_config import UNetConfig, macs_per_image, parameter_count  # noqa: E402

# the training settings of diffusion4j's TrainSettings.benchmark()
LR, BETAS, EPS, WD, CLIP, EMA_DECAY, T = 2e-4, (0.9, 0.999), 1e-8, 0.0, 1.0, 0.9999, 1000


def stats(xs):
    return {"median": round(statistics.median(xs), 4), "min": round(min(xs), 4), "max": round(max(xs), 4),
            "n": len(xs), "samples": [round(x, 4) for x in xs]}


_CUDA_EVENTS = True


def timed(fn):
    """Milliseconds between two CUDA events around fn(), waiting for the work to finish (as diffusion4j's timer);
    on the CPU (a smoke test of this script) wall-clock time."""
    if not _CUDA_EVENTS:
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1000.0
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end)


def profile(fn, what):
    """GPU time per kernel of one call of fn (torch.profiler), largest first, to compare with diffusion4j's
    `bench --profile`; printed as "profile" lines."""
    try:
        _profile(fn, what)
    except Exception as e:   # the profile is a diagnostic: never lose the timings for it
        print(f"profile {what}: failed: {type(e).__name__}: {e}", flush=True)


def _profile(fn, what):
    from torch.profiler import ProfilerActivity, profile as tprofile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if _CUDA_EVENTS else [])
    torch.cuda.synchronize() if _CUDA_EVENTS else None
    with tprofile(activities=acts) as prof:
        fn()
        torch.cuda.synchronize() if _CUDA_EVENTS else None
    rows = []
    for e in prof.key_averages():
        t = getattr(e, "self_device_time_total", None)
        if t is None:
            t = getattr(e, "self_cuda_time_total", 0)
        if t and t > 0:
            rows.append((t / 1000.0, e.count, e.key))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows)
    print(f"profile {what}: {total:.3f} ms of GPU time in kernels", flush=True)
    for ms, calls, key in rows[:45]:
        print(f"profile {ms:9.3f} {100 * ms / max(total, 1e-9):6.2f} {calls:6d}  {key[:150]}", flush=True)


def ema_update(ema, params, w):
    """ema += w (p - ema) over all tensors: one foreach kernel launch per group of tensors."""
    ps = [p.detach() for p in params]
    if hasattr(torch, "_foreach_lerp_"):
        torch._foreach_lerp_(ema, ps, w)
    else:                                   # older PyTorch: the same in two foreach passes
        torch._foreach_mul_(ema, 1.0 - w)
        torch._foreach_add_(ema, ps, alpha=w)


def linear_schedule(dev):
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    ac = torch.cumprod(1 - betas, dim=0)
    return ac, ac.sqrt().float().to(dev), (1 - ac).sqrt().float().to(dev)


VARIANTS = ("eager", "channels_last", "compile", "amp_bf16", "amp_bf16_channels_last", "amp_bf16_compile")


def parse_variant(variant):
    """(autocast bf16, channels-last, torch.compile) of a variant name."""
    amp = variant.startswith("amp_bf16")
    rest = variant[len("amp_bf16_"):] if variant.startswith("amp_bf16_") else ("eager" if amp else variant)
    return amp, rest == "channels_last", rest == "compile"


def ddim_sample(model, shape, labels, steps, ac, dev, memory_format, amp=False):
    """DDIM, eta 0, "leading" timesteps t_k = k (T // steps), x0 clipped to [-1, 1], as diffusion4j's DdimScheduler.
    With amp the model runs under bf16 autocast and the scheduler's state x stays float32 (as diffusion4j's)."""
    stride = T // steps
    x = torch.randn(shape, device=dev).contiguous(memory_format=memory_format)
    tt = torch.empty(shape[0], device=dev)
    for t in reversed(range(0, steps * stride, stride)):
        a = float(ac[t])
        ap = float(ac[t - stride]) if t - stride >= 0 else 1.0
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp):
            eps = model(x, tt.fill_(t), labels)
        eps = eps.float()
        x0 = (x * (1 / math.sqrt(a)) - eps * math.sqrt((1 - a) / a)).clamp_(-1, 1)
        x = x0 * math.sqrt(ap) + eps * math.sqrt(1 - ap)
    return x


def run_variant(variant, args, cfg, dev):
    amp, channels_last, compiled = parse_variant(variant)
    mf = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(args.seed)
    model = init_ddpm(UNet(cfg, attention=args.attention)).to(dev).to(memory_format=mf)
    fwd = torch.compile(model, dynamic=False) if compiled else model

    def autocast():
        return torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp)
    params = list(model.parameters())
    named = list(model.named_parameters())
    groups = [{"params": [p for k, p in named if decayed(k, p)], "weight_decay": WD},
              {"params": [p for k, p in named if not decayed(k, p)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=LR, betas=BETAS, eps=EPS, **({"fused": True} if args.adam == "fused" else {"foreach": True}))
    ema = [p.detach().clone() for p in params]
    ac, sa, sb = linear_schedule(dev)
    n = args.batch_size
    shape = (n, cfg.in_channels, cfg.image_size, cfg.image_size)
    x0 = torch.randn(shape, device=dev).clamp_(-1, 1).contiguous(memory_format=mf)
    labels = torch.randint(0, cfg.num_classes, (n,), device=dev) if cfg.num_classes else None
    macs = macs_per_image(cfg)
    result = {"framework": "pytorch", "variant": variant}
    t_start = time.time()

    def train_step(step):
        t = torch.randint(0, T, (n,), device=dev)
        noise = torch.randn_like(x0)
        xt = sa[t].view(-1, 1, 1, 1) * x0 + sb[t].view(-1, 1, 1, 1) * noise
        with autocast():
            out = fwd(xt, t.float(), labels)
        loss = F.mse_loss(out.float(), noise)     # uniform weights: (1/N) sum_n mean_i (out - eps)^2, in float32
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        d = min(EMA_DECAY, (1.0 + step) / (10.0 + step))
        ema_update(ema, params, 1.0 - d)
        return loss

    if not args.no_training:
        model.train()
        s = 0
        for _ in range(args.warmup):
            s += 1
            timed(lambda: train_step(s))
        result["warmup_s"] = round(time.time() - t_start, 2)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        ms = []
        losses = []
        for _ in range(args.steps):
            s += 1
            ms.append(timed(lambda: losses.append(train_step(s))))
        med = statistics.median(ms)
        if args.profile:
            s += 1
            profile(lambda: train_step(s), f"{variant}: one training step")
        result["training"] = {
            "batch_size": n, "warmup_steps": args.warmup, "timed_steps": args.steps, "ms_per_step": stats(ms),
            "images_per_s": round(n * 1000.0 / med, 2),
            "achieved_tflops": round(6.0 * macs * n / (med / 1000.0) / 1e12, 4),
            "loss_last": float(losses[-1]),
            "max_memory_allocated_bytes": torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else None,
            "max_memory_reserved_bytes": torch.cuda.max_memory_reserved(dev) if dev.type == "cuda" else None,
        }
    if not args.no_sampling:
        model.eval()
        sn = args.sample_batch
        sshape = (sn, cfg.in_channels, cfg.image_size, cfg.image_size)
        slabels = torch.randint(0, cfg.num_classes, (sn,), device=dev) if cfg.num_classes else None
        with torch.inference_mode():
            t1 = time.time()
            timed(lambda: ddim_sample(fwd, sshape, slabels, min(2, args.sample_steps), ac, dev, mf, amp))
            warm_s = time.time() - t1
            runs = [timed(lambda: ddim_sample(fwd, sshape, slabels, args.sample_steps, ac, dev, mf, amp))
                    for _ in range(args.sample_repeats)]
            x = torch.randn(sshape, device=dev).contiguous(memory_format=mf)
            tt = torch.full((sn,), T / 2, device=dev)

            def evaluate():
                with autocast():
                    return fwd(x, tt, slabels)

            timed(evaluate)
            evals = [timed(evaluate) for _ in range(args.eval_repeats)]
            if args.profile:
                profile(evaluate, f"{variant}: one model evaluation")
        med, emed = statistics.median(runs), statistics.median(evals)
        result["sampling"] = {
            "sampler": "ddim", "eta": 0.0, "ddim_steps": args.sample_steps, "batch_size": sn,
            "timed_runs": args.sample_repeats, "warmup_s": round(warm_s, 2), "ms_per_run": stats(runs),
            "images_per_s": round(sn * 1000.0 / med, 2), "ms_per_ddim_step": round(med / args.sample_steps, 4),
            "ms_per_model_eval": stats(evals),
            "achieved_tflops": round(2.0 * macs * sn * args.sample_steps / (med / 1000.0) / 1e12, 4),
            "model_eval_tflops": round(2.0 * macs * sn / (emed / 1000.0) / 1e12, 4),
        }
    result["wall_s"] = round(time.time() - t_start, 2)
    return result


def main():
    ap = argparse.ArgumentParser(description="PyTorch speed of the diffusion4j U-Net (training step and DDIM)")
    ap.add_argument("--model", default="ddpm-cifar10")
    ap.add_argument("--config", help="config.json of a diffusion4j dump or checkpoint (overrides --model)")
    ap.add_argument("--image-size", type=int)
    ap.add_argument("--classes", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--sample-batch", type=int, default=256)
    ap.add_argument("--sample-steps", type=int, default=50)
    ap.add_argument("--sample-repeats", type=int, default=3)
    ap.add_argument("--eval-repeats", type=int, default=10)
    ap.add_argument("--variants", default="eager,channels_last")
    ap.add_argument("--tf32", choices=["default", "on", "off"], default="default")
    ap.add_argument("--no-benchmark", action="store_true", help="cudnn.benchmark off")
    ap.add_argument("--attention", choices=["sdpa", "math"], default="sdpa")
    ap.add_argument("--adam", choices=["foreach", "fused"], default="foreach")
    ap.add_argument("--no-training", action="store_true")
    ap.add_argument("--no-sampling", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true", help="print the GPU time per kernel of one training step and one "
                    "model evaluation (torch.profiler)")
    ap.add_argument("--device", default="cuda", help="cuda (the measurement) or cpu (a smoke test of this script)")
    args = ap.parse_args()

    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("speed.py: no CUDA GPU (use --device cpu for a smoke test of the script)", file=sys.stderr)
        return 2
    if args.tf32 != "default":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32 == "on"
        torch.backends.cudnn.allow_tf32 = args.tf32 == "on"
    torch.backends.cudnn.benchmark = not args.no_benchmark
    if args.config:
        cfg = UNetConfig.from_dict(json.load(open(args.config))["config"])
    else:
        cfg = UNetConfig.preset(args.model, image_size=args.image_size, classes=args.classes)
    gpu = dev.type == "cuda"
    global _CUDA_EVENTS
    _CUDA_EVENTS = gpu
    props = torch.cuda.get_device_properties(dev) if gpu else None
    common = {
        "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
        "gpu": torch.cuda.get_device_name(dev) if gpu else None, "device": str(dev),
        "timing": ("CUDA events" if gpu else "time.perf_counter (CPU smoke test)") + "; median of repeats after warm-up",
        "sm_count": props.multi_processor_count if gpu else None,
        "gpu_memory_bytes": props.total_memory if gpu else None,
        "flags": {"tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32,
                  "float32_matmul_precision": torch.get_float32_matmul_precision(),
                  "cudnn_benchmark": torch.backends.cudnn.benchmark, "attention": args.attention, "adam": args.adam,
                  "dtype": "float32"},
        "model": {"preset": args.model if not args.config else "from " + args.config, "parameters": parameter_count(cfg),
                  "image_size": cfg.image_size, "classes": cfg.num_classes, "dropout": cfg.dropout,
                  "macs_per_image": macs_per_image(cfg)},
        "train_settings": {"lr": LR, "betas": BETAS, "eps": EPS, "weight_decay": WD, "grad_clip": CLIP,
                           "ema_decay": EMA_DECAY, "timesteps": T},
    }
    rc = 0
    for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
        if variant not in VARIANTS:
            print(f"unknown variant {variant}", file=sys.stderr)
            return 2
        try:
            r = run_variant(variant, args, cfg, dev)
        except Exception as e:   # e.g. torch.compile without a working compiler toolchain
            traceback.print_exc()
            r = {"framework": "pytorch", "variant": variant, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
            rc = 1
        r.update(common)
        amp, channels_last, compiled = parse_variant(variant)
        r["flags"] = dict(common["flags"], channels_last=channels_last, compile=compiled,
                          autocast="bfloat16" if amp else None)
        print("speed-json " + json.dumps(r), flush=True)
        if gpu:
            torch.cuda.empty_cache()
    return rc


if __name__ == "__main__":
    sys.exit(main())
