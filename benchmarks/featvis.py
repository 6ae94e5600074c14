r"""Pixel-space class maximisation throughput: ours (featvis, 64 targets in one
vmapped, jitted program) vs PyTorch eager and torch.compile (one batched
tensor of 64 images), in one run, fp32 and bf16, on the same VGG-16 weights
and the same initial images.

    python benchmarks/featvis.py                      # GPU: VGG-16, 224², 64 targets, 100 steps
    python benchmarks/featvis.py --smoke              # CPU-sized: 32², 4 targets, 3 steps
    python benchmarks/featvis.py --smoke --torch_modes=eager   # skip torch.compile
    python benchmarks/featvis.py --json=out.json      # also write the figures

Workload (issue 6): VGG-16 (random weights: speed does not depend on the
values; ``--weights`` takes any ``styletransfer.vgg.load`` name), max pooling,
target ``t``'s objective is its class logit (fc8), pixels ``[1, H, W, 3]`` in
[0, 1] initialised ``0.5 + 0.01·N(0, 1)``, Adam(lr 0.01), clipped to [0, 1]
after each step; no transforms. Target ``t`` = class ``t·15 mod 1000``.
PyTorch optimises the 64 images as one ``[64, 3, H, W]`` leaf with the summed
objective: Adam is elementwise and the images do not interact, so this is the
same optimisation as 64 separate ones.

Figures: image-iterations per second (targets × steps / seconds, after
compilation; compile time reported separately). bf16: the network runs in
bfloat16 (ours: params and input cast, objective and Adam in fp32; PyTorch:
``torch.autocast``); "bf16 vs fp32" is the largest deviation of the mean (over
targets) objective trajectory from fp32's, relative to fp32's final value, and
the same for the final value alone, and the max deviation relative to fp32's
rise (final - first value). "vs torch" compares ours and PyTorch's fp32
trajectories from the same initial images (a correctness check of the race).
Timings use ``block_until_ready`` / ``torch.cuda.synchronize``.

torch.compile's gradient is checked against eager's before timing: on this
project's CPU machines (torch 2.13.0+cpu, inductor) the compiled VGG-16's
gradient w.r.t. the input image is identically zero (forward matches eager to
1e-7; ``backend="aot_eager"`` is correct), so ``--smoke``'s torch.compile rows
are flagged ``FAILED`` and must not be quoted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import featvis as fv
from benchmarks.common import compiled_grad_check, use_torch
from styletransfer import vgg

LR = 0.01


def targets_for(n: int) -> np.ndarray:
    return (np.arange(n) * 15) % 1000


def ours_model(cfg, params, dtype):
    if dtype == "float32":
        return fv.models.vgg_from(cfg, params, ["fc8"])
    p16 = jax.tree.map(lambda a: jnp.asarray(a, jnp.bfloat16), params)

    def apply(p, x):
        logits, feats = vgg.apply(cfg, p, x.astype(jnp.bfloat16), ["fc8"])
        return logits, {k: v.astype(jnp.float32) for k, v in feats.items()}

    return fv.Model(apply, p16)


def bench_ours(cfg, params, size: int, n: int, steps: int, dtype: str):
    model = ours_model(cfg, params, dtype)
    prm = fv.param.pixel(size, size)
    tg = jnp.asarray(targets_for(n))
    kw = dict(key=jax.random.key(0), steps=steps, optimizer=optax.adam(LR), chunk_size=n)

    def go():
        return fv.render_many(fv.objectives.class_logit, tg, prm, model, **kw)  # one compiled program

    t = time.perf_counter()
    out = jax.block_until_ready(go())  # compile + run
    first = time.perf_counter() - t
    t = time.perf_counter()
    out = jax.block_until_ready(go())
    dt = time.perf_counter() - t
    return {
        "first_call_s": first, "img_it_per_s": n * steps / dt,
        "trajectory": np.asarray(out.objective, np.float64),
    }  # fmt: skip


def initial_images(size: int, n: int) -> np.ndarray:
    """The images featvis' pixel param starts from for targets 0..n-1 (key 0)."""
    prm = fv.param.pixel(size, size)

    def one(i):
        return prm.init(jax.random.split(jax.random.fold_in(jax.random.key(0), i))[0])[0]

    return np.asarray(jax.vmap(one)(jnp.arange(n)))  # [n, H, W, 3]


def torch_vgg16(cfg, params, dev):
    """torchvision's VGG-16 layout (no torchvision needed), our weights."""
    import torch

    from weights_convert.vgg import to_torch_state_dict

    nn = torch.nn
    layers, cin = [], 3
    for nb, w in zip(cfg.convs_per_block, cfg.widths, strict=True):
        for _ in range(nb):
            layers += [nn.Conv2d(cin, w, 3, padding=1), nn.ReLU()]
            cin = w
        layers.append(nn.MaxPool2d(2, 2))
    net = nn.Module()
    net.features = nn.Sequential(*layers)
    net.avgpool = nn.AdaptiveAvgPool2d(cfg.pool_size)
    h = cfg.hidden  # 4096 (VGG-16); narrower for the tests' random:vgg16:W
    net.classifier = nn.Sequential(
        nn.Linear(cin * cfg.pool_size**2, h), nn.ReLU(), nn.Dropout(), nn.Linear(h, h), nn.ReLU(),
        nn.Dropout(), nn.Linear(h, cfg.num_classes),
    )  # fmt: skip
    sd = {k: torch.tensor(np.asarray(v)) for k, v in to_torch_state_dict(cfg, params).items()}
    net.load_state_dict(sd, strict=True)
    net = net.to(dev).eval().requires_grad_(False)
    mean = torch.tensor(vgg.IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(vgg.IMAGENET_STD, device=dev).view(1, 3, 1, 1)

    def forward(x):
        h = net.features((x - mean) / std)
        return net.classifier(torch.flatten(net.avgpool(h), 1))

    return forward


def bench_torch(cfg, params, init: np.ndarray, steps: int, compiled: bool, dtype: str):
    import torch

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    forward = torch_vgg16(cfg, params, dev)
    n = init.shape[0]
    tg = torch.tensor(targets_for(n), device=dev)
    rows = torch.arange(n, device=dev)

    def objective(x):
        if dtype == "bfloat16":
            with torch.autocast(dev, dtype=torch.bfloat16):
                logits = forward(x)
        else:
            logits = forward(x)
        return logits.float()[rows, tg]  # [n]

    eager_objective = objective
    if compiled:
        objective = torch.compile(objective)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    x0 = torch.tensor(init, device=dev).permute(0, 3, 1, 2).contiguous()

    def go(k):
        x = x0.clone().requires_grad_()
        opt = torch.optim.Adam([x], lr=LR)
        traj = []
        for _ in range(k):
            opt.zero_grad(set_to_none=True)
            obj = objective(x)
            (-obj.sum()).backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
            traj.append(obj.detach())
        return torch.stack(traj, 1)  # [n, k]

    t0 = time.perf_counter()
    go(2)
    sync()
    first = time.perf_counter() - t0
    grad_check = "n/a"
    if compiled:  # the race is only fair if the compiled program computes the same gradient
        grad_check = compiled_grad_check(eager_objective, objective, x0)
        if grad_check != "same as eager":
            print(f"torch.compile {dtype}: {grad_check}", flush=True)
    t0 = time.perf_counter()
    traj = go(steps)
    sync()
    dt = time.perf_counter() - t0
    return {
        "first_call_s": first, "img_it_per_s": n * steps / dt, "device": dev,
        "grad_check": grad_check, "trajectory": traj.cpu().double().numpy(),
    }  # fmt: skip


def closeness(a: np.ndarray, ref: np.ndarray) -> dict:
    """Mean-over-targets trajectories: max and final deviation relative to ref's final value."""
    ma, mr = a.mean(0), ref.mean(0)
    scale = max(abs(mr[-1]), 1e-12)
    rise = max(abs(mr[-1] - mr[0]), 1e-12)
    return {
        "max_rel_dev": float(np.max(np.abs(ma - mr)) / scale),
        "final_rel_dev": float(abs(ma[-1] - mr[-1]) / scale),
        "max_dev_over_rise": float(np.max(np.abs(ma - mr)) / rise),
        "final": float(ma[-1]), "final_ref": float(mr[-1]),
    }  # fmt: skip


def compare(results: dict, trajs: dict) -> None:
    """Adds (and prints) every trajectory's closeness to ours/float32."""
    ref = trajs.get("ours/float32")
    if ref is not None:
        for name, tr in trajs.items():
            if name == "ours/float32":
                continue
            c = closeness(tr, ref)
            results[f"{name} vs ours/float32"] = c
            print(f"{name} vs ours/float32: mean objective trajectory max dev "
                  f"{100 * c['max_rel_dev']:.2f}% of fp32's final value, final dev "
                  f"{100 * c['final_rel_dev']:.2f}% ({c['final']:.4g} vs {c['final_ref']:.4g}); max dev / "
                  f"fp32's rise {100 * c['max_dev_over_rise']:.1f}%")  # fmt: skip


def parse_args(argv=None) -> argparse.Namespace:
    """The command line; ``--smoke``: 32², 4 targets, 3 steps."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--targets", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--weights", default="random:vgg16")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--no_torch", action="store_true")
    ap.add_argument("--torch_modes", default="eager,compile", help="eager, compile or both")
    ap.add_argument("--smoke", action="store_true", help="tiny CPU run: 32², 4 targets, 3 steps")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    if a.smoke:
        a.size, a.targets, a.steps = 32, 4, 3
    return a


def main(argv=None):
    a = parse_args(argv)
    cfg, params = vgg.load(a.weights, seed=0)
    params = jax.tree.map(jnp.asarray, params)
    results = {
        "size": a.size, "targets": a.targets, "steps": a.steps, "jax": jax.__version__,
        "jax_backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
    }  # fmt: skip
    trajs = {}
    dtypes = a.dtypes.split(",")
    init = None
    with_torch = use_torch(a.no_torch)
    for dtype in dtypes:
        r = bench_ours(cfg, params, a.size, a.targets, a.steps, dtype)
        trajs[f"ours/{dtype}"] = r.pop("trajectory")
        results[f"ours/{dtype}"] = r
        print(f"ours {dtype}: {r['img_it_per_s']:,.1f} image-it/s "
              f"(first call {r['first_call_s']:.1f} s)", flush=True)  # fmt: skip
        if not with_torch:
            continue
        if init is None:
            init = initial_images(a.size, a.targets)
        for mode in a.torch_modes.split(","):
            name = f"torch_{mode}/{dtype}"
            try:
                r = bench_torch(cfg, params, init, a.steps, mode == "compile", dtype)
            except Exception as e:  # torch.compile needs a working C compiler / triton
                results[name] = {"error": f"{type(e).__name__}: {e}"[:500]}
                print(f"{name}: failed ({type(e).__name__}: {str(e)[:200]})", flush=True)
                continue
            trajs[name] = r.pop("trajectory")
            results[name] = r
            print(f"{name}: {r['img_it_per_s']:,.1f} image-it/s on {r['device']} "
                  f"(first call {r['first_call_s']:.1f} s)", flush=True)  # fmt: skip
    compare(results, trajs)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    print(json.dumps({"results": results}))  # for gpu_suite's ratio summary
    return results


if __name__ == "__main__":
    main()
