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

Loop forms (``loop=``; :func:`default_loop` picks one per backend):

* ``"scan"``: the whole run is one jitted program, a ``lax.scan`` per segment
  between thresholds (GPU/TPU: one launch, no host in the loop);
* ``"blocks"``: Python drives jitted blocks of ``block_steps`` unrolled steps
  (the step number is an argument, so one block program serves every block;
  dispatch is asynchronous, nothing is read back per step). XLA:CPU runs a
  while-loop body several times slower than the same step compiled on its own
  (measured: VGG-16 64², 8 targets, see ``benchmarks/featvis.py``), so this is
  the CPU default.

Both forms compute the same steps (tested to float tolerance). Snapshots: the
clean (noise-free, untransformed) image after each threshold is returned, as
is the per-step objective trace (on the transformed, noisy input the optimiser
saw). Compiled programs are cached on (objective factory, parameterisation,
model function, optimiser, transforms): a second call with the same objects
and shapes compiles nothing (tested).

Why not ``styletransfer.optim.run``: see the package docstring in
``featvis/__init__.py``.
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
from neural_art.errors import UserError

ApplyFn = Callable[[Any, jax.Array], tuple[jax.Array | None, dict]]
LOOPS = ("auto", "scan", "blocks")
DEFAULT_OPTIMIZER = optax.adam(0.05)
DEFAULT_BLOCK_STEPS = 1


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


class Program(NamedTuple):
    """What is compiled: hashable (the cache key); ``param`` has ``frozen=None``."""

    objective_fn: Callable[[Any], Objective]
    param: Param
    apply: ApplyFn
    optimizer: optax.GradientTransformation
    transform: tr.Transform


def default_loop(backend: str | None = None) -> str:
    """``"blocks"`` on CPU, ``"scan"`` on GPU/TPU (module docstring)."""
    return "blocks" if (backend or jax.default_backend()) == "cpu" else "scan"


def _init(prog: Program, key):
    params = prog.param.init(jax.random.split(key)[0])
    return params, prog.optimizer.init(params)


def _step(prog: Program, target, model_params, frozen, key, carry, step):
    """One optimiser step ``step`` of one target: ``(carry, objective seen)``."""
    objective = prog.objective_fn(target)
    k_run = jax.random.split(key)[1]

    def loss_fn(p):
        k_noise, k_tr = jax.random.split(jax.random.fold_in(k_run, step))
        x = prog.transform(k_tr, prog.param.image(p, frozen, k_noise))
        feats = dict(prog.apply(model_params, x)[1])
        feats[STEP_KEY] = step
        obj = objective(feats)
        return -obj + prog.param.penalty(p, frozen), obj

    p, s = carry
    (_, obj), g = jax.value_and_grad(loss_fn, has_aux=True)(p)
    updates, s = prog.optimizer.update(g, s, p)
    p = prog.param.project(optax.apply_updates(p, updates), step)
    return (p, s), obj


def _scan_run(prog: Program, thresholds, target, model_params, frozen, key):
    """The whole run as one program: ``(snapshots [S, ...], objectives [steps], params)``."""
    step = functools.partial(_step, prog, target, model_params, frozen, key)
    carry, snaps, traces, start = _init(prog, key), [], [], 0
    for t in thresholds:
        carry, objs = jax.lax.scan(step, carry, jnp.arange(start, t, dtype=jnp.int32))
        traces.append(objs)
        snaps.append(prog.param.image(carry[0], frozen, None))
        start = t
    return jnp.stack(snaps), jnp.concatenate(traces), carry[0]


def _block(prog: Program, length: int, carry, target, model_params, frozen, key, start):
    """``length`` unrolled steps from step ``start`` (traced): ``(carry, objectives [length])``."""
    objs = []
    for i in range(length):
        carry, obj = _step(prog, target, model_params, frozen, key, carry, start + i)
        objs.append(obj)
    return carry, jnp.stack(objs)


def _jit(fn, vmapped: bool, in_axes):
    return jax.jit(jax.vmap(fn, in_axes=in_axes) if vmapped else fn)


@functools.cache
def _compiled_scan(prog: Program, thresholds: tuple[int, ...], vmapped: bool):
    return _jit(functools.partial(_scan_run, prog, thresholds), vmapped, (0, None, None, 0))


@functools.cache
def _compiled_init(prog: Program, vmapped: bool):
    return _jit(functools.partial(_init, prog), vmapped, 0)


@functools.cache
def _compiled_block(prog: Program, length: int, vmapped: bool):
    fn = functools.partial(_block, prog, length)
    return _jit(fn, vmapped, (0, 0, None, None, 0, None))


@functools.cache
def _compiled_image(prog: Program, vmapped: bool):
    return _jit(lambda p, frozen: prog.param.image(p, frozen, None), vmapped, (0, None))


def _blocks_run(prog, thresholds, block_steps, vmapped, target, model_params, frozen, key):
    """:func:`_scan_run`'s result, driven from Python in blocks (nothing read back)."""
    carry = _compiled_init(prog, vmapped)(key)
    snaps, traces, start = [], [], 0
    for t in thresholds:
        while start < t:
            n = min(block_steps, t - start)
            block = _compiled_block(prog, n, vmapped)
            carry, objs = block(carry, target, model_params, frozen, key, np.int32(start))
            traces.append(objs)
            start += n
        snaps.append(_compiled_image(prog, vmapped)(carry[0], frozen))
    axis = 1 if vmapped else 0
    return jnp.stack(snaps, axis), jnp.concatenate(traces, axis=-1), carry[0]


def _runner(prog, thresholds, loop, block_steps, vmapped):
    """``f(target, model_params, frozen, key) -> (snapshots, objectives, params)``."""
    loop = default_loop() if loop == "auto" else loop
    if loop == "scan":
        return _compiled_scan(prog, thresholds, vmapped)
    if loop == "blocks":
        if block_steps < 1:
            raise UserError(f"block_steps must be >= 1, got {block_steps}")
        return functools.partial(_blocks_run, prog, thresholds, block_steps, vmapped)
    raise UserError(f"loop must be one of {', '.join(LOOPS)}, got {loop!r}")


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
    called after each chunk is dispatched (it reads nothing back).
    ``vectorize=False`` runs the targets one by one through one compiled
    single-target program (same results; less memory). ``loop``/``block_steps``:
    the loop form (module docstring; ``"auto"`` = :func:`default_loop`).
    """
    th = check_thresholds(steps, thresholds)
    model = _specialized(model, param, _as_transform(transforms), key)
    prog = Program(objective_fn, param._replace(frozen=None), model.apply,
                   optimizer or DEFAULT_OPTIMIZER, _as_transform(transforms))  # fmt: skip
    n = jax.tree.leaves(targets)[0].shape[0]
    size = chunk_size if vectorize else 1
    if size < 1:
        raise UserError(f"chunk_size must be >= 1, got {chunk_size}")
    run = _runner(prog, th, loop, block_steps, vectorize)
    outs = []
    for lo in range(0, n, size):
        hi = min(lo + size, n)
        idx = np.arange(lo, lo + size)
        tgt = jax.tree.map(lambda a, ii=np.minimum(idx, n - 1): jnp.asarray(a)[ii], targets)
        ks = _chunk_keys(key, keys, idx, n)
        if not vectorize:
            tgt, ks = jax.tree.map(lambda a: a[0], (tgt, ks))
        res = run(tgt, model.params, param.frozen, ks)
        if not vectorize:
            res = jax.tree.map(lambda a: a[None], res)
        outs.append(jax.tree.map(lambda a, m=hi - lo: a[:m], res))
        if progress is not None:
            progress(hi, n)
    return RenderResult(*jax.tree.map(lambda *xs: jnp.concatenate(xs), *outs))


def evaluate(model: Model, images: jax.Array, layer: str = "fc8") -> jax.Array:
    """``features[layer]`` of clean images ``[..., H, W, 3]`` (leading axes flattened back)."""
    lead = images.shape[:-3]
    x = images.reshape((-1,) + images.shape[-3:])
    _, feats = model.apply(model.params, x)
    out = feats[layer]
    return out.reshape(lead + out.shape[1:])
