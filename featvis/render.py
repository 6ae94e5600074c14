"""The optimisation loop, vmapped over targets, in the loop form each backend runs fastest.

    import featvis as fv
    model = fv.Model(apply_fn, model_params)          # apply_fn(params, images) -> (logits, features)
    out = fv.render.render(fv.objectives.channel("relu4_2", 7), fv.param.fft(64, 64), model,
                           key=jax.random.key(0), steps=200, thresholds=(50, 200))
    out.images                                        # [len(thresholds), B, H, W, 3]

    # every filter of a layer, 64 at a time, in one compiled program per chunk:
    out = fv.render.render_many(lambda n: fv.objectives.channel("relu4_2", n), jnp.arange(512),
                                fv.param.fft(64, 64), model, key=jax.random.key(0), chunk_size=64)

Per step ``s`` (0-based) of a target with key ``k``: ``k_init, k_run = split(k)``;
``k_s = fold_in(k_run, s)`` is split into the parameterisation's noise key and
the transforms' key. The loss is ``-objective(features) + param.penalty``;
after the optax update ``param.project(params, s)`` runs (clip, blur).
Target ``i`` of :func:`render_many` uses ``fold_in(key, i)`` — results do not
depend on the chunk size (tested: 64 vmapped targets equal 64 single runs).

Loop forms (``loop=``, as :func:`neural_art.optim.run`, the loop this module
drives — the one style transfer uses): ``"scan"`` (a ``lax.scan`` per segment
between thresholds: GPU/TPU) or ``"steps"`` (Python drives jitted blocks of
``block_steps`` unrolled steps; the step number lives in the loop state, so one
block program serves every block; nothing is read back per step; XLA:CPU runs
a while-loop body several times slower than the same step compiled on its own,
measured with VGG-16 at 64², 8 targets, ``benchmarks/featvis.py``), ``"auto"``:
``steps`` on CPU, ``scan`` elsewhere.

Both forms compute the same steps (tested to float tolerance). Snapshots: the
clean (noise-free, untransformed) image after each threshold is returned, as
is the per-step objective trace (on the transformed, noisy input the optimiser
saw). A non-finite loss or gradient stops the chunk and raises
:class:`neural_art.optim.NonFiniteLossError` naming the step and the target.
Compiled programs are jit's own, keyed on (objective factory, parameterisation,
model function, optimiser, transforms) and the shapes: an optimiser from
:func:`neural_art.optim.make_optimizer` is keyed by its settings, so a freshly
built equal one compiles nothing (tested); other objects by identity.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from featvis import transform as tr
from featvis.objectives import STEP_KEY, Objective
from featvis.param import Param
from neural_art import optim
from neural_art.errors import UserError

ApplyFn = Callable[[Any, jax.Array], tuple[jax.Array | None, dict]]
LOOPS = optim.LOOPS
DEFAULT_OPTIMIZER = optim.make_optimizer("adam", 0.05)
DEFAULT_BLOCK_STEPS = optim.CPU_BLOCK


class Model(NamedTuple):
    """A frozen feature extractor: ``apply(params, images [B,H,W,3] in [0,1]) -> (logits, features)``.

    ``specialize(params, (H, W)) -> Model``, if given, is called once per
    :func:`render_many` with the spatial size the model will see, outside the
    compiled loop (e.g. VGG folds its adaptive pool into fc6 for small images).
    """

    apply: ApplyFn
    params: Any
    specialize: Callable[[Any, tuple[int, int]], Model] | None = None


class RenderResult(NamedTuple):
    images: jax.Array  # [S, B, H, W, 3] (render) or [T, S, B, H, W, 3] (render_many)
    objective: jax.Array  # [steps] or [T, steps]: objective value seen at each step
    params: Any  # final trainable params


@dataclasses.dataclass(frozen=True)
class Fixed:
    """``objective_fn`` that ignores its target (what :func:`render` renders);
    equal for the same objective, so repeated renders reuse the compiled program."""

    objective: Objective

    def __call__(self, target) -> Objective:
        del target
        return self.objective


@dataclasses.dataclass(frozen=True)
class Loss:
    """The loss of one target at step ``step`` for :func:`neural_art.optim.run`
    (``step_arg=True``): ``(-objective + penalty, objective)``. Per step ``s`` of a
    target with key ``k``: ``k_s = fold_in(split(k)[1], s)``, split into the
    parameterisation's noise key and the transforms' key. Hashable (``param``
    has ``frozen=None``): with the shapes, the compile-cache key."""

    objective_fn: Callable[[Any], Objective]
    param: Param
    apply: ApplyFn
    transform: tr.Transform

    def __call__(self, p, step, target, model_params, frozen, key):
        objective = self.objective_fn(target)
        k_noise, k_tr = jax.random.split(jax.random.fold_in(jax.random.split(key)[1], step))
        x = self.transform(k_tr, self.param.image(p, frozen, k_noise))
        feats = dict(self.apply(model_params, x)[1])
        feats[STEP_KEY] = step
        obj = objective(feats)
        return -obj + self.param.penalty(p, frozen), obj


@functools.partial(jax.jit, static_argnames=("param", "vmapped"))
def _init(keys, *, param: Param, vmapped: bool):
    """Target params from their keys: ``param.init(split(k)[0])``."""
    init = lambda k: param.init(jax.random.split(k)[0])
    return jax.vmap(init)(keys) if vmapped else init(keys)


@functools.partial(jax.jit, static_argnames=("param", "vmapped"))
def _images(snapshots, frozen, *, param: Param, vmapped: bool):
    """Clean images of snapshot params ``[S, ...]`` (``[T, S, ...]`` vmapped)."""
    per_target = jax.vmap(lambda p: param.image(p, frozen, None))
    return jax.vmap(per_target)(snapshots) if vmapped else per_target(snapshots)


def _check_loop(loop: str, block_steps: int) -> None:
    if loop not in LOOPS:
        raise UserError(f"loop must be one of {', '.join(LOOPS)}, got {loop!r}")
    if block_steps < 1:
        raise UserError(f"block_steps must be >= 1, got {block_steps}")


def check_thresholds(steps: int, thresholds: Sequence[int] | None) -> tuple[int, ...]:
    """Sorted snapshot steps including ``steps``; ``ValueError`` outside ``1..steps``."""
    th = tuple(sorted(set(thresholds or ()) | {steps}))
    if th[0] <= 0 or th[-1] != steps:
        raise UserError(f"thresholds must be in 1..steps={steps}, got {thresholds}")
    return th


def _as_transform(transforms) -> tr.Transform:
    if callable(transforms):
        return transforms
    return tr.compose(list(transforms)) if transforms else tr.identity


def render(
    objective: Objective,
    param: Param,
    model: Model,
    *,
    key: jax.Array,
    steps: int = 512,
    thresholds: Sequence[int] | None = None,
    optimizer: optax.GradientTransformation | None = None,
    transforms: Sequence[tr.Transform] | tr.Transform = (),
    loop: str = "auto",
    block_steps: int = DEFAULT_BLOCK_STEPS,
) -> RenderResult:
    """Optimises one parameterisation for one objective (see module docstring).

    Uses ``key`` itself (not ``fold_in(key, 0)``)."""
    out = render_many(
        Fixed(objective), jnp.zeros((1,), jnp.int32), param, model, key=key, steps=steps,
        thresholds=thresholds, optimizer=optimizer, transforms=transforms,
        keys=key[None], vectorize=False, loop=loop, block_steps=block_steps,
    )  # fmt: skip
    return RenderResult(*jax.tree.map(lambda a: a[0], out))


def _specialized(model: Model, param: Param, transform: tr.Transform, key) -> Model:
    """``model.specialize`` for the (static) spatial size of the transformed image."""
    if model.specialize is None:
        return model

    def model_input(k):
        k_init, k_noise, k_tr = jax.random.split(k, 3)
        return transform(k_tr, param.image(param.init(k_init), param.frozen, k_noise))

    return model.specialize(model.params, tuple(jax.eval_shape(model_input, key).shape[1:3]))


def compile_step(
    objective_fn: Callable[[Any], Objective],
    target,
    param: Param,
    model: Model,
    *,
    key: jax.Array,
    optimizer: optax.GradientTransformation | None = None,
    transforms: Sequence[tr.Transform] | tr.Transform = (),
) -> jax.stages.Compiled:
    """One optimiser step of one target exactly as :func:`render_many` runs it on
    CPU, compiled but not run (for its ``memory_analysis()``): nothing of the
    image's size is allocated."""
    transform = _as_transform(transforms)
    model = _specialized(model, param, transform, key)
    loss = Loss(objective_fn, param._replace(frozen=None), model.apply, transform)
    init = jax.eval_shape(functools.partial(_init, param=loss.param, vmapped=False), key)
    return optim.compile_step(
        loss, init, optimizer or DEFAULT_OPTIMIZER, project=param.project,
        loss_args=(target, model.params, param.frozen, key), has_aux=True, step_arg=True,
        trace_aux=True,
    )  # fmt: skip


def _chunk_keys(key, keys, idx: np.ndarray, n: int):
    if keys is None:
        return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(idx, jnp.int32))
    return keys[np.minimum(idx, n - 1)]


def render_many(
    objective_fn: Callable[[Any], Objective],
    targets,
    param: Param,
    model: Model,
    *,
    key: jax.Array,
    steps: int = 512,
    thresholds: Sequence[int] | None = None,
    optimizer: optax.GradientTransformation | None = None,
    transforms: Sequence[tr.Transform] | tr.Transform = (),
    chunk_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
    keys: jax.Array | None = None,
    vectorize: bool = True,
    loop: str = "auto",
    block_steps: int = DEFAULT_BLOCK_STEPS,
) -> RenderResult:
    """Renders ``objective_fn(t)`` for every ``t`` in ``targets`` (a pytree of arrays
    with a leading target axis), ``chunk_size`` targets per vmapped, jitted call.

    Target ``i``'s key is ``fold_in(key, i)`` whatever the chunking (the last
    chunk is padded to ``chunk_size`` to reuse the compiled program and trimmed).
    ``keys`` (``[T]`` typed keys) overrides that. ``progress(done, total)`` is
    called after each chunk has run.
    ``vectorize=False`` runs the targets one by one through one compiled
    single-target program (same results; less memory). ``loop``/``block_steps``:
    the loop form (module docstring; ``"auto"`` = :func:`neural_art.optim.default_loop`).
    """
    th = check_thresholds(steps, thresholds)
    _check_loop(loop, block_steps)
    transform = _as_transform(transforms)
    model = _specialized(model, param, transform, key)
    loss = Loss(objective_fn, param._replace(frozen=None), model.apply, transform)
    n = jax.tree.leaves(targets)[0].shape[0]
    size = chunk_size if vectorize else 1
    if size < 1:
        raise UserError(f"chunk_size must be >= 1, got {chunk_size}")
    kw = dict(optimizer=optimizer or DEFAULT_OPTIMIZER, loop=loop, block_steps=block_steps)
    outs = []
    for lo in range(0, n, size):
        hi = min(lo + size, n)
        idx = np.arange(lo, lo + size)
        tgt = jax.tree.map(lambda a, ii=np.minimum(idx, n - 1): jnp.asarray(a)[ii], targets)
        ks = _chunk_keys(key, keys, idx, n)
        if not vectorize:
            tgt, ks = jax.tree.map(lambda a: a[0], (tgt, ks))
        res = _run_chunk(loss, th, model.params, param.frozen, tgt, ks, vectorize, lo, **kw)
        if not vectorize:
            res = jax.tree.map(lambda a: a[None], res)
        outs.append(jax.tree.map(lambda a, m=hi - lo: a[:m], res))
        if progress is not None:
            progress(hi, n)
    return RenderResult(*jax.tree.map(lambda *xs: jnp.concatenate(xs), *outs))


def _run_chunk(loss: Loss, th, model_params, frozen, tgt, ks, vmapped, lo, *, optimizer, loop,
               block_steps) -> RenderResult:  # fmt: skip
    """One chunk (or one target) through :func:`neural_art.optim.run`."""
    param = loss.param
    out = optim.run(
        loss, _init(ks, param=param, vmapped=vmapped), optimizer, th[-1], th,
        project=param.project, loss_args=(tgt, model_params, frozen, ks), has_aux=True,
        step_arg=True, trace_aux=True, loop=loop, block_steps=block_steps,
        batch_axes=(0, None, None, 0) if vmapped else None,
        where=f" in the chunk from target {lo}" if vmapped else f" of target {lo}",
    )  # fmt: skip
    images = _images(out.snapshots, frozen, param=param, vmapped=vmapped)
    return RenderResult(images, out.trace, out.params)


def evaluate(model: Model, images: jax.Array, layer: str = "fc8") -> jax.Array:
    """``features[layer]`` of clean images ``[..., H, W, 3]`` (leading axes flattened back)."""
    lead = images.shape[:-3]
    x = images.reshape((-1,) + images.shape[-3:])
    _, feats = model.apply(model.params, x)
    out = feats[layer]
    return out.reshape(lead + out.shape[1:])
