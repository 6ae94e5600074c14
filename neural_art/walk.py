"""Weight-space walks (issue 13): animate between the unperturbed network and a
perturbed one, or between two perturbed networks, with Janik's eq. (2)
(arXiv:2109.08103) as the end points.

* :func:`toward` -- ``θ(t) = θ*·(1 + t·α·ε_k)``: ``t = 0`` is θ*, ``t = 1`` is exactly
  seed k's eq.-(2) network (the same :func:`neural_art.perturb.multiplicative`
  call with ``alpha = t·α``).
* :func:`between` -- ``θ(t) = θ*·(1 + α·ε(t))`` with ``ε(t) = cos(πt/2)·ε_a +
  sin(πt/2)·ε_b``: spherical interpolation between two independent draws. Two
  independent N(0, I) vectors in millions of dimensions are orthogonal to within
  ~1/sqrt(n), so this is slerp with Ω = π/2, and it keeps every entry exactly
  N(0, 1) (cos² + sin² = 1): ‖ε(t)‖ stays that of one draw, where a straight line
  would shrink it by up to 1/√2 at the midpoint. ``t = 0`` / ``1`` give seeds a / b.

Both are pure and vmap over ``t`` (all frames of a walk in one compiled program).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from neural_art import perturb


def frames(n: int) -> jax.Array:
    """``n`` values of t from 0 to 1 inclusive (``n >= 2``)."""
    if n < 2:
        raise ValueError(f"a walk needs at least 2 frames, got {n}")
    return jnp.linspace(0.0, 1.0, n)


def toward(params, key: jax.Array, t: jax.Array, *, alpha: float = 0.35, where=None):
    """θ(t) = θ*·(1 + t·α·ε) with ε the draw of ``key`` (eq. 2 at ``t = 1``)."""
    return perturb.multiplicative(params, key, alpha=t * alpha, where=where)


def mixed_noise(params, key_a: jax.Array, key_b: jax.Array, t: jax.Array, *, where=None):
    """``{path: ε(t)}`` for the selected leaves: cos(πt/2)·ε_a + sin(πt/2)·ε_b."""
    where = where or perturb.trainable(params)
    flat = jax.tree_util.tree_leaves_with_path(params)
    sel = [(perturb.path_str(p), jnp.shape(x)) for p, x in flat if where(perturb.path_str(p), x)]
    paths, shapes = [p for p, _ in sel], [s for _, s in sel]
    ea, eb = perturb.normals(key_a, paths, shapes), perturb.normals(key_b, paths, shapes)
    c, s = jnp.cos(0.5 * jnp.pi * t), jnp.sin(0.5 * jnp.pi * t)
    return {p: c * a + s * b for p, a, b in zip(paths, ea, eb, strict=True)}


def between(params, key_a: jax.Array, key_b: jax.Array, t: jax.Array, *, alpha: float = 0.35,
            where=None):  # fmt: skip
    """θ(t) = θ*·(1 + α·ε(t)), ε(t) spherically between the draws of ``key_a`` / ``key_b``."""
    eps = mixed_noise(params, key_a, key_b, t, where=where)

    def leaf(path, x):
        e = eps.get(perturb.path_str(path))
        return x if e is None else (x * (1 + alpha * e)).astype(jnp.asarray(x).dtype)

    return jax.tree_util.tree_map_with_path(leaf, params)
