r"""DCGAN training-step throughput: ours (one jit-compiled step) vs PyTorch eager
and torch.compile, in one run, on the same initial weights.

    python benchmarks/dcgan.py                 # GPU: seed architecture, batch 128, 64x64
    python benchmarks/dcgan.py --smoke         # CPU-sized: widths 8, batch 8, 2 iterations

One step = pytorch/examples' ``dcgan`` update (the order of :mod:`dcgan.train`):
G forward on fresh z ~ N(0, 1); D on the real batch and on the (detached) fake
batch, Adam step on D; G loss through the updated D, Adam step on G. PyTorch's
nets are pytorch/examples' ``nn.Sequential`` layout with the seed's changes
(LeakyReLU(0.2) in G, D head with bias; BCE-with-logits instead of Sigmoid +
BCELoss, the same function), loaded with our initial weights via
:mod:`dcgan.torch_layout`; torch.compile compiles both modules (the optimiser
steps stay eager). Before timing, one step of each implementation from the same
weights on the same z and real batch checks that the losses agree.

Anchors (issue 5, one H100): PyTorch eager ~86 steps/s, torch.compile ~81; goal
>= 170 steps/s. Steps/s are medians after warm-up (compile time excluded).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from benchmarks.common import report, timeit, use_torch
from dcgan import steps
from dcgan.model import sample_latents


def _config(ngf: int, batch: int, convt_impl: str, conv_impl: str = "auto"):
    from dcgan.configs.common import base_config

    c = base_config()
    c.model.ngf = c.model.ndf = ngf
    c.model.convt_impl = convt_impl
    c.model.conv_impl = conv_impl
    c.batch_size = batch
    return c


def bench_ours(config: ml_collections.ConfigDict, state, real: np.ndarray, iters: int):
    """Median seconds per step, and the first step's metrics (from ``state``)."""
    step = jax.jit(steps.make_train_step(config), donate_argnums=0)
    rng = jax.random.key(1)
    x = jax.device_put(jnp.asarray(real))
    box = {"s": jax.tree.map(jnp.array, state)}  # a copy: the step donates its input
    box["s"], first = step(box["s"], x, rng)

    def one():
        box["s"], m = step(box["s"], x, rng)
        return m["g_loss"]

    med, _ = timeit(one, warmup=2, iters=iters, sync=lambda v: v.block_until_ready())
    return med, jax.device_get(first)


def _torch_nets(cfg, g_vars, d_vars, device):
    import torch
    from torch import nn

    from dcgan import torch_layout as conv

    layers, cin = [], cfg.nz
    for i, w in enumerate(cfg.g_widths()):
        s, p = (1, 0) if i == 0 else (2, 1)
        act = nn.LeakyReLU(cfg.leak) if cfg.g_act == "leaky_relu" else nn.ReLU()
        layers += [nn.ConvTranspose2d(cin, w, 4, s, p, bias=False), nn.BatchNorm2d(w), act]
        cin = w
    layers += [nn.ConvTranspose2d(cin, cfg.nc, 4, 2, 1, bias=False), nn.Tanh()]
    net_g = nn.Module()
    net_g.main = nn.Sequential(*layers)
    layers, cin = [], cfg.nc
    for i, w in enumerate(cfg.d_widths()):
        layers.append(nn.Conv2d(cin, w, 4, 2, 1, bias=False))
        if i > 0:
            layers.append(nn.BatchNorm2d(w))
        layers.append(nn.LeakyReLU(cfg.leak))
        cin = w
    layers += [nn.Conv2d(cin, 1, 4, 1, 0, bias=cfg.head_bias), nn.Flatten(0)]  # logits
    net_d = nn.Module()
    net_d.main = nn.Sequential(*layers)
    for net, sd in ((net_g, conv.generator_to_torch(cfg, g_vars)), (net_d, conv.discriminator_to_torch(cfg, d_vars))):  # fmt: skip
        missing = net.load_state_dict(
            {k: torch.from_numpy(np.array(v)) for k, v in sd.items()}, strict=False
        )
        assert not missing.unexpected_keys, missing
        assert all(k.endswith("num_batches_tracked") for k in missing.missing_keys), missing
    return net_g.main.to(device).train(), net_d.main.to(device).train()


def make_torch_step(config, net_g, net_d, device):
    import torch

    c = config
    opt_g = torch.optim.Adam(net_g.parameters(), lr=c.lr, betas=(c.b1, c.b2), eps=c.eps)
    opt_d = torch.optim.Adam(net_d.parameters(), lr=c.lr, betas=(c.b1, c.b2), eps=c.eps)
    bce = torch.nn.BCEWithLogitsLoss()

    def step(real, z=None):
        b = real.shape[0]
        if z is None:
            z = torch.randn(b, c.model.nz, 1, 1, device=device)
        ones, zeros = torch.ones(b, device=device), torch.zeros(b, device=device)
        fake = net_g(z)
        opt_d.zero_grad(set_to_none=True)
        d_loss = bce(net_d(real), ones) + bce(net_d(fake.detach()), zeros)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        g_loss = bce(net_d(fake), ones)
        g_loss.backward()
        opt_g.step()
        return d_loss.detach(), g_loss.detach()

    return step


def _pytorch(a, config, mcfg, state, real, first, extra: dict) -> list[dict]:
    """PyTorch eager / torch.compile steps from the same weights; step-1 parity into ``extra``."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = (lambda v: torch.cuda.synchronize()) if device == "cuda" else (lambda v: v)
    real_t = torch.from_numpy(real.transpose(0, 3, 1, 2).copy()).to(device)
    # parity: one step from the same weights on the same z (ours: fold_in(rng, 0)) and batch
    z = sample_latents(jax.random.fold_in(jax.random.key(1), 0), a.batch, mcfg.nz)
    net_g, net_d = _torch_nets(mcfg, state["g"], state["d"], device)
    zt = torch.from_numpy(np.array(z)).view(a.batch, mcfg.nz, 1, 1).to(device)
    d_t, g_t = make_torch_step(config, net_g, net_d, device)(real_t, zt)
    extra["step-1 |d_loss - torch|"] = f"{abs(float(first['d_loss']) - float(d_t)):.2e}"
    extra["step-1 |g_loss - torch|"] = f"{abs(float(first['g_loss']) - float(g_t)):.2e}"
    rows = []
    for mode in a.torch_modes.split(","):
        net_g, net_d = _torch_nets(mcfg, state["g"], state["d"], device)
        if mode == "compile":
            net_g, net_d = torch.compile(net_g), torch.compile(net_d)
        step = make_torch_step(config, net_g, net_d, device)
        name = "pytorch eager" if mode == "eager" else "torch.compile"
        try:
            med, _ = timeit(lambda step=step: step(real_t), warmup=3, iters=a.iters, sync=sync)
        except Exception as e:  # torch.compile needs a C compiler (CPU) / triton (GPU)
            print(f"{name} unavailable: {type(e).__name__}: {str(e)[:200]}")
            continue
        rows.append({"impl": name, "steps/s": 1 / med, "ms/step": med * 1e3, "img/s": a.batch / med})
    extra["device (torch)"] = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    extra["torch"] = torch.__version__
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    """The command line; ``--smoke``: widths 8 (ngf), batch 8, 2 iterations."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument(
        "--ngf", type=int, default=128, help="width multiplier (seed: 128 -> 1024..128)"
    )
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--convt", default="subpixel,dilated", help="our ConvT lowering(s) to time")
    ap.add_argument("--conv", default="auto", help="our convolution lowering(s): auto, xla, im2col")
    ap.add_argument("--torch_modes", default="eager,compile", help="eager, compile or both")
    ap.add_argument("--no_torch", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny CPU run: widths 8, batch 8, 2 iters")
    a = ap.parse_args(argv)
    if a.smoke:
        a.ngf, a.batch, a.iters = 8, 8, 2
    return a


def main(argv=None):
    a = parse_args(argv)
    configs = {f"{t} ConvT, {c} conv": _config(a.ngf, a.batch, t, c)
               for t in a.convt.split(",") for c in a.conv.split(",")}  # fmt: skip
    config = next(iter(configs.values()))
    mcfg = steps.model_config(config)
    real = np.random.default_rng(0).uniform(-1, 1, (a.batch, 64, 64, 3)).astype(np.float32)
    state = jax.device_get(steps.init_state(config, jax.random.key(0)))
    rows, first = [], None
    for impl, c in configs.items():
        med, first = bench_ours(c, state, real, a.iters)
        rows.append({"impl": f"ours jit ({impl})", "steps/s": 1 / med, "ms/step": med * 1e3,
                     "img/s": a.batch / med})  # fmt: skip
    extra = {"architecture": f"seed DCGAN, G {mcfg.g_widths()} / D {mcfg.d_widths()}, 64x64",
             "batch": a.batch, "device (ours)": jax.devices()[0].device_kind}  # fmt: skip

    if use_torch(a.no_torch):
        rows += _pytorch(a, config, mcfg, state, real, first, extra)
    title = "DCGAN train step" + (" (SMOKE: tiny widths, not a measurement)" if a.smoke else "")
    report(title, rows, extra)
    return rows, extra


if __name__ == "__main__":
    main()
