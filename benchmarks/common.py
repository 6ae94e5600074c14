"""Shared timing helpers for the benchmark scripts (not part of the library)."""

from __future__ import annotations

import datetime
import json
import platform
import time

import numpy as np


def timeit(fn, *, warmup: int = 2, iters: int = 10, sync=lambda x: x) -> tuple[float, float]:
    """Median and min seconds per call of ``fn()`` (``sync`` blocks on its result)."""
    for _ in range(warmup):
        sync(fn())
    ts = []
    for _ in range(iters):
        t = time.perf_counter()
        sync(fn())
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), float(np.min(ts))


def device_name() -> str:
    import jax

    d = jax.devices()[0]
    return f"{d.platform}:{getattr(d, 'device_kind', d)} x{jax.device_count()}"


def matmul_peak_tflops(dtype: str = "bfloat16", n: int = 8192, iters: int = 20) -> float:
    """Measured dense-matmul throughput (TFLOP/s) of device 0, the 'peak' we report against."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((n, n), dtype)
    f = jax.jit(lambda x: x @ x)
    med, _ = timeit(lambda: f(a), iters=iters, sync=lambda x: x.block_until_ready())
    return 2 * n**3 / med / 1e12


def use_torch(no_torch: bool) -> bool:
    """Whether to run the PyTorch peers: not ``--no_torch`` and torch importable
    (says so when it is not)."""
    if no_torch:
        return False
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch not installed: PyTorch baselines skipped")
        return False
    return True


def compiled_grad_check(eager_fn, compiled_fn, x, *, rtol: float = 1e-2) -> str:
    """Whether ``torch.compile``'s gradient of ``sum(f(x))`` w.r.t. ``x`` equals eager's.

    A race against a compiled program is only fair if it computes the same thing:
    with torch 2.13 on CPU, compiled losses of a frozen network gave an identically
    zero input gradient (forward equal to 1e-7). Returns ``"same as eager"`` or a
    ``"FAILED: ..."`` line to put in the table beside the (then invalid) figures."""
    gs = []
    for fn in (eager_fn, compiled_fn):
        xi = x.detach().clone().requires_grad_()
        fn(xi).sum().backward()
        gs.append(xi.grad.double())
    err = float((gs[0] - gs[1]).norm() / gs[0].norm().clamp_min(1e-30))
    if err < rtol:
        return "same as eager"
    return (f"FAILED: |g_compiled - g_eager| / |g_eager| = {err:.3g} "
            f"(|g_compiled| = {float(gs[1].norm()):.3g}); figures invalid")  # fmt: skip


def psnr(a: np.ndarray, b: np.ndarray, peak_to_peak: float = 2.0) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak_to_peak**2 / mse)


def report(title: str, rows: list[dict], extra: dict | None = None) -> str:
    """A markdown table (for BENCHMARKS.md) plus a JSON line."""
    head = f"### {title}\n\n{datetime.date.today().isoformat()} · {device_name()} · {platform.python_version()}\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append(
            "| "
            + " | ".join(f"{r[c]:,.1f}" if isinstance(r[c], float) else str(r[c]) for c in cols)
            + " |"
        )
    text = head + "\n" + "\n".join(lines) + "\n"
    if extra:
        text += "\n" + "\n".join(f"- {k}: {v}" for k, v in extra.items()) + "\n"
    print(text)
    print(json.dumps({"title": title, "rows": rows, **(extra or {})}))
    return text
