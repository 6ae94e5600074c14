r"""Gatys style transfer throughput: ours (JAX, one compiled program) vs PyTorch
eager and torch.compile, in one run, on the same VGG-19 weights and images.

    python benchmarks/style.py                       # GPU: VGG-19, 512², 100 steps, Adam + L-BFGS,
                                                     # and the 8-ratio α/β sweep vs 8 serial runs
    python benchmarks/style.py --smoke               # CPU-sized: 32², 3 steps, torch eager only
    python benchmarks/style.py --json=out.json       # also write the figures
    OMP_NUM_THREADS=2 python benchmarks/style.py --size=128 --steps=10 --ratios=0 \
        --optimizers=adam --torch_modes=eager --repeat=3 # the CPU row of issue 10

Workload (issue 4): VGG-19 (random weights: speed does not depend on the
values), average pooling, content conv4_2, style conv1_1..conv5_1 (the net
runs to conv5_1), α = 1, β = 1e3, image optimised in [0, 1] with clipping.
Adam figures are optimiser steps per second after compilation (compile time is
reported separately); ``fwd+bwd`` is the bare VGG-19 forward + backward w.r.t.
the image (no optimiser), so ``loop overhead`` = fwd+bwd rate / step rate - 1.
``--loop`` forces the loop form (default: :func:`neural_art.optim.default_loop`).
With ``--repeat=N`` every timing is taken N times and the median reported.
L-BFGS figures are iterations per second; each
iteration runs a line search (optax zoom / torch strong-Wolfe), so function
evaluations per iteration may differ between the two and are not comparable
one-to-one. Timings use ``block_until_ready`` / ``torch.cuda.synchronize``.
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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import compiled_grad_check, use_torch
from styletransfer import Settings, losses, objective, optim, transfer, vgg


def _images(size: int):
    rng = np.random.default_rng(0)
    c = rng.uniform(size=(size, size, 3)).astype(np.float32)
    s = rng.uniform(size=(size, size, 3)).astype(np.float32)
    return c, s


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def bench_fwd_bwd(net, content, style, repeat: int) -> float:
    """Bare VGG-19 forward + backward w.r.t. the image (the loss, no optimiser), per second."""
    s = Settings()
    hw = content.shape[:2]
    c, st = jnp.asarray(content), jnp.asarray(style)
    content_t, style_t = objective.targets(net, s, c, [st], None, hw)
    loss = objective.loss_fn(net.cfg, s, True, True)
    vg = jax.jit(jax.value_and_grad(lambda x, *a: loss(x, *a)[0]))
    args = (net.params, content_t, style_t, objective.weights(s))
    jax.block_until_ready(vg(c, *args))
    return 1.0 / _median_time(lambda: jax.block_until_ready(vg(c, *args)), max(repeat, 3))


def bench_ours(net, content, style, steps: int, optimizer: str, ratios: int, repeat: int,
               loop: str):  # fmt: skip
    s = Settings(optimizer=optimizer, steps=steps, style_weight=1e3)
    out = {"loop": optim.default_loop() if loop == "auto" else loop}
    with optim.loop_form(out["loop"]):
        t = time.perf_counter()
        transfer.stylize(net, content, [style], s)  # compile + run
        out["first_call_s"] = time.perf_counter() - t
        dt = _median_time(lambda: transfer.stylize(net, content, [style], s), repeat)
        out["it_per_s"] = steps / dt
        out["final_loss"] = float(transfer.stylize(net, content, [style], s).losses[-1])
        if ratios:
            rs = tuple(10.0 ** np.linspace(-4, 0, ratios))
            transfer.sweep(net, content, [style], rs, s)  # compile
            out["sweep_s"] = _median_time(lambda: transfer.sweep(net, content, [style], rs, s),
                                          repeat)  # fmt: skip
            serial = lambda: [transfer.stylize(net, content, [style],
                                               s.replace(content_weight=r_ * s.style_weight))
                              for r_ in rs]  # fmt: skip
            out["serial_s"] = _median_time(serial, repeat)
            out["sweep_speedup"] = out["serial_s"] / out["sweep_s"]
    return out


def torch_loss(params, cfg, content, style):
    """The same Gatys loss in PyTorch eager (torchvision layout): ``(loss_fn(x), device)``."""
    import torch

    from weights_convert.vgg import to_torch_state_dict

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    layers, cin = [], 3
    for nb, w in zip(cfg.convs_per_block, cfg.widths, strict=True):
        for _ in range(nb):
            layers += [torch.nn.Conv2d(cin, w, 3, padding=1), torch.nn.ReLU()]
            cin = w
        layers.append(torch.nn.AvgPool2d(2, 2))
    names = [n for n in cfg.layer_names if not n.startswith(("fc", "relu6", "relu7"))]
    stop = names.index("conv5_1") + 1
    feats = torch.nn.Sequential(*layers[:stop])
    sd = to_torch_state_dict(cfg, params)
    feats.load_state_dict(
        {
            k.removeprefix("features."): torch.tensor(v)
            for k, v in sd.items()
            if int(k.split(".")[1]) < stop
        }  # fmt: skip
    )
    feats = feats.to(dev).eval().requires_grad_(False)
    mean = torch.tensor(vgg.IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(vgg.IMAGENET_STD, device=dev).view(1, 3, 1, 1)
    want = set(losses.STYLE_LAYERS) | {"conv4_2"}

    def run(x):
        out, h = {}, (x - mean) / std
        for name, m in zip(names[:stop], feats, strict=True):
            h = m(h)
            if name in want:
                out[name] = h
        return out

    def gram(f):
        f = f.reshape(f.shape[1], -1)
        return f @ f.t()

    t = lambda a: torch.tensor(a, device=dev).permute(2, 0, 1)[None].contiguous()
    with torch.no_grad():
        p = run(t(content))["conv4_2"]
        a = {k: gram(v) for k, v in run(t(style)).items() if k in losses.STYLE_LAYERS}

    def loss_fn(x):
        f = run(x)
        lc = 0.5 * ((f["conv4_2"] - p) ** 2).sum()
        ls = 0
        for k in losses.STYLE_LAYERS:
            n, m = f[k].shape[1], f[k].shape[2] * f[k].shape[3]
            ls = ls + 0.2 * ((gram(f[k]) - a[k]) ** 2).sum() / (4 * n**2 * m**2)
        return lc + 1e3 * ls

    return loss_fn, dev


def bench_torch(params, cfg, content, style, steps: int, optimizer: str, compiled: bool,
                repeat: int = 1):  # fmt: skip
    import torch

    loss_fn, dev = torch_loss(params, cfg, content, style)
    grad_check = "n/a"
    if compiled:
        eager_loss = loss_fn
        loss_fn = torch.compile(loss_fn)
        x = torch.rand(1, 3, *content.shape[:2], device=dev)
        grad_check = compiled_grad_check(eager_loss, loss_fn, x)
        if grad_check != "same as eager":
            print(f"torch.compile {optimizer}: {grad_check}", flush=True)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)

    def go(n):
        x = torch.rand(1, 3, *content.shape[:2], device=dev, generator=None).requires_grad_()
        if optimizer == "adam":
            opt = torch.optim.Adam([x], lr=0.02)
            for _ in range(n):
                opt.zero_grad(set_to_none=True)
                loss_fn(x).backward()
                opt.step()
                with torch.no_grad():
                    x.clamp_(0, 1)
            return n
        opt = torch.optim.LBFGS([x], lr=1, max_iter=n, history_size=10,
                                line_search_fn="strong_wolfe", tolerance_grad=0, tolerance_change=0)  # fmt: skip

        def closure():
            opt.zero_grad(set_to_none=True)
            v = loss_fn(x)
            v.backward()
            return v

        opt.step(closure)
        return opt.state[opt._params[0]]["n_iter"]

    t0 = time.perf_counter()
    go(2)
    sync()
    first = time.perf_counter() - t0
    rates = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        iters = go(steps)
        sync()
        rates.append(iters / (time.perf_counter() - t0))
    return {"first_call_s": first, "it_per_s": float(np.median(rates)), "device": dev,
            "grad_check": grad_check}  # fmt: skip


def parse_args(argv=None) -> argparse.Namespace:
    """The command line; ``--smoke``: 32², 3 steps, 2 ratios, PyTorch eager."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--ratios", type=int, default=8, help="α/β sweep width (0: skip)")
    ap.add_argument("--optimizers", default="adam,lbfgs")
    ap.add_argument("--no_torch", action="store_true")
    ap.add_argument("--torch_modes", default=None,
                    help="eager, compile or both (default both; --smoke: eager)")  # fmt: skip
    ap.add_argument("--smoke", action="store_true", help="tiny CPU run: 32², 3 steps, 2 ratios")
    ap.add_argument("--repeat", type=int, default=1, help="timings per figure (median)")
    ap.add_argument("--loop", default="auto", choices=optim.LOOPS, help="our loop form")
    ap.add_argument("--json", default=None)
    ap.add_argument("--weights", default="random:vgg19",
                    help="a styletransfer.vgg.load name (random:vgg19:8: a toy run)")  # fmt: skip
    a = ap.parse_args(argv)
    if a.smoke:
        a.size, a.steps, a.ratios = 32, 3, 2
    a.torch_modes = a.torch_modes or ("eager" if a.smoke else "eager,compile")
    return a


def main(argv=None):
    a = parse_args(argv)
    cfg, params = vgg.load(a.weights, seed=0, head=False)
    params = jax.tree.map(jnp.asarray, params)
    net = transfer.Net(cfg, params)
    content, style = _images(a.size)
    results = {
        "size": a.size, "steps": a.steps, "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
    }  # fmt: skip
    with_torch = use_torch(a.no_torch)
    results["fwd_bwd_per_s"] = fb = bench_fwd_bwd(net, content, style, a.repeat)
    print(f"VGG-19 fwd+bwd w.r.t. the image: {fb:.2f} /s", flush=True)
    for opt in a.optimizers.split(","):
        r = bench_ours(net, content, style, a.steps, opt, a.ratios if opt == "adam" else 0,
                       a.repeat, a.loop)  # fmt: skip
        results[f"ours/{opt}"] = r
        print(f"ours {opt} ({r['loop']}): {r['it_per_s']:.2f} it/s (first call "
              f"{r['first_call_s']:.1f} s; loop overhead vs fwd+bwd {fb / r['it_per_s'] - 1:+.0%})",
              flush=True)  # fmt: skip
        if "sweep_s" in r:
            print(f"  {a.ratios}-ratio sweep {r['sweep_s']:.2f} s vs serial {r['serial_s']:.2f} s "
                  f"-> x{r['sweep_speedup']:.2f}", flush=True)  # fmt: skip
        if not with_torch:
            continue
        for compiled in [m == "compile" for m in a.torch_modes.split(",")]:
            name = f"torch_{'compile' if compiled else 'eager'}/{opt}"
            try:
                r = bench_torch(params, cfg, content, style, a.steps, opt, compiled, a.repeat)
            except Exception as e:  # torch.compile needs a working C compiler / triton
                results[name] = {"error": f"{type(e).__name__}: {e}"[:500]}
                print(f"{name}: failed ({type(e).__name__}: {str(e)[:200]})", flush=True)
                continue
            results[name] = r
            ratio = results[f"ours/{opt}"]["it_per_s"] / r["it_per_s"]
            print(f"{name}: {r['it_per_s']:.2f} it/s on {r['device']} "
                  f"(first call {r['first_call_s']:.1f} s); ours/{name.split('/')[0]} = "
                  f"{ratio:.2f}x", flush=True)  # fmt: skip
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    print(json.dumps({"results": results}))  # for gpu_suite's ratio summary
    return results


if __name__ == "__main__":
    main()
