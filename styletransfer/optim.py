"""The project's optax loop: jitted optimiser steps, no host round trip per step.

    final, snapshots, losses, aux, state = optim.run(
        loss_fn, x0, optim.make_optimizer("lbfgs"), num_steps=300, snapshot_every=50,
        project=optim.clip(0.0, 1.0))

* ``loss_fn(params, *loss_args) -> scalar`` (or ``(scalar, aux)`` with
  ``has_aux=True``: ``aux`` is returned for the final params only, from the
  same evaluation that gives the final loss). Pass data (targets, weights) as
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
  :func:`optimize` is the pure, traceable core that returns that step instead.

Loop form (``loop=``). :func:`run` drives the steps from Python in blocks,
each block one jitted program; the host only dispatches (the NaN flag and the
losses stay on the device until the end). ``"steps"``: blocks of
:data:`CPU_BLOCK` steps as straight-line code, no loop construct (on XLA:CPU
a ``lax.scan`` while-loop body, even of length 1, runs ~3x slower than the
same step jitted on its own: measured 3.25x at 128², same FLOPs); ``"scan"``: one
``lax.scan`` per block (between snapshots / progress reports), the right form
on GPU/TPU; ``"auto"`` (default): ``steps`` on CPU, ``scan`` elsewhere. Every
form runs the same step function and gives the same numbers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from neural_art.errors import UserError

LOOPS = ("auto", "steps", "scan")
CPU_BLOCK = 1  # steps per jitted block on CPU (measured: benchmarks/style.py, BENCHMARKS.md)


class NonFiniteLossError(FloatingPointError, UserError):
    """The loss or its gradient became NaN/inf; ``step`` is the first bad step (0-based).

    A ``ValueError`` too: the CLI's error path (:func:`neural_art.cli.run`)
    reports it in one line, exit 1.

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
    aux: Any  # loss_fn's aux at the final params (has_aux=True), else None
    state: Any  # the optimiser state after the last step (to continue from)


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


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """An optax optimiser named by its settings, usable wherever :func:`run` takes
    one. Equal settings compare and hash equal, so a freshly built ``Optimizer``
    reuses the compiled programs of an equal one (the loop's compile cache is
    keyed on the optimiser: a raw optax object is keyed by identity, so a new
    ``optax.adam(0.02)`` compiles again). Adam's learning rate is data, not part
    of the key (``optax.inject_hyperparams``: it lives in the optimiser state,
    which :func:`run` fills from ``learning_rate``), so another rate compiles
    nothing either."""

    name: str
    learning_rate: float | None = dataclasses.field(default=None, compare=False)
    memory_size: int = 10
    max_linesearch_steps: int = 20
    static_rate: float | None = dataclasses.field(default=None, init=False)  # in the key

    def __post_init__(self):
        rate = None if self.name == "adam" else self.learning_rate
        object.__setattr__(self, "static_rate", rate)

    @property
    def rate(self) -> float:
        default = {"adam": 0.02, "sgd": 0.01}.get(self.name)
        return default if self.learning_rate is None else self.learning_rate

    @functools.cached_property
    def transformation(self) -> optax.GradientTransformationExtraArgs:
        if self.name == "adam":
            return optax.inject_hyperparams(optax.adam)(learning_rate=self.rate)
        if self.name == "lbfgs":
            return optax.lbfgs(
                learning_rate=self.learning_rate,
                memory_size=self.memory_size,
                linesearch=optax.scale_by_zoom_linesearch(
                    max_linesearch_steps=self.max_linesearch_steps, initial_guess_strategy="one"
                ),
            )
        return optax.sgd(self.rate)

    def init(self, params):
        return self.transformation.init(params)

    def update(self, updates, state, params=None, **extra):
        return self.transformation.update(updates, state, params, **extra)

    def with_rate(self, state):
        """``state`` (from a compiled ``init`` of an equal optimiser) carrying this
        optimiser's learning rate (Adam; the others' rate is in the key)."""
        if self.name != "adam":
            return state
        old = state.hyperparams["learning_rate"]
        return state._replace(hyperparams={**state.hyperparams,
                                           "learning_rate": jnp.full_like(old, self.rate)})  # fmt: skip


def make_optimizer(
    name: str,
    learning_rate: float | None = None,
    *,
    memory_size: int = 10,
    max_linesearch_steps: int = 20,
) -> Optimizer:
    """``adam`` (default lr 0.02 for pixels in [0, 1]), ``lbfgs`` (zoom line search;
    ``learning_rate`` None lets the line search pick the step) or ``sgd``, as an
    :class:`Optimizer`: equal arguments give equal optimisers, which share the
    compiled programs."""
    if name not in ("adam", "lbfgs", "sgd"):
        raise UserError(f"unknown optimizer {name!r}; use 'adam', 'lbfgs' or 'sgd'")
    return Optimizer(name, learning_rate, memory_size, max_linesearch_steps)


@functools.lru_cache(maxsize=16)
def clip(lo: float = 0.0, hi: float = 1.0) -> Callable[[Any], Any]:
    """Projection onto the box ``[lo, hi]`` (cached: same object for same bounds)."""
    return lambda params: jax.tree.map(lambda p: jnp.clip(p, lo, hi), params)


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
    if loop not in LOOPS:
        raise UserError(f"loop must be one of {LOOPS}, got {loop!r}")
    _FORCED.append(default_loop() if loop == "auto" else loop)
    try:
        yield
    finally:
        _FORCED.pop()


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


def value_fn_of(loss_fn: Callable, loss_args: tuple, has_aux: bool) -> Callable:
    """``params -> scalar loss`` (the aux, if any, is dropped: XLA removes its work)."""
    if has_aux:
        return lambda p: loss_fn(p, *loss_args)[0]
    return lambda p: loss_fn(p, *loss_args)


def make_step(value_fn: Callable, optimizer, project: Callable | None, cached: bool) -> Callable:
    """``step(carry, _) -> (carry, loss before the step)``: one optimiser step.

    ``cached``: the optimiser state carries the line search's value and gradient
    (:func:`_has_cached_value` of its init state)."""
    vg = optax.value_and_grad_from_state(value_fn) if cached else jax.value_and_grad(value_fn)

    def step(carry: Carry, _=None):
        params, state, s, bad = carry
        value, grad = vg(params, state=state) if cached else vg(params)
        finite = _all_finite(value, grad)
        updates, new_state = optimizer.update(
            grad, state, params, value=value, grad=grad, value_fn=value_fn
        )
        new_params = optax.apply_updates(params, updates)
        if project is not None:
            projected = project(new_params)
            if cached:  # a moved point: the line search's cached value is stale
                old = optax.tree.get(new_state, "value")
                stale = jnp.where(_moved(projected, new_params), jnp.inf, old)
                new_state = optax.tree.set(new_state, value=stale)
            new_params = projected
        bad = jnp.where((bad < 0) & ~finite, s, bad)
        ok = bad < 0
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)
        return Carry(keep(new_params, params), keep(new_state, state), s + 1, bad), value

    return step


def init_carry(optimizer, init_params) -> Carry:
    """The loop state before step 0."""
    return Carry(
        init_params, optimizer.init(init_params), jnp.zeros((), jnp.int32), -jnp.ones((), jnp.int32)
    )


def finish(loss_fn, loss_args: tuple, has_aux: bool, num_steps: int, carry: Carry):
    """``(final loss, aux or None, first bad step)`` from one evaluation at the final params."""
    out = loss_fn(carry.params, *loss_args)
    final, aux = out if has_aux else (out, None)
    bad = jnp.where((carry.bad < 0) & ~jnp.isfinite(final), num_steps, carry.bad)
    return final, aux, bad


def segments(num_steps: int, snapshot_every: int, block: int) -> list[tuple[int, bool]]:
    """Block lengths covering ``num_steps``, ``(length, snapshot after it)``: no block
    crosses a snapshot step; blocks are ``block`` long except the last before each
    snapshot (and at the end)."""
    every = snapshot_every if 0 < snapshot_every <= num_steps else 0
    marks = list(range(every, num_steps + 1, every)) if every else []
    if not marks or marks[-1] != num_steps:
        marks.append(num_steps)
    out, s = [], 0
    for m in marks:
        while s < m:
            n = min(block, m - s)
            s += n
            out.append((n, s == m and every > 0 and s % every == 0))
    return out


def optimize(
    loss_fn: Callable[..., jax.Array],
    init_params,
    optimizer: optax.GradientTransformation,
    num_steps: int,
    snapshot_every: int = 0,
    *,
    project: Callable[[Any], Any] | None = None,
    loss_args: tuple = (),
    has_aux: bool = False,
) -> Optimized:
    """The whole loop as one traceable function (``lax.scan`` per block; not jitted
    itself): jit it, vmap it or nest it. Same numbers as :func:`run`."""
    value_fn = value_fn_of(loss_fn, loss_args, has_aux)
    carry = init_carry(optimizer, init_params)
    step = make_step(value_fn, optimizer, project, _has_cached_value(carry.state))
    values, snaps = [], []
    for n, snap in segments(num_steps, snapshot_every, max(num_steps, 1)):
        carry, v = jax.lax.scan(step, carry, None, length=n)
        values.append(v)
        if snap:
            snaps.append(carry.params)
    final, aux, bad = finish(loss_fn, loss_args, has_aux, num_steps, carry)
    snapshots = jax.tree.map(lambda *x: jnp.stack(x), *snaps) if snaps else None
    losses = jnp.concatenate([*values, final[None]])
    return Optimized(carry.params, snapshots, losses, bad, aux)


_BLOCK_STATIC = ("loss_fn", "optimizer", "project", "has_aux", "length", "unroll", "axes")


@functools.partial(jax.jit, static_argnames=_BLOCK_STATIC)
def _block(carry, loss_args, *, loss_fn, optimizer, project, has_aux, length, unroll, axes):
    def one(c, args):
        value_fn = value_fn_of(loss_fn, args, has_aux)
        step = make_step(value_fn, optimizer, project, _has_cached_value(c.state))
        if unroll < length:
            return jax.lax.scan(step, c, None, length=length, unroll=unroll)
        values = []  # straight-line code: no while loop at all (even length 1 scans loop)
        for _ in range(length):
            c, v = step(c)
            values.append(v)
        return c, jnp.stack(values)

    return one(carry, loss_args) if axes is None else jax.vmap(one, (0, axes))(carry, loss_args)


@functools.partial(jax.jit, static_argnames=("optimizer", "batched"))
def _init(init_params, *, optimizer, batched):
    init = functools.partial(init_carry, optimizer)
    return jax.vmap(init)(init_params) if batched else init(init_params)


@functools.partial(jax.jit, static_argnames=("loss_fn", "has_aux", "num_steps", "axes"))
def _finish(carry, loss_args, *, loss_fn, has_aux, num_steps, axes):
    fin = lambda c, a: finish(loss_fn, a, has_aux, num_steps, c)
    return fin(carry, loss_args) if axes is None else jax.vmap(fin, (0, axes))(carry, loss_args)


def compile_step(
    loss_fn: Callable[..., jax.Array],
    init_params,
    optimizer: optax.GradientTransformation,
    *,
    project: Callable[[Any], Any] | None = None,
    loss_args: tuple = (),
    has_aux: bool = False,
    place: Callable[[Any], Any] | None = None,
) -> jax.stages.Compiled:
    """One optimiser step exactly as :func:`run` dispatches it on CPU (a block of
    one step), compiled but not run: for its ``memory_analysis()``.
    ``init_params`` and ``loss_args`` may be ``jax.ShapeDtypeStruct`` s (with
    shardings); ``place`` maps the abstract loop state to its placed form (as
    :func:`run`'s ``place``)."""
    carry = jax.eval_shape(functools.partial(init_carry, optimizer), init_params)
    carry = carry if place is None else place(carry)
    static = dict(loss_fn=loss_fn, optimizer=optimizer, project=project, has_aux=has_aux)
    return _block.lower(carry, tuple(loss_args), **static, length=1, unroll=1, axes=None).compile()


def check_finite(first_bad_step, where: str = "", last_good: Any = None) -> None:
    """Raises :class:`NonFiniteLossError` if ``first_bad_step`` (from :func:`optimize`) is >= 0.

    With a leading batch axis (vmapped runs) reports the earliest bad step and its
    index. ``last_good`` (the loop's final, frozen params) travels with the error."""
    bad = jnp.asarray(jax.device_get(first_bad_step)).reshape(-1)
    hits = [(int(b), i) for i, b in enumerate(bad.tolist()) if b >= 0]
    if hits:
        step, i = min(hits)
        raise NonFiniteLossError(
            step, where + (f" (run {i} of the batch)" if bad.size > 1 else ""), last_good
        )


def _stack(trees: list, axis: int):
    return jax.tree.map(lambda *x: jnp.stack(x, axis), *trees) if trees else None


def _drive(carry, loss_args, static, segs, unroll, axes, callback, every):
    """Dispatches the blocks; reports progress one block behind. ``(carry, values, snaps)``."""
    values, snaps, pending, done = [], [], None, 0
    total = sum(n for n, _ in segs)
    for n, snap in segs:
        carry, v = _block(carry, loss_args, **static, length=n, unroll=min(unroll, n), axes=axes)
        values.append(v)  # [n] ([batch, n])
        if snap:
            snaps.append(carry.params)
        if pending is not None:  # the previous block's report: it is done by now
            callback(*pending)
            pending = None
        crossed = (done + n) // every > done // every
        if callback is not None and (crossed or done + n == total):
            pending = (done + n, v[..., -1])
        done += n
    if pending is not None:
        callback(*pending)
    return carry, values, snaps


def run(
    loss_fn: Callable[..., jax.Array],
    init_params,
    optimizer: optax.GradientTransformation,
    num_steps: int,
    snapshot_every: int = 0,
    *,
    project: Callable[[Any], Any] | None = None,
    loss_args: tuple = (),
    has_aux: bool = False,
    callback: Callable[[int, jax.Array], None] | None = None,
    progress_every: int = 10,
    loop: str = "auto",
    batch_axes: tuple | None = None,
    where: str = "",
    place: Callable[[Any], Any] | None = None,
    init_state: Any = None,
) -> RunResult:
    """Minimises ``loss_fn(params, *loss_args)`` from ``init_params`` for ``num_steps``
    optimiser steps. Returns ``(final, snapshots, losses, aux, state)``.

    ``loss_fn``, ``optimizer`` and ``project`` are static (an :class:`Optimizer`
    hashed by its settings, Adam's rate excluded; anything else by identity):
    reuse the same objects to reuse the compiled programs. ``callback(step,
    value)`` (progress bars) is called on the host every ``progress_every``
    steps and after the last, with the loss before that step as a device scalar,
    one block behind the device (reading it does not stall the loop).
    ``batch_axes``: run a batch of problems at once (``vmap``): ``init_params``
    has a leading batch axis and ``batch_axes`` gives each ``loss_args`` entry's
    batch axis (``None``: shared); results get a leading batch axis.
    ``where`` is appended to the step in a :class:`NonFiniteLossError`.
    ``place(carry) -> carry``: puts the initial loop state (params and optimiser
    state) where it should live, e.g. split over devices like the image
    (:func:`styletransfer.shard.place`). ``init_state``: continue from this
    optimiser state (e.g. :attr:`RunResult.state` of a coarser scale, resized)
    instead of ``optimizer.init(init_params)``.

    Raises:
      NonFiniteLossError: a loss or gradient became NaN/inf (names the step).
    """
    if loop not in LOOPS:
        raise UserError(f"loop must be one of {LOOPS}, got {loop!r}")
    loop = default_loop() if loop == "auto" else loop
    if loop == "steps":
        block, unroll = CPU_BLOCK, CPU_BLOCK
    else:
        block, unroll = max(1, progress_every if callback else num_steps), 1
    loss_args = jax.device_put(tuple(loss_args))
    static = dict(loss_fn=loss_fn, optimizer=optimizer, project=project, has_aux=has_aux)
    axes = None if batch_axes is None else tuple(batch_axes)
    carry = _init(init_params, optimizer=optimizer, batched=axes is not None)
    if isinstance(optimizer, Optimizer):  # the compiled init may be an equal optimiser's
        carry = carry._replace(state=optimizer.with_rate(carry.state))
    if init_state is not None:
        carry = carry._replace(state=init_state)
    carry = carry if place is None else place(carry)
    segs = segments(num_steps, snapshot_every, block)
    carry, values, snaps = _drive(carry, loss_args, static, segs, unroll, axes, callback,
                                  progress_every)  # fmt: skip
    final, aux, bad = _finish(carry, loss_args, loss_fn=loss_fn, has_aux=has_aux,
                              num_steps=num_steps, axes=axes)  # fmt: skip
    check_finite(bad, where, last_good=carry.params)
    losses = jnp.concatenate([*values, final[..., None]], axis=-1)
    return RunResult(carry.params, _stack(snaps, 0 if axes is None else 1), losses, aux,
                     carry.state)  # fmt: skip
