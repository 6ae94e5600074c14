"""The optimisation loop: one jitted ``lax.scan`` per run, vmapped over targets.

    import featvis as fv
    model = fv.Model(apply_fn, model_params)          # apply_fn(params, images) -> (logits, features)
    out = fv.render.render(fv.objectives.channel("relu4_2", 7), fv.param.fft(64, 64), model,
                           key=jax.random.key(0), steps=200, thresholds=(50, 200))
    out.images                                        # [len(thresholds), B, H, W, 3]

    # every filter of a layer, 64 at a time, in one compiled program per chunk:
    out = fv.render.render_many(lambda n: fv.objectives.channel("relu4_2", n), jnp.arange(512),
                                fv.param.fft(64, 64), model, key=jax.random.key(0), chunk=64)

Per step ``s`` (0-based) of a target with key ``k``: ``k_init, k_run = split(k)``;
``k_s = fold_in(k_run, s)`` is split into the parameterisation's noise key and
the transforms' key. The loss is ``-objective(features) + param.penalty``;
after the optax update ``param.project(params, s)`` runs (clip, blur).
Target ``i`` of :func:`render_many` uses ``fold_in(key, i)`` — results do not
depend on the chunk size (tested: 64 vmapped targets equal 64 single runs).

Snapshots: ``thresholds`` (sorted step counts) split the scan into segments
inside the same jit; the clean (noise-free, untransformed) image after each
threshold is returned, as is the per-step objective trace (on the
transformed, noisy input the optimiser saw).

Why not ``styletransfer.optim.run``: see the package docstring in
``featvis/__init__.py``.
"""

from __future__ import annotations

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

ApplyFn = Callable[[Any, jax.Array], tuple[jax.Array | None, dict]]


class Model(NamedTuple):
    """A frozen feature extractor: ``apply(params, images [B,H,W,3] in [0,1]) -> (logits, features)``."""

    apply: ApplyFn
    params: Any


class RenderResult(NamedTuple):
    images: jax.Array  # [S, B, H, W, 3] (render) or [T, S, B, H, W, 3] (render_many)
    objective: jax.Array  # [steps] or [T, steps]: objective value seen at each step
    params: Any  # final trainable params


def _run(
    objective: Objective,
    param: Param,
    apply: ApplyFn,
    model_params,
    frozen,
    key: jax.Array,
    *,
    optimizer: optax.GradientTransformation,
    transform: tr.Transform,
    thresholds: tuple[int, ...],
):
    k_init, k_run = jax.random.split(key)
    params = param.init(k_init)
    opt_state = optimizer.init(params)

    def loss_fn(p, step):
        k_noise, k_tr = jax.random.split(jax.random.fold_in(k_run, step))
        img = param.image(p, frozen, k_noise)
        x = transform(k_tr, img)
        _, feats = apply(model_params, x)
        feats = dict(feats)
        feats[STEP_KEY] = step
        obj = objective(feats)
        return -obj + param.penalty(p, frozen), obj

    def step_fn(carry, step):
        p, s = carry
        (_, obj), g = jax.value_and_grad(loss_fn, has_aux=True)(p, step)
        updates, s = optimizer.update(g, s, p)
        p = optax.apply_updates(p, updates)
        p = param.project(p, step)
        return (p, s), obj

    snaps, traces, start = [], [], 0
    carry = (params, opt_state)
    for t in thresholds:
        carry, objs = jax.lax.scan(step_fn, carry, jnp.arange(start, t, dtype=jnp.int32))
        traces.append(objs)
        snaps.append(param.image(carry[0], frozen, None))
        start = t
    return jnp.stack(snaps), jnp.concatenate(traces), carry[0]


def _check_thresholds(steps: int, thresholds: Sequence[int] | None) -> tuple[int, ...]:
    th = tuple(sorted(set(thresholds or ()) | {steps}))
    if th[0] <= 0 or th[-1] != steps:
        raise ValueError(f"thresholds must be in 1..steps={steps}, got {thresholds}")
    return th


@functools.cache
def _compiled(objective_fn, param, apply, optimizer, transform, thresholds, vmapped: bool):
    def one(target, model_params, frozen, key):
        obj = objective_fn(target)
        return _run(
            obj, param, apply, model_params, frozen, key,
            optimizer=optimizer, transform=transform, thresholds=thresholds,
        )  # fmt: skip

    if vmapped:
        one = jax.vmap(one, in_axes=(0, None, None, 0))
    return jax.jit(one)


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
) -> RenderResult:
    """Optimises one parameterisation for one objective (see module docstring).

    Uses ``key`` itself (not ``fold_in(key, 0)``)."""
    out = render_many(
        lambda _: objective, jnp.zeros((1,), jnp.int32), param, model, key=key, steps=steps,
        thresholds=thresholds, optimizer=optimizer, transforms=transforms,
        keys=key[None], vectorize=False,
    )  # fmt: skip
    return RenderResult(*jax.tree.map(lambda a: a[0], out))


def _key(param: Param) -> Param:
    return param._replace(frozen=None)  # the frozen pytree is a jit argument, not a cache key


def _as_transform(transforms) -> tr.Transform:
    if callable(transforms):
        return transforms
    return tr.compose(list(transforms)) if transforms else tr.identity


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
    chunk: int = 64,
    progress: Callable[[int, int], None] | None = None,
    keys: jax.Array | None = None,
    vectorize: bool = True,
) -> RenderResult:
    """Renders ``objective_fn(t)`` for every ``t`` in ``targets`` (a pytree of arrays
    with a leading target axis), ``chunk`` targets per vmapped, jitted call.

    Target ``i``'s key is ``fold_in(key, i)`` whatever the chunking (the last
    chunk is padded to ``chunk`` to reuse the compiled program and trimmed).
    ``keys`` (``[T]`` typed keys) overrides that. ``progress(done, total)`` is
    called after each chunk. ``vectorize=False`` runs the targets one by one
    through one compiled single-target program (same results; less memory).
    """
    th = _check_thresholds(steps, thresholds)
    optimizer = optimizer or optax.adam(0.05)
    transform = _as_transform(transforms)
    n = jax.tree.leaves(targets)[0].shape[0]
    if not vectorize:
        fn = _compiled(objective_fn, _key(param), model.apply, optimizer, transform, th, False)
        outs = []
        for i in range(n):
            k = jax.random.fold_in(key, i) if keys is None else keys[i]
            tgt = jax.tree.map(lambda a, i=i: jnp.asarray(a)[i], targets)
            outs.append(fn(tgt, model.params, param.frozen, k))
            if progress is not None:
                progress(i + 1, n)
        return RenderResult(*jax.tree.map(lambda *xs: jnp.stack(xs), *outs))
    fn = _compiled(objective_fn, _key(param), model.apply, optimizer, transform, th, True)
    outs = []
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        idx = np.arange(lo, lo + chunk)
        idx_c = np.minimum(idx, n - 1)
        tgt = jax.tree.map(lambda a, ii=idx_c: jnp.asarray(a)[ii], targets)
        if keys is None:
            ks = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(idx, jnp.int32))
        else:
            ks = keys[idx_c]
        res = fn(tgt, model.params, param.frozen, ks)
        outs.append(jax.tree.map(lambda a, m=hi - lo: a[:m], res))
        if progress is not None:
            progress(hi, n)
    cat = jax.tree.map(lambda *xs: jnp.concatenate(xs), *outs)
    return RenderResult(*cat)


def evaluate(model: Model, images: jax.Array, layer: str = "fc8") -> jax.Array:
    """``features[layer]`` of clean images ``[..., H, W, 3]`` (leading axes flattened back)."""
    lead = images.shape[:-3]
    x = images.reshape((-1,) + images.shape[-3:])
    _, feats = model.apply(model.params, x)
    out = feats[layer]
    return out.reshape(lead + out.shape[1:])
