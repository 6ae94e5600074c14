"""BigGAN-deep forward throughput: ours (jit, fp32 and bf16) vs the PyTorch
reference (eager and torch.compile), in one run.

    python benchmarks/biggan_forward.py                 # GPU: 256, batch 64
    python benchmarks/biggan_forward.py --smoke         # CPU: tiny config, proves the script runs

Random weights (the released ones cannot be downloaded here; speed does not
depend on the values). Reports images/s, achieved TFLOP/s (37.5 GMAC = 75
GFLOP per image as released for 256, of which we skip conv_to_rgb's 125 unused
channels) and the bf16 images' PSNR against fp32.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import jax.numpy as jnp
import numpy as np

import biggan_jax
from benchmarks.common import matmul_peak_tflops, psnr, report, timeit, use_torch

# Multiply-accumulates per image (issue 2 / PERF_NOTES, BigGAN-deep-256 as released).
GMAC_RELEASED = {"biggan-deep-256": 37.5}


def _row(name: str, med: float, batch: int, gmac: float | None) -> dict:
    tflops = (2 * gmac * 1e9 * batch / med / 1e12) if gmac else "-"
    return {"impl": name, "ms/batch": med * 1e3, "img/s": batch / med,
            "TFLOP/s (released FLOPs)": tflops}  # fmt: skip


def _ours(cfg, params, z, y, iters: int, imgs: dict) -> list[tuple[str, float]]:
    params_dev = jax.device_put(params)
    out = []
    for name, dt in (("ours fp32", jnp.float32), ("ours bf16", jnp.bfloat16)):
        f = lambda dt=dt: biggan_jax.generate(cfg, params_dev, z, y, 0.4, dtype=dt)
        imgs[name] = np.asarray(f())
        med, _ = timeit(f, iters=iters, sync=lambda x: x.block_until_ready())
        out.append((name, med))
    return out


def _pytorch(cfg, params, z, y, iters: int, imgs: dict, modes=("eager", "compile")) -> list[tuple[str, float]]:
    """The reference generator, eager and ``torch.compile``d, on the same weights."""
    import torch
    from pytorch_pretrained_biggan import BigGAN
    from pytorch_pretrained_biggan import BigGANConfig as RefConfig

    from weights_convert.biggan import to_torch_state_dict

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    ref = BigGAN(RefConfig.from_dict(cfg.to_hf_dict())).eval()
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_state_dict(cfg, params).items()})
    ref = ref.to(dev)
    zt, yt = (torch.from_numpy(np.asarray(a)).to(dev) for a in (z, y))
    sync = (lambda x: torch.cuda.synchronize()) if dev == "cuda" else (lambda x: x)
    peers = [("pytorch eager", ref)] if "eager" in modes else []
    try:
        if "compile" in modes:
            peers.append(("torch.compile", torch.compile(ref)))
    except Exception as e:
        print("torch.compile unavailable:", e)
    out = []
    for name, m in peers:
        with torch.no_grad():
            f = lambda m=m: m(zt, yt, 0.4)
            try:
                imgs[name] = f().permute(0, 2, 3, 1).float().cpu().numpy()
            except Exception as e:
                print(f"{name} failed: {e}")
                continue
            med, _ = timeit(f, iters=iters, sync=sync)
        out.append((name, med))
    return out


def parse_args(argv=None) -> argparse.Namespace:
    """The command line; ``--smoke`` sets batch 2, 2 iterations (and width 4: :func:`model_config`)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="biggan-deep-256")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--smoke", action="store_true", help="tiny model on CPU")
    ap.add_argument("--no_torch", action="store_true")
    ap.add_argument("--torch_modes", default="eager,compile", help="eager, compile or both")
    args = ap.parse_args(argv)
    if args.smoke:
        args.batch, args.iters = 2, 2
    return args


def model_config(args: argparse.Namespace):
    cfg = biggan_jax.get_config(args.config)
    return cfg.replace(channel_width=4) if args.smoke else cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = model_config(args)
    params = biggan_jax.init_params(cfg, jax.random.key(0))
    z = biggan_jax.truncated_noise(jax.random.key(1), args.batch, 0.4)
    y = jnp.asarray(biggan_jax.class_vector([i % 1000 for i in range(args.batch)]))
    released = cfg == biggan_jax.get_config(cfg.name)  # smoke: not a released size
    gmac = GMAC_RELEASED.get(cfg.name) if released else None
    imgs = {}
    timings = _ours(cfg, params, z, y, args.iters, imgs)
    if use_torch(args.no_torch):
        timings += _pytorch(cfg, params, z, y, args.iters, imgs, args.torch_modes.split(","))
    extra = {"config": cfg.name, "batch": args.batch,
             "bf16 vs fp32 PSNR (dB)": round(psnr(imgs["ours bf16"], imgs["ours fp32"]), 2)}  # fmt: skip
    if "pytorch eager" in imgs:
        extra["max |ours fp32 - pytorch|"] = float(np.abs(imgs["ours fp32"] - imgs["pytorch eager"]).max())
    if not args.smoke and jax.devices()[0].platform == "gpu":
        extra["measured bf16 matmul peak (TFLOP/s)"] = round(matmul_peak_tflops("bfloat16"), 1)
        extra["measured fp32 matmul peak (TFLOP/s)"] = round(matmul_peak_tflops("float32"), 1)
    title = f"BigGAN-deep forward, {cfg.name} (width {cfg.channel_width}), batch {args.batch}"
    rows = [_row(n, med, args.batch, gmac) for n, med in timings]
    report(title, rows, extra)
    return rows, extra


if __name__ == "__main__":
    main()
