"""The project's optax loop: a whole optimisation as one jitted ``lax.scan``.

    final, snapshots, losses = optim.run(loss_fn, x0, optim.make_optimizer("lbfgs"),
                                         num_steps=300, snapshot_every=50,
                                         project=optim.clip(0.0, 1.0))

* ``loss_fn(params, *loss_args) -> scalar``. Pass data (targets, weights) as
  ``loss_args`` rather than closing over it: closed-over arrays become
  compile-time constants, and a new closure means a new compilation.
* Any optax ``GradientTransformation``. Optimisers with a line search
  (``optax.lbfgs``, ``scale_by_zoom_linesearch``/``backtracking``) get
  ``value``, ``grad`` and ``value_fn`` as the optax docs prescribe, and the
  value/gradient the line search already computed are reused through
  ``optax.value_and_grad_from_state`` (one evaluation per accepted step).
* ``project`` (e.g. :func:`clip`) keeps params valid after each update. When
  it moves a point, the line search's cached value is marked stale so the next
  step re-evaluates at the projected point (``value_and_grad_from_state``
  recomputes when the cached value is not finite).
* ``losses[s]`` is the loss at the params before step ``s``; ``losses[num_steps]``
  the loss of the result. Snapshots are the params after every
  ``snapshot_every`` steps, stacked on a leading axis.
* Non-finite loss or gradient: the loop stops updating (params frozen) and
  :func:`run` raises :class:`NonFiniteLossError` naming the first bad step.
  :func:`optimize` is the pure, vmappable core that returns that step instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax


class NonFiniteLossError(FloatingPointError):
    """The loss or its gradient became NaN/inf; ``step`` is the first bad step (0-based).

    ``last_good`` holds the params the loop froze at (the last finite iterate),
    so callers can still save the work done before the failure; ``saved`` is
    where a caller saved it (set by :mod:`styletransfer.pipeline`)."""

    def __init__(self, step: int, where: str = "", last_good: Any = None):
        self.step = int(step)
        self.last_good = last_good
        self.saved: str | None = None
        super().__init__(
            f"loss or gradient became non-finite at step {self.step}{where}; stopped. "
            "Try a smaller learning rate or content/style weights, or --init=content."
        )


class RunResult(NamedTuple):
    params: Any  # final params
    snapshots: Any  # params after every snapshot_every steps, [num_snapshots, ...]; None if 0
    losses: jax.Array  # [num_steps + 1]


class _Optimized(NamedTuple):
    params: Any
    snapshots: Any
    losses: jax.Array
    first_bad_step: jax.Array  # int32, -1 if every step was finite


@functools.lru_cache(maxsize=64)
def make_optimizer(
    name: str,
    learning_rate: float | None = None,
    *,
    memory_size: int = 10,
    max_linesearch_steps: int = 20,
) -> optax.GradientTransformation:
    """``adam`` (default lr 0.02 for pixels in [0, 1]) or ``lbfgs`` (zoom line search;
    ``learning_rate`` None lets the line search pick the step). Cached, so equal
    arguments return the same object and do not trigger a recompilation."""
    if name == "adam":
        return optax.adam(0.02 if learning_rate is None else learning_rate)
    if name == "lbfgs":
        return optax.lbfgs(
            learning_rate=learning_rate,
            memory_size=memory_size,
            linesearch=optax.scale_by_zoom_linesearch(
                max_linesearch_steps=max_linesearch_steps, initial_guess_strategy="one"
            ),
        )
    if name == "sgd":
        return optax.sgd(0.01 if learning_rate is None else learning_rate)
    raise ValueError(f"unknown optimizer {name!r}; use 'adam', 'lbfgs' or 'sgd'")


@functools.lru_cache(maxsize=16)
def clip(lo: float = 0.0, hi: float = 1.0) -> Callable[[Any], Any]:
    """Projection onto the box ``[lo, hi]`` (cached: same object for same bounds)."""
    return lambda params: jax.tree.map(lambda p: jnp.clip(p, lo, hi), params)


def _has_cached_value(state) -> bool:
    try:
        return optax.tree.get(state, "value") is not None
    except (KeyError, ValueError):
        return False


def optimize(
    loss_fn: Callable[..., jax.Array],
    init_params,
    optimizer: optax.GradientTransformation,
    num_steps: int,
    snapshot_every: int = 0,
    *,
    project: Callable[[Any], Any] | None = None,
    loss_args: tuple = (),
    callback: Callable[[jax.Array, jax.Array], None] | None = None,
) -> _Optimized:
    """Pure core of :func:`run` (traceable, vmappable; not jitted itself)."""
    value_fn = lambda p: loss_fn(p, *loss_args)
    state0 = optimizer.init(init_params)
    cached = _has_cached_value(state0)
    vg_cached = optax.value_and_grad_from_state(value_fn) if cached else None
    vg = jax.value_and_grad(value_fn)

    def step(carry, _):
        params, state, s, bad = carry
        if cached:
            value, grad = vg_cached(params, state=state)
        else:
            value, grad = vg(params)
        finite = jnp.isfinite(value) & jnp.all(
            jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grad)])
        )
        updates, new_state = optimizer.update(
            grad, state, params, value=value, grad=grad, value_fn=value_fn
        )
        new_params = optax.apply_updates(params, updates)
        if project is not None:
            projected = project(new_params)
            if cached:
                moved = jnp.any(
                    jnp.stack(
                        [
                            jnp.any(a != b)
                            for a, b in zip(
                                jax.tree.leaves(projected), jax.tree.leaves(new_params), strict=True
                            )
                        ]
                    )
                )
                old = optax.tree.get(new_state, "value")
                new_state = optax.tree.set(new_state, value=jnp.where(moved, jnp.inf, old))
            new_params = projected
        bad = jnp.where((bad < 0) & ~finite, s, bad)
        if callback is not None:
            jax.debug.callback(callback, s, value)
        ok = bad < 0
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)
        return (keep(new_params, params), keep(new_state, state), s + 1, bad), value

    def block(carry, n):
        return jax.lax.scan(step, carry, None, length=n)

    carry = (init_params, state0, jnp.zeros((), jnp.int32), -jnp.ones((), jnp.int32))
    losses, snapshots = [], None
    if snapshot_every and snapshot_every > 0 and num_steps >= snapshot_every:
        n_snap = num_steps // snapshot_every

        def outer(c, _):
            c, vals = block(c, snapshot_every)
            return c, (c[0], vals)

        carry, (snapshots, vals) = jax.lax.scan(outer, carry, None, length=n_snap)
        losses.append(vals.reshape(-1))
        rest = num_steps - n_snap * snapshot_every
    else:
        rest = num_steps
    if rest:
        carry, vals = block(carry, rest)
        losses.append(vals)
    params, _, _, bad = carry
    final = value_fn(params)
    bad = jnp.where((bad < 0) & ~jnp.isfinite(final), num_steps, bad)
    losses.append(final[None])
    return _Optimized(params, snapshots, jnp.concatenate(losses), bad)


_optimize_jit = jax.jit(
    optimize,
    static_argnames=("loss_fn", "optimizer", "num_steps", "snapshot_every", "project", "callback"),
)


def check_finite(first_bad_step, where: str = "", last_good: Any = None) -> None:
    """Raises :class:`NonFiniteLossError` if ``first_bad_step`` (from :func:`optimize`) is >= 0.

    With a leading batch axis (vmapped runs) reports the earliest bad step and its
    index. ``last_good`` (the loop's final, frozen params) travels with the error."""
    bad = jax.device_get(first_bad_step)
    bad = jnp.asarray(bad).reshape(-1)
    hits = [(int(b), i) for i, b in enumerate(bad.tolist()) if b >= 0]
    if hits:
        step, i = min(hits)
        raise NonFiniteLossError(
            step, where + (f" (run {i} of the batch)" if bad.size > 1 else ""), last_good
        )


def run(
    loss_fn: Callable[..., jax.Array],
    init_params,
    optimizer: optax.GradientTransformation,
    num_steps: int,
    snapshot_every: int = 0,
    *,
    project: Callable[[Any], Any] | None = None,
    loss_args: tuple = (),
    callback: Callable[[jax.Array, jax.Array], None] | None = None,
) -> RunResult:
    """Minimises ``loss_fn(params, *loss_args)`` from ``init_params`` for ``num_steps``
    optimiser steps in one compiled program. Returns ``(final, snapshots, losses)``.

    ``loss_fn``, ``optimizer``, ``project`` and ``callback`` are static (hashed
    by identity): reuse the same objects to reuse the compiled program.
    ``callback(step, value)`` is called on the host after every step (progress
    bars; ``jax.debug.callback``).

    Raises:
      NonFiniteLossError: a loss or gradient became NaN/inf (names the step).
    """
    out = _optimize_jit(
        loss_fn,
        init_params,
        optimizer,
        num_steps,
        snapshot_every,
        project=project,
        loss_args=tuple(loss_args),
        callback=callback,
    )
    check_finite(out.first_bad_step, last_good=out.params)
    return RunResult(out.params, out.snapshots, out.losses)
