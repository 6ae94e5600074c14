"""Memory plans for the style step, chosen from the compiled program's own
``memory_analysis()`` (compiled, never run) before any compute.

    plan = memory.choose(net, settings, (2048, 2048), has_content=True, n_styles=1)
    plan.remat, plan.peak_bytes          # e.g. "none", 7.4e9

The plans (:data:`styletransfer.remat.PLANS`, cheapest compute first) are
tried in order and the first whose compiled peak fits the budget is taken;
``--remat=none|block|layer`` tries only that one. The activations' dtype is
the run's ``precision`` (``bfloat16`` only when asked: ``--precision=bfloat16``).

The budget (``--memory_budget``, GB per device) defaults to
:data:`DEFAULT_BUDGET_FRACTION` of the device's memory: a GPU's
``memory_stats()["bytes_limit"]``; on CPU the machine's total RAM. A size
that fits no plan is refused (:class:`neural_art.errors.UserError`) with the
largest longer side that fits: extrapolated from the compiled peak (linear in
the number of pixels) and confirmed by compiling at that size.
"""

from __future__ import annotations

import logging
import math
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp

from neural_art.errors import UserError
from neural_art import optim
from styletransfer import objective, remat, shard, vgg
from styletransfer.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_BUDGET_FRACTION = 0.75  # of the device's memory (CPU: total RAM)
GB = 1e9


class Plan(NamedTuple):
    """The memory plan of one scale."""

    remat: str  # one of remat.PLANS
    precision: str  # the activations' dtype
    peak_bytes: int  # the compiled step's peak, per device
    hw: tuple[int, int]
    devices: int
    budget_bytes: int

    def describe(self) -> str:
        h, w = self.hw
        return (f"{w}x{h}: remat={self.remat}, {self.precision}, {self.devices} device(s), "
                f"compiled peak {fmt(self.peak_bytes)} per device "
                f"(budget {fmt(self.budget_bytes)})")  # fmt: skip


def fmt(nbytes: int) -> str:
    """``1.23 GB`` (``45.6 MB`` below 0.1 GB)."""
    return f"{nbytes / GB:.2f} GB" if nbytes >= 0.1 * GB else f"{nbytes / 1e6:.1f} MB"


def device_memory(device: jax.Device | None = None) -> int:
    """Bytes of ``device`` (default: the first): a GPU's ``bytes_limit``; CPU: total RAM."""
    device = device or jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def budget_bytes(memory_budget_gb: float | None, device: jax.Device | None = None) -> int:
    """``--memory_budget`` in bytes (None: :data:`DEFAULT_BUDGET_FRACTION` of the device)."""
    if memory_budget_gb is None:
        return int(DEFAULT_BUDGET_FRACTION * device_memory(device))
    return int(memory_budget_gb * GB)


def peak_bytes(compiled: jax.stages.Compiled) -> int:
    """A compiled program's peak memory per device from ``memory_analysis()``:
    arguments + outputs - aliased + temporaries (or the backend's own
    ``peak_memory_in_bytes`` if larger)."""
    m = compiled.memory_analysis()
    total = (m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes
             + m.temp_size_in_bytes)  # fmt: skip
    return int(max(total, getattr(m, "peak_memory_in_bytes", 0) or 0))


def candidates(setting: str) -> tuple[str, ...]:
    """The plans a ``--remat`` value allows (``auto``: all, cheapest compute first)."""
    if setting == "auto":
        return remat.PLANS
    remat.segments(vgg.VGG19, setting)  # raises naming --remat if unknown
    return (setting,)


def step_peak(net: objective.Net, s: Settings, hw, plan: str, *, has_content: bool,
              n_styles: int, mesh=None) -> int:  # fmt: skip
    """The compiled peak (bytes per device) of one optimiser step at ``hw``, plan ``plan``."""
    probe = jax.ShapeDtypeStruct((*hw, 3), jnp.float32)
    content = probe if has_content else None
    styles = [jax.ShapeDtypeStruct((64, 64, 3), jnp.float32)] * n_styles  # Grams: any size
    c_t, s_t = jax.eval_shape(lambda c, st: objective.targets(net, s, c, st, None, hw), content, styles)
    loss = objective.loss_fn(net.cfg, s, bool(c_t), bool(s_t), plan)
    args = (shard.abstract(net.params, mesh, replicate=True), shard.abstract(c_t, mesh),
            shard.abstract(s_t, mesh, replicate=True),
            shard.abstract(jax.ShapeDtypeStruct((3,), jnp.float32), mesh))  # fmt: skip
    compiled = optim.compile_step(
        loss, shard.abstract(probe, mesh), optim.make_optimizer(s.optimizer, s.learning_rate),
        project=objective.projection(s), loss_args=args, has_aux=True,
        place=None if mesh is None else (lambda c: shard.abstract(c, mesh)),
    )  # fmt: skip
    return peak_bytes(compiled)


def _scaled(hw, side: int) -> tuple[int, int]:
    longer = max(hw)
    return (max(1, round(hw[0] * side / longer)), max(1, round(hw[1] * side / longer)))


def largest_side(peak_of, hw, peak: int, fixed: int, budget: int) -> int:
    """The largest longer side (multiple of 16, aspect of ``hw``) whose compiled peak
    fits ``budget``: extrapolated linearly in pixels from ``peak`` at ``hw`` above
    the size-independent ``fixed`` bytes, then confirmed with ``peak_of(hw)`` (the
    leanest plan's; shrunk and retried up to three times). 0 if not even 16 px
    fits. (At a few dozen pixels the peak is mostly size-independent buffers and
    not monotone in the size; the search is meant for real sizes.)"""
    side = max(hw)
    for _ in range(4):
        ratio = max(budget - fixed, 0) / max(peak - fixed, 1)
        side = int(side * math.sqrt(ratio)) // 16 * 16
        if side < 16:
            return 0
        hw = _scaled(hw, side)
        peak = peak_of(hw)
        if peak <= budget:
            return side
    return 0


def choose(net: objective.Net, s: Settings, hw, *, has_content: bool, n_styles: int,
           mesh=None) -> Plan:  # fmt: skip
    """The cheapest plan whose compiled step fits the budget (logged before any compute).

    Raises:
      UserError: no plan fits: names the size, the leanest plan's peak, the
        budget and the largest size that fits.
    """
    budget = budget_bytes(s.memory_budget)
    devices = 1 if mesh is None else mesh.size
    kw = dict(has_content=has_content, n_styles=n_styles, mesh=mesh)
    tried = {}
    for plan in candidates(s.remat):
        tried[plan] = step_peak(net, s, hw, plan, **kw)
        if tried[plan] <= budget:
            chosen = Plan(plan, s.precision, tried[plan], tuple(hw), devices, budget)
            log.info("memory plan %s", chosen.describe())
            return chosen
    best = min(tried, key=tried.get)
    fixed = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(net.params))
    lean = lambda h: min(step_peak(net, s, h, p, **kw) for p in tried)  # noqa: E731
    side = largest_side(lean, hw, tried[best], fixed, budget)
    h, w = hw
    fits = (f"the largest size that fits is {side} px on the longer side (--size={side})"
            if side else "not even 16 px fits")  # fmt: skip
    raise UserError(
        f"a {w}x{h} image needs {fmt(tried[best])} per device for the style step with the "
        f"leanest plan (remat={best}, {s.precision}, {devices} device(s)), over "
        f"--memory_budget={budget / GB:g} GB; {fits}; or try --precision=bfloat16 or more devices"
    )
