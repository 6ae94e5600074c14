"""Weight-perturbation sweep throughput: ours (one compiled, sharded program per
chunk) vs the reference PyTorch loop (for each seed: perturb all 55.9M weights
in place, generate), in one run.

    python benchmarks/biggan_sweep.py                   # GPU: 256, 64 seeds x {1, 8} latents
    python benchmarks/biggan_sweep.py --smoke           # CPU: tiny config
    OMP_NUM_THREADS=2 python benchmarks/biggan_sweep.py --config=biggan-deep-128 \
        --seeds=4 --latents=4 --chunk=4 --dtypes=float32 --profile   # CPU, issue 10's row

Reports images/s, compile time, peak device memory, achieved TFLOP/s against
37.5 GMAC/image as released and 28 GMAC with conv_to_rgb's 3 used channels.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import numpy as np

from benchmarks.common import report, timeit, use_torch

GMAC = {"biggan-deep-256": (37.5, 28.0)}


def peak_bytes():
    try:
        return max(d.memory_stats().get("peak_bytes_in_use", 0) for d in jax.local_devices())
    except Exception:
        return None


def ours(cfg, params, seeds, latents, dtype, chunk, strategy=None):
    """(images/s after compilation, compile + first chunk s, the SweepPlan used)."""
    import biggan_jax
    from biggan_jax.sharded import Perturbation, sweep_chunks, sweep_plan

    z = biggan_jax.truncated_noise(jax.random.key(1), latents, 0.4)
    y = biggan_jax.class_vector([980] * latents)
    kw = dict(root=jax.random.key(0), perturbation=Perturbation(alpha=0.35), dtype=dtype,
              chunk_size=chunk, strategy=strategy)
    t = time.perf_counter()
    plan = sweep_plan(cfg, params, seeds, z, y, 0.4, **kw)
    for _ in sweep_chunks(cfg, params, seeds[: plan.chunk], z, y, 0.4, **kw):  # + first chunk
        pass
    first = time.perf_counter() - t
    t = time.perf_counter()
    n = 0
    for got, _ in sweep_chunks(cfg, params, seeds, z, y, 0.4, **kw):
        n += len(got) * latents
    dt = time.perf_counter() - t
    return n / dt, first, plan


def profile(cfg, params, latents, iters=3):
    """Where one seed's time goes: its noise, its perturbed weights, its forward."""
    import jax.numpy as jnp

    import biggan_jax
    from biggan_jax.perturb import HOOKS
    from biggan_jax.sharded import Perturbation
    from neural_art import perturb as core

    flat = [(core.path_str(p), np.shape(x)) for p, x in jax.tree_util.tree_leaves_with_path(params)
            if core.path_str(p).startswith("params/")]
    paths, shapes = [p for p, _ in flat], [s for _, s in flat]
    n = sum(int(np.prod(s)) for s in shapes)
    z = biggan_jax.truncated_noise(jax.random.key(1), latents, 0.4)
    y = jnp.asarray(biggan_jax.class_vector([980] * latents))
    pert = Perturbation(alpha=0.35)
    fns = {
        f"noise: {n / 1e6:.1f}M normals (ours)": (jax.jit(lambda k: core.normals(k, paths, shapes)),),
        f"noise: jax.random.normal threefry {n / 1e6:.1f}M": (
            jax.jit(lambda k: jax.random.normal(k, (n,))),),
        "perturb: eq. 2 weights of one seed": (jax.jit(lambda p, k: pert.apply(p, k, hooks=HOOKS)), params),
        f"forward: batch {latents}": (
            jax.jit(lambda k, p: biggan_jax.generate(cfg, p, z, y, 0.4)), params),
    }
    out = {}
    for name, (f, *rest) in fns.items():
        args = (*rest, jax.random.key(0)) if rest and name.startswith("perturb") else (
            (jax.random.key(0), *rest))
        ms, _ = timeit(lambda f=f, args=args: f(*args), warmup=1, iters=iters, sync=jax.block_until_ready)
        out[f"{name} (ms)"] = round(ms * 1e3)
    return out


def torch_noise_ms(n, iters=3):
    import torch

    g = torch.Generator().manual_seed(0)
    ms, _ = timeit(lambda: torch.randn(n, generator=g), warmup=1, iters=iters)
    return round(ms * 1e3)


def reference(cfg, params, seeds, latents):
    import torch
    from pytorch_pretrained_biggan import BigGAN
    from pytorch_pretrained_biggan import BigGANConfig as RefConfig

    import biggan_jax
    from weights_convert.biggan import to_torch_state_dict

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = BigGAN(RefConfig.from_dict(cfg.to_hf_dict())).eval().to(dev)
    state = {k: torch.from_numpy(v).to(dev) for k, v in to_torch_state_dict(cfg, params).items()}
    z = torch.from_numpy(
        np.asarray(biggan_jax.truncated_noise(jax.random.key(1), latents, 0.4))
    ).to(dev)
    y = torch.from_numpy(biggan_jax.class_vector([980] * latents)).to(dev)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)

    def one(seed):  # Janik's loop: reset, perturb every trainable parameter, generate
        model.load_state_dict(state)
        g = torch.Generator(device=dev).manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + 0.35 * torch.randn(p.shape, generator=g, device=dev))
            return model(z, y, 0.4)

    one(seeds[0])
    sync()
    t = time.perf_counter()
    for s in seeds:
        one(s)
    sync()
    return len(seeds) * latents / (time.perf_counter() - t)


def parse_args(argv=None) -> argparse.Namespace:
    """The command line; ``--smoke``: 4 seeds x {1, 2} latents, chunk 2 (and width 4:
    :func:`model_config`)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="biggan-deep-256")
    ap.add_argument("--seeds", type=int, default=64)
    ap.add_argument("--latents", default="1,8")
    ap.add_argument("--chunk", type=int, default=8, help="seeds per compiled chunk (all devices)")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--strategies", default="auto", help="comma list of auto,map,vmap,hybrid")
    ap.add_argument("--profile", action="store_true", help="time noise / perturb / forward alone")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--no_torch", action="store_true")
    args = ap.parse_args(argv)
    if args.smoke:
        args.seeds, args.latents, args.chunk = 4, "1,2", 2
    return args


def model_config(args: argparse.Namespace):
    import biggan_jax

    cfg = biggan_jax.get_config(args.config)
    return cfg.replace(channel_width=4) if args.smoke else cfg


def main(argv=None):
    args = parse_args(argv)

    import biggan_jax

    cfg = model_config(args)
    params = biggan_jax.init_params(cfg, jax.random.key(0))
    seeds = list(range(args.seeds))
    rows = []
    gmac = (
        GMAC.get(cfg.name) if cfg == biggan_jax.get_config(cfg.name) else None
    )  # smoke: not released
    with_torch = use_torch(args.no_torch)
    for L in map(int, args.latents.split(",")):
        for dt in args.dtypes.split(","):
          for st in args.strategies.split(","):
            ips, first, plan = ours(cfg, params, seeds, L, dt, args.chunk,
                                    None if st == "auto" else st)
            pb = peak_bytes() or plan.peak_bytes
            rows.append({"impl": f"ours {dt} {plan.strategy} (group {plan.group}, chunk {plan.chunk})",
                         "seeds x latents": f"{args.seeds}x{L}", "img/s": ips,
                         "compile+1st chunk s": first, "peak GB": pb / 1e9,
                         "TFLOP/s released / used": (f"{2*gmac[0]*ips/1e3:.0f} / {2*gmac[1]*ips/1e3:.0f}" if gmac else "-")})  # fmt: skip
        if with_torch:
            ips = reference(cfg, params, seeds[: max(4, args.seeds // 4)], L)
            rows.append({"impl": "pytorch loop (eager)", "seeds x latents": f"{args.seeds}x{L}", "img/s": ips,
                         "compile+1st chunk s": "-", "peak GB": "-",
                         "TFLOP/s released / used": (f"{2*gmac[0]*ips/1e3:.0f} / {2*gmac[1]*ips/1e3:.0f}" if gmac else "-")})  # fmt: skip
    extra = {"chunk": args.chunk}
    if args.profile:
        for L in map(int, args.latents.split(",")):
            extra.update(profile(cfg, params, L))
        if with_torch:
            n = sum(x.size for x in jax.tree.leaves(params["params"]))
            extra[f"noise: torch.randn {n / 1e6:.1f}M (ms)"] = torch_noise_ms(n)
    report(
        f"Perturbation sweep, {cfg.name} (width {cfg.channel_width}), eq. (2) alpha 0.35",
        rows,
        extra,
    )
    return rows, extra


if __name__ == "__main__":
    main()
