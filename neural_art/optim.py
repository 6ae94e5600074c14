"""The one optimisation loop (style transfer and feature visualisation): jitted
optax steps, no host round trip per step.

    final, snapshots, losses, aux, state, trace = optim.run(
        loss_fn, x0, optim.make_optimizer("lbfgs"), num_steps=300, snapshot_every=50,
        project=optim.clip(0.0, 1.0))

* ``loss_fn(params, *loss_args) -> scalar`` (or ``(scalar, aux)`` with
  ``has_aux=True``: ``aux`` is returned for the final params, from the same
  evaluation that gives the final loss). With ``step_arg=True`` the loss is
  ``loss_fn(params, step, *loss_args)`` and the projection ``project(params,
  step)``: ``step`` is the traced int32 step number (per-step keys
  ``fold_in(k, step)``, schedules). Pass data (targets, frozen networks, keys)
  as ``loss_args`` rather than closing over it: closed-over arrays become
  compile-time constants, and a new closure means a new compilation.
* Any optax ``GradientTransformation``, best an :class:`Optimizer`
  (:func:`make_optimizer`): equal settings share compiled programs. Optimisers
  with a line search (``lbfgs``) get ``value``, ``grad`` and ``value_fn`` as
  the optax docs prescribe, and the value/gradient the line search already
  computed are reused through ``optax.value_and_grad_from_state`` (one
  evaluation per accepted step).
* ``project`` (e.g. :func:`clip`) keeps params valid after each update. When
  it moves a point, the line search's cached value is marked stale so the next
  step re-evaluates at the projected point.
* ``losses[s]`` is the loss at the params before step ``s``; ``losses[num_steps]``
  the loss of the result. ``trace_aux=True``: ``trace[s]`` is the aux of that
  same evaluation (first-order optimisers only). Snapshots are the params after
  every ``snapshot_every`` steps (an int) or after the listed steps (a
  sequence), stacked on a leading axis.
* Non-finite loss or gradient: the loop stops updating (params frozen) and
  :func:`run` raises :class:`NonFiniteLossError` naming the first bad step.
  :func:`optimize` is the pure, traceable core that returns that step instead.

Loop form (``loop=``). :func:`run` drives the steps from Python in blocks,
each block one jitted program; the host only dispatches (the NaN flag and the
losses stay on the device until the end). ``"steps"``: blocks of
``block_steps`` (default :data:`CPU_BLOCK`) steps as straight-line code, no
loop construct (on XLA:CPU a ``lax.scan`` while-loop body, even of length 1,
runs ~3x slower than the same step jitted on its own: measured 3.25x at 128²
for style transfer, likewise for featvis' VGG-16 at 64²); ``"scan"``: one
``lax.scan`` per block (between snapshots / progress reports), the right form
on GPU/TPU; ``"auto"`` (default): ``steps`` on CPU, ``scan`` elsewhere. Every
form runs the same step function and gives the same numbers. The step counter
lives in the loop state, so one program serves every block of a length.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from neural_art.errors import UserError
from neural_art.optimizers import (
    NonFiniteLossError,
    Optimizer,
    check_finite,
    clip,
    make_optimizer,
)

__all__ = [
    "CPU_BLOCK", "LOOPS", "NonFiniteLossError", "Optimized", "Optimizer", "RunResult",
    "check_finite", "clip", "compile_step", "default_loop", "loop_form", "make_optimizer",
    "optimize", "run", "segments",
]  # fmt: skip

LOOPS = ("auto", "steps", "scan")
CPU_BLOCK = 1  # steps per jitted block on CPU (measured: benchmarks/style.py, BENCHMARKS.md)


class RunResult(NamedTuple):
    params: Any  # final params
    snapshots: Any  # params after each snapshot step, [num_snapshots, ...]; None if none
    losses: jax.Array  # [num_steps + 1]
    aux: Any  # loss_fn's aux at the final params (has_aux=True), else None
    state: Any  # the optimiser state after the last step (to continue from)
    trace: Any = None  # trace_aux=True: aux of every step's evaluation, [num_steps, ...]


class Optimized(NamedTuple):
    """What :func:`optimize` returns (a pytree: vmappable)."""

    params: Any
    snapshots: Any
    losses: jax.Array
    first_bad_step: jax.Array  # int32, -1 if every step was finite
    aux: Any


class Carry(NamedTuple):
    """The loop state between steps."""

    params: Any
    state: Any
    step: jax.Array  # int32: steps taken
    bad: jax.Array  # int32: first non-finite step, -1 while none


class Problem(NamedTuple):
    """The static half of a run (hashable: the compile-cache key with the shapes).
    An :class:`Optimizer` hashes by its settings, anything else by identity."""

    loss_fn: Callable
    optimizer: Any
    project: Callable | None = None
    has_aux: bool = False
    step_arg: bool = False
    trace_aux: bool = False


_FORCED: list[str] = []  # loop_form() overrides, innermost last


def default_loop(backend: str | None = None) -> str:
    """``steps`` on CPU, ``scan`` on GPU/TPU (see the module docstring), unless
    inside :func:`loop_form`."""
    if _FORCED:
        return _FORCED[-1]
    return "steps" if (backend or jax.default_backend()) == "cpu" else "scan"


@contextlib.contextmanager
def loop_form(loop: str):
    """``with optim.loop_form("scan"): ...``: every ``loop="auto"`` run inside uses
    ``loop`` (benchmarks compare the forms through the library's public calls)."""
    _check_loop(loop)
    _FORCED.append(default_loop() if loop == "auto" else loop)
    try:
        yield
    finally:
        _FORCED.pop()


def _check_loop(loop: str) -> None:
    if loop not in LOOPS:
        raise UserError(f"loop must be one of {', '.join(LOOPS)}, got {loop!r}")


def _has_cached_value(state) -> bool:
    try:
        return optax.tree.get(state, "value") is not None
    except (KeyError, ValueError):
        return False


def _all_finite(value, grad) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grad)]
    return jnp.isfinite(value) & jnp.all(jnp.stack(leaves))


def _moved(a, b) -> jax.Array:
    diffs = [jnp.any(x != y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)]
    return jnp.any(jnp.stack(diffs))


def _evaluate(prob: Problem, params, step, loss_args):
    """``loss_fn`` at ``params`` as ``(loss, aux or None)``."""
    args = (step, *loss_args) if prob.step_arg else tuple(loss_args)
    out = prob.loss_fn(params, *args)
    return out if prob.has_aux else (out, None)


def _project(prob: Problem, params, step):
    return prob.project(params, step) if prob.step_arg else prob.project(params)


def make_step(prob: Problem, loss_args: tuple, cached: bool) -> Callable:
    """``step(carry, _) -> (carry, (loss before the step, its aux or None))``.

    ``cached``: the optimiser state carries the line search's value and gradient
    (:func:`_has_cached_value` of its init state)."""
    if cached and prob.trace_aux:
        raise UserError("trace_aux needs an optimiser without a line search")

    def step(carry: Carry, _=None):
        params, state, s, bad = carry
        value_fn = lambda p: _evaluate(prob, p, s, loss_args)[0]
        if cached:
            value, grad = optax.value_and_grad_from_state(value_fn)(params, state=state)
            aux = None
        elif prob.trace_aux:
            (value, aux), grad = jax.value_and_grad(
                lambda p: _evaluate(prob, p, s, loss_args), has_aux=True)(params)  # fmt: skip
        else:
            (value, grad), aux = jax.value_and_grad(value_fn)(params), None
        finite = _all_finite(value, grad)
        updates, new_state = prob.optimizer.update(
            grad, state, params, value=value, grad=grad, value_fn=value_fn
        )
        new_params = optax.apply_updates(params, updates)
        if prob.project is not None:
            projected = _project(prob, new_params, s)
            if cached:  # a moved point: the line search's cached value is stale
                old = optax.tree.get(new_state, "value")
                stale = jnp.where(_moved(projected, new_params), jnp.inf, old)
                new_state = optax.tree.set(new_state, value=stale)
            new_params = projected
        bad = jnp.where((bad < 0) & ~finite, s, bad)
        ok = bad < 0
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)
        return Carry(keep(new_params, params), keep(new_state, state), s + 1, bad), (value, aux)

    return step


def init_carry(optimizer, init_params) -> Carry:
    """The loop state before step 0."""
    return Carry(
        init_params, optimizer.init(init_params), jnp.zeros((), jnp.int32), -jnp.ones((), jnp.int32)
    )


def finish(prob: Problem, loss_args: tuple, num_steps: int, carry: Carry):
    """``(final loss, aux or None, first bad step)`` from one evaluation at the final params."""
    final, aux = _evaluate(prob, carry.params, carry.step, loss_args)
    bad = jnp.where((carry.bad < 0) & ~jnp.isfinite(final), num_steps, carry.bad)
    return final, aux, bad


def snapshot_steps(num_steps: int, snapshot_every: int | Sequence[int]) -> tuple[int, ...]:
    """The steps after which a snapshot is taken: every ``snapshot_every`` steps
    (an int; 0 or more than ``num_steps``: none) or the listed steps (in 1..num_steps)."""
    if isinstance(snapshot_every, int):
        every = snapshot_every if 0 < snapshot_every <= num_steps else 0
        return tuple(range(every, num_steps + 1, every)) if every else ()
    marks = tuple(sorted(set(int(m) for m in snapshot_every)))
    if marks and (marks[0] < 1 or marks[-1] > num_steps):
        raise UserError(f"snapshot steps must be in 1..{num_steps}, got {list(marks)}")
    return marks


def segments(num_steps: int, snapshot_every, block: int) -> list[tuple[int, bool]]:
    """Block lengths covering ``num_steps``, ``(length, snapshot after it)``: no block
    crosses a snapshot step; blocks are ``block`` long except the last before each
    snapshot (and at the end)."""
    marks = snapshot_steps(num_steps, snapshot_every)
    ends = sorted(set(marks) | {num_steps})
    out, s = [], 0
    for m in ends:
        while s < m:
            n = min(block, m - s)
            s += n
            out.append((n, s == m and m in marks))
    return out


def optimize(
    loss_fn: Callable[..., jax.Array],
    init_params,
    optimizer: optax.GradientTransformation,
    num_steps: int,
    snapshot_every: int | Sequence[int] = 0,
    *,
    project: Callable[..., Any] | None = None,
    loss_args: tuple = (),
    has_aux: bool = False,
    step_arg: bool = False,
) -> Optimized:
    """The whole loop as one traceable function (``lax.scan`` per block; not jitted
    itself): jit it, vmap it or nest it. Same numbers as :func:`run`."""
    prob = Problem(loss_fn, optimizer, project, has_aux, step_arg)
    carry = init_carry(optimizer, init_params)
    step = make_step(prob, tuple(loss_args), _has_cached_value(carry.state))
    values, snaps = [], []
    for n, snap in segments(num_steps, snapshot_every, max(num_steps, 1)):
        carry, (v, _) = jax.lax.scan(step, carry, None, length=n)
        values.append(v)
        if snap:
            snaps.append(carry.params)
    final, aux, bad = finish(prob, tuple(loss_args), num_steps, carry)
    snapshots = jax.tree.map(lambda *x: jnp.stack(x), *snaps) if snaps else None
    losses = jnp.concatenate([*values, final[None]])
    return Optimized(carry.params, snapshots, losses, bad, aux)


@functools.partial(jax.jit, static_argnames=("prob", "length", "unroll", "axes"))
def _block(carry, loss_args, *, prob: Problem, length: int, unroll: int, axes):
    def one(c, args):
        step = make_step(prob, args, _has_cached_value(c.state))
        if unroll < length:
            return jax.lax.scan(step, c, None, length=length, unroll=unroll)
        outs = []  # straight-line code: no while loop at all (even length 1 scans loop)
        for _ in range(length):
            c, o = step(c)
            outs.append(o)
        return c, jax.tree.map(lambda *x: jnp.stack(x), *outs)

    return one(carry, loss_args) if axes is None else jax.vmap(one, (0, axes))(carry, loss_args)


@functools.partial(jax.jit, static_argnames=("optimizer", "batched"))
def _init(init_params, *, optimizer, batched):
    init = functools.partial(init_carry, optimizer)
    return jax.vmap(init)(init_params) if batched else init(init_params)


@functools.partial(jax.jit, static_argnames=("prob", "num_steps", "axes"))
def _finish(carry, loss_args, *, prob: Problem, num_steps, axes):
    fin = lambda c, a: finish(prob, a, num_steps, c)
    return fin(carry, loss_args) if axes is None else jax.vmap(fin, (0, axes))(carry, loss_args)


def compile_step(
    loss_fn: Callable[..., jax.Array],
    init_params,
    optimizer: optax.GradientTransformation,
    *,
    project: Callable[..., Any] | None = None,
    loss_args: tuple = (),
    has_aux: bool = False,
    step_arg: bool = False,
    trace_aux: bool = False,
    place: Callable[[Any], Any] | None = None,
) -> jax.stages.Compiled:
    """One optimiser step exactly as :func:`run` dispatches it on CPU (a block of
    one step), compiled but not run: for its ``memory_analysis()``.
    ``init_params`` and ``loss_args`` may be ``jax.ShapeDtypeStruct`` s (with
    shardings); ``place`` maps the abstract loop state to its placed form (as
    :func:`run`'s ``place``)."""
    carry = jax.eval_shape(functools.partial(init_carry, optimizer), init_params)
    carry = carry if place is None else place(carry)
    prob = Problem(loss_fn, optimizer, project, has_aux, step_arg, trace_aux)
    return _block.lower(carry, tuple(loss_args), prob=prob, length=1, unroll=1, axes=None).compile()


def _stack(trees: list, axis: int):
    return jax.tree.map(lambda *x: jnp.stack(x, axis), *trees) if trees else None


def _drive(carry, loss_args, prob, segs, unroll, axes, callback, every):
    """Dispatches the blocks; reports progress one block behind. ``(carry, outs, snaps)``."""
    outs, snaps, pending, done = [], [], None, 0
    total = sum(n for n, _ in segs)
    for n, snap in segs:
        carry, o = _block(carry, loss_args, prob=prob, length=n, unroll=min(unroll, n), axes=axes)
        outs.append(o)  # ([n] ([batch, n]) losses, aux trace or None)
        if snap:
            snaps.append(carry.params)
        if pending is not None:  # the previous block's report: it is done by now
            callback(*pending)
            pending = None
        crossed = (done + n) // every > done // every
        if callback is not None and (crossed or done + n == total):
            pending = (done + n, o[0][..., -1])
        done += n
    if pending is not None:
        callback(*pending)
    return carry, outs, snaps


def run(
    loss_fn: Callable[..., jax.Array],
    init_params,
    optimizer: optax.GradientTransformation,
    num_steps: int,
    snapshot_every: int | Sequence[int] = 0,
    *,
    project: Callable[..., Any] | None = None,
    loss_args: tuple = (),
    has_aux: bool = False,
    step_arg: bool = False,
    trace_aux: bool = False,
    callback: Callable[[int, jax.Array], None] | None = None,
    progress_every: int = 10,
    loop: str = "auto",
    block_steps: int = CPU_BLOCK,
    batch_axes: tuple | None = None,
    where: str = "",
    advice: str | None = None,
    place: Callable[[Any], Any] | None = None,
    init_state: Any = None,
) -> RunResult:
    """Minimises ``loss_fn(params, *loss_args)`` from ``init_params`` for ``num_steps``
    optimiser steps. Returns ``(final, snapshots, losses, aux, state, trace)``.

    ``loss_fn``, ``optimizer`` and ``project`` are static (an :class:`Optimizer`
    hashed by its settings, its first-order rate excluded; anything else by
    identity or its own ``__eq__``/``__hash__``): equal ones reuse the compiled
    programs. ``callback(step, value)`` (progress bars) is called on the host
    every ``progress_every`` steps and after the last, with the loss before that
    step as a device scalar, one block behind the device (reading it does not
    stall the loop). ``block_steps``: steps per jitted block in the ``steps``
    form. ``batch_axes``: run a batch of problems at once (``vmap``):
    ``init_params`` has a leading batch axis and ``batch_axes`` gives each
    ``loss_args`` entry's batch axis (``None``: shared); results get a leading
    batch axis. ``where`` is appended to the step in a
    :class:`NonFiniteLossError`, ``advice`` replaces its advice.
    ``place(carry) -> carry``: puts the initial loop state (params and optimiser
    state) where it should live, e.g. split over devices like the image.
    ``init_state``: continue from this optimiser state (e.g.
    :attr:`RunResult.state` of a coarser scale, resized) instead of
    ``optimizer.init(init_params)``. ``step_arg``/``trace_aux``: module docstring.

    Raises:
      NonFiniteLossError: a loss or gradient became NaN/inf (names the step).
    """
    _check_loop(loop)
    if block_steps < 1:
        raise UserError(f"block_steps must be >= 1, got {block_steps}")
    if trace_aux and not has_aux:
        raise UserError("trace_aux needs has_aux=True (a loss_fn returning (loss, aux))")
    loop = default_loop() if loop == "auto" else loop
    if loop == "steps":
        block, unroll = block_steps, block_steps
    else:
        block, unroll = max(1, progress_every if callback else num_steps), 1
    loss_args = jax.device_put(tuple(loss_args))
    prob = Problem(loss_fn, optimizer, project, has_aux, step_arg, trace_aux)
    axes = None if batch_axes is None else tuple(batch_axes)
    carry = _init(init_params, optimizer=optimizer, batched=axes is not None)
    if isinstance(optimizer, Optimizer):  # the compiled init may be an equal optimiser's
        carry = carry._replace(state=optimizer.with_rate(carry.state))
    if init_state is not None:
        carry = carry._replace(state=init_state)
    carry = carry if place is None else place(carry)
    segs = segments(num_steps, snapshot_every, block)
    carry, outs, snaps = _drive(carry, loss_args, prob, segs, unroll, axes, callback,
                                progress_every)  # fmt: skip
    final, aux, bad = _finish(carry, loss_args, prob=prob, num_steps=num_steps, axes=axes)
    check_finite(bad, where, last_good=carry.params, advice=advice)
    losses = jnp.concatenate([*(o[0] for o in outs), final[..., None]], axis=-1)
    axis = 0 if axes is None else 1
    trace = None
    if trace_aux:
        trace = jax.tree.map(lambda *x: jnp.concatenate(x, axis), *(o[1] for o in outs))
    return RunResult(carry.params, _stack(snaps, axis), losses, aux, carry.state, trace)
