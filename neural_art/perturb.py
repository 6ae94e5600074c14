"""Random modifications of a trained network's weights (Janik, "Aesthetics and
neural network image representations", arXiv:2109.08103), as pure functions over
*any* params pytree: BigGAN-deep and the DCGAN use the same code.

* :func:`multiplicative` -- eq. (2): ``θ = θ*·(1 + α·ε)``, ``ε ~ N(0, 1)`` per entry.
* :func:`replace` / :func:`replace_block` -- eq. (3): the tensors of a block
  replaced by draws from normals with each tensor's own mean and std (per
  kernel position for convolutions, the paper's footnote 6); a model's hook
  (``after=``) updates what is derived from them (BigGAN's spectral-norm vectors).

Leaves are addressed by their path joined with ``/``, e.g.
``params/B2/conv_1/kernel`` or ``batch_stats/B2/bn_0/running_means``. The noise
is a documented pure function of (key, leaf path, index) (:func:`normals`):
entry ``i`` (row-major) of leaf ``path`` is

    (a, c) = jax.random.bits(fold_in(key, crc32(path)), (2,), uint32)
    b      = H(H(i + a) ^ c)          # H = lowbias32, a 32-bit bijective mixer
    ε      = √2 · erfinv((b >> 8) · 2⁻²³ + 2⁻²⁴ − 1)   # inverse CDF, exact in float32

so it depends only on the key and the leaf's own path, not on which other leaves
are selected, and the per-seed key is ``fold_in(root, seed)`` (:func:`seed_key`):
seed k means the same perturbation in any batch, chunk or device layout. The
per-entry work is a few integer ops and one ``erfinv``, fused by XLA into one
loop over all selected leaves (~5x cheaper than ``jax.random.normal``'s threefry
on CPU, see issue 10); only one threefry call per leaf derives ``(a, c)``.

What is perturbed by default (``where=None``): the ``params`` collection if the
tree has collections (for BigGAN: weights *before* spectral normalisation,
biases, conditional-BN linears, embeddings -- not the standing statistics nor
the spectral-norm vectors), else every float leaf. Model-specific extras (BigGAN's
spectral-norm handling) live with the model (:mod:`biggan_jax.perturb`).
"""

from __future__ import annotations

import fnmatch
import math
import re
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from neural_art.errors import UserError

Where = Callable[[str, Any], bool]


def path_str(path) -> str:
    """``('params', 'B2', 'conv_1', 'kernel')`` key path -> ``"params/B2/conv_1/kernel"``."""
    parts = []
    for k in path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts)


def seed_key(root: jax.Array, seed: int | jax.Array) -> jax.Array:
    """The key of perturbation seed ``seed``: ``fold_in(root, seed)``."""
    return jax.random.fold_in(root, seed)


BLOCK = 1024  # entries per row of the one vectorised draw (an implementation detail)


def _path_hash(path: str) -> int:
    return zlib.crc32(path.encode()) & 0x7FFFFFFF


def _mix(x: jax.Array) -> jax.Array:
    """lowbias32 (C. Wellons' integer hash): a bijection of uint32 with low bias."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def entry_bits(a: jax.Array, c: jax.Array, index: jax.Array) -> jax.Array:
    """The 32 random bits of entry ``index`` of a leaf whose words are ``(a, c)``."""
    return _mix(_mix(index + a) ^ c)


def bits_to_normal(bits: jax.Array) -> jax.Array:
    """uint32 -> N(0, 1) float32 by the inverse CDF of a 24-bit uniform on the open,
    symmetric interval (-1, 1): ``√2 · erfinv(u)``, |ε| <= 5.42."""
    u = (bits >> 8).astype(jnp.float32) * np.float32(2.0**-23) + np.float32(2.0**-24 - 1.0)
    return np.float32(np.sqrt(2.0)) * jax.lax.erf_inv(u)


def leaf_words(key: jax.Array, path: str) -> jax.Array:
    """``(a, c)``: the two uint32 words of leaf ``path`` under ``key``."""
    return jax.random.bits(jax.random.fold_in(key, _path_hash(path)), (2,), jnp.uint32)


def normals(
    key: jax.Array, paths: Sequence[str], shapes: Sequence[tuple[int, ...]]
) -> list[jax.Array]:
    """Standard normals shaped ``shapes[i]`` for leaf ``paths[i]``, float32.

    Entry ``i`` of leaf ``path`` is ``bits_to_normal(entry_bits(a, c, i))`` with
    ``(a, c) = leaf_words(key, path)`` (the module docstring's formula). One
    vectorised draw covers every leaf: rows of ``BLOCK`` entries, row r of a leaf
    holding its indices ``r·BLOCK ..``; the values do not depend on that layout.
    """
    sizes = [int(np.prod(s)) for s in shapes]
    nblocks = [-(-n // BLOCK) for n in sizes]
    if not sizes or sum(nblocks) == 0:
        return [jnp.zeros(s, jnp.float32) for s in shapes]
    hashes = jnp.asarray([_path_hash(p) for p in paths], jnp.uint32)
    words = jax.vmap(
        lambda h: jax.random.bits(jax.random.fold_in(key, h), (2,), jnp.uint32)
    )(hashes)  # [n_leaves, 2]
    leaf_of_row = np.repeat(np.arange(len(sizes)), nblocks)
    row_start = np.concatenate([np.arange(n, dtype=np.uint32) * BLOCK for n in nblocks])
    a = (words[leaf_of_row, 0] + row_start)[:, None]
    c = words[leaf_of_row, 1][:, None]
    j = jax.lax.broadcasted_iota(jnp.uint32, (len(row_start), BLOCK), 1)
    # The barrier keeps XLA from fusing the draw into each leaf's consumer: one loop
    # over all leaves instead of ~170 copies of the erfinv code (compile 57 s -> 1 s).
    flat = jax.lax.optimization_barrier(bits_to_normal(entry_bits(a, c, j))).reshape(-1)
    out, start = [], 0
    for n, nb, shape in zip(sizes, nblocks, shapes, strict=True):
        out.append(flat[start : start + n].reshape(shape))
        start += nb * BLOCK
    return out


def _is_float(x) -> bool:
    return jnp.issubdtype(
        jnp.asarray(x).dtype if not hasattr(x, "dtype") else x.dtype, jnp.floating
    )


def trainable(params) -> Where:
    """Default selection: the ``params`` collection if there is one, else every float leaf."""
    has_collections = isinstance(params, dict) and "params" in params
    if has_collections:
        return lambda path, leaf: path.startswith("params/") and _is_float(leaf)
    return lambda path, leaf: _is_float(leaf)


def match(*patterns: str, collections: Sequence[str] | None = None) -> Where:
    """Selects leaves whose path matches any glob pattern (``fnmatch``; ``*``
    crosses ``/``). ``collections`` restricts the first path component.

    Examples: ``match("params/B2/*")`` (all of block B2's trainable tensors),
    ``match("*/kernel")`` (every weight), ``match("*", collections=("params",
    "batch_stats"))`` (trainable plus standing statistics).
    """
    pats = patterns or ("*",)

    def where(path: str, leaf) -> bool:
        if collections is not None and path.split("/", 1)[0] not in collections:
            return False
        return _is_float(leaf) and any(fnmatch.fnmatchcase(path, p) for p in pats)

    return where


def multiplicative(
    params,
    key: jax.Array,
    *,
    alpha: float | jax.Array = 0.35,
    where: Where | None = None,
):
    """Eq. (2) of Janik: ``θ = θ*·(1 + α·ε)``, ``ε ~ N(0, 1)`` per selected entry.

    Args:
      params: any pytree of arrays.
      key: the perturbation's key (for a sweep: :func:`seed_key`).
      alpha: the scale (paper: 0.35). ``alpha = 0`` returns the same values.
      where: ``where(path, leaf) -> bool`` selecting the leaves to perturb
        (default :func:`trainable`). Leaves not selected are returned as is
        (bit-identical).

    Returns:
      A pytree like ``params``. jit/vmap friendly (vmap over ``key`` for many
      perturbed networks).
    """
    if isinstance(alpha, (int, float, np.number)) and not math.isfinite(alpha):
        raise UserError(f"alpha must be finite, got {alpha!r}")  # (an array alpha is not read: traced)
    return map_noise(params, key, where or trainable(params),
                     lambda path, x, e: x * (1 + alpha * e))  # fmt: skip


def map_noise(params, key: jax.Array, where: Where, fn: Callable[[str, Any, jax.Array], Any]):
    """``params`` with every leaf selected by ``where`` replaced by
    ``fn(path, leaf, ε)`` (cast back to the leaf's dtype), ε = :func:`normals` of
    ``key`` for that leaf; the others returned as is. One vectorised draw."""
    flat, tree = jax.tree_util.tree_flatten_with_path(params)
    paths = [path_str(p) for p, _ in flat]
    sel = [i for i, (ps, (_, x)) in enumerate(zip(paths, flat, strict=True)) if where(ps, x)]
    eps = normals(key, [paths[i] for i in sel], [jnp.shape(flat[i][1]) for i in sel])
    out = [x for _, x in flat]
    for i, e in zip(sel, eps, strict=True):
        out[i] = fn(paths[i], out[i], e).astype(jnp.asarray(out[i]).dtype)
    return jax.tree_util.tree_unflatten(tree, out)


def _per_position_axes(path: str, x) -> tuple[int, ...]:
    """Axes the statistics are taken over: for a conv kernel ``[kh, kw, I, O]``
    with kh·kw > 1, over (I, O) for each kernel position; else the whole tensor."""
    shape = jnp.shape(x)
    if path.endswith("kernel") and len(shape) == 4 and shape[0] * shape[1] > 1:
        return (2, 3)
    return tuple(range(len(shape)))


Hook = Callable[[Any, Where], Any]


def replace(
    params,
    key: jax.Array,
    *,
    where: Where,
    per_position: bool = True,
    after: Hook | None = None,
):
    """Eq. (3) of Janik: every selected tensor replaced by draws from a normal
    with that tensor's own mean and std; for convolution kernels the statistics
    are per kernel position (``per_position``, the paper's footnote 6).

    ``after(new_params, where) -> params`` is the model's hook for state derived
    from the replaced tensors (BigGAN: :func:`biggan_jax.perturb.rederive_spectral`
    re-derives the spectral-norm vectors of the new kernels); ``None``: none.
    """

    def draw(path, x, e):
        axes = _per_position_axes(path, x) if per_position else tuple(range(jnp.ndim(x)))
        xf = jnp.asarray(x, jnp.float32)
        return jnp.mean(xf, axis=axes, keepdims=True) + jnp.std(xf, axis=axes, keepdims=True) * e

    new = map_noise(params, key, where, draw)
    return new if after is None else after(new, where)


def block_names(params) -> list[str]:
    """The top-level module names under ``params`` (BigGAN: embeddings, gen_z, B1..B13, bn, conv_to_rgb)."""
    root = params["params"] if isinstance(params, dict) and "params" in params else params
    natural = lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)]
    return sorted(root, key=natural)


def check_block(params, block: str) -> None:
    names = block_names(params)
    if block not in names:
        raise UserError(f"unknown block {block!r}; this model has: {', '.join(names)}")


def replace_block(params, key: jax.Array, block: str, *, after: Hook | None = None, **kw):
    """Eq. (3) for one block by name (BigGAN: ``"B2"``, as in the paper's Fig. 4):
    all of its trainable tensors replaced (standing statistics kept); ``after``:
    the model's hook (:func:`replace`; BigGAN's sweeps pass
    ``biggan_jax.perturb.rederive_spectral``)."""
    check_block(params, block)
    return replace(params, key, where=match(f"params/{block}/*"), after=after, **kw)
