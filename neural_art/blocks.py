"""Layer-wise control of eq. (2) (Janik, arXiv:2109.08103): a scale α per block.

``--alpha_per_block=B1:0,B2:0.5,B5-B13:0.2`` gives each listed block its own α
(unlisted blocks keep ``--alpha``); ``--blocks=B3,B5-B7`` perturbs only those
blocks (α elsewhere 0). Blocks are a params tree's top-level module names
(:func:`neural_art.perturb.block_names`: BigGAN ``B1``..``B13``, ``gen_z``...;
the DCGAN's layer names). A range ``B5-B13`` spans names with one prefix and
numbers in between.

Every leaf's ε depends only on the key and the leaf's path (:mod:`neural_art.perturb`),
so a per-block α changes only the scale: with α_b = α everywhere the result is
exactly :func:`neural_art.perturb.multiplicative`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

from neural_art import perturb
from neural_art.errors import UserError

_RANGE = re.compile(r"([A-Za-z_]+)(\d+)-(?:\1)?(\d+)")


def expand(spec: str, names: Sequence[str]) -> list[str]:
    """``"B5-B13"`` / ``"B5-13"`` / ``"gen_z"`` -> block names, checked against ``names``."""
    m = _RANGE.fullmatch(spec)
    if m:
        pre, a, b = m.group(1), int(m.group(2)), int(m.group(3))
        if b < a:
            raise UserError(f"block range {spec!r}: end {b} < start {a}")
        out = [f"{pre}{i}" for i in range(a, b + 1)]
    else:
        out = [spec]
    unknown = [n for n in out if n not in names]
    if unknown:
        raise UserError(f"unknown block {unknown[0]!r} in {spec!r}; blocks are {', '.join(names)}")
    return out


def parse_alphas(spec: str, names: Sequence[str]) -> dict[str, float]:
    """``"B1:0,B2:0.5,B5-B13:0.2"`` -> ``{"B1": 0.0, "B2": 0.5, "B5": 0.2, ...}``."""
    out: dict[str, float] = {}
    for part in filter(None, spec.replace(" ", "").split(",")):
        blocks, sep, val = part.rpartition(":")
        try:
            alpha = float(val)
        except ValueError:
            alpha = float("nan")
        if not sep or not blocks or not (alpha >= 0 and alpha < float("inf")):
            raise UserError(f"--alpha_per_block part {part!r}: use BLOCK[-BLOCK]:ALPHA with ALPHA >= 0")
        for b in expand(blocks, names):
            out[b] = alpha
    return out


def only(spec: str, names: Sequence[str], alpha: float) -> dict[str, float]:
    """``--blocks=B3,B5-B7``: α on those blocks, 0 on every other."""
    chosen = {b for part in filter(None, spec.replace(" ", "").split(",")) for b in expand(part, names)}
    if not chosen:
        raise UserError("--blocks names no block")
    return {b: (alpha if b in chosen else 0.0) for b in names}


def multiplicative(params, key: jax.Array, alphas: Mapping[str, float], *, alpha: float,
                   where=None):  # fmt: skip
    """Eq. (2) with α per top-level block (``alphas``; others ``alpha``): one draw of
    :func:`neural_art.perturb.map_noise` over the leaves whose block has α != 0."""
    where = where or perturb.trainable(params)
    a = alpha_of(params, alphas, alpha)
    sel = lambda path, leaf: where(path, leaf) and a(path) != 0.0
    return perturb.map_noise(params, key, sel, lambda path, x, e: x * (1 + a(path) * e))


def scaled(params, eps: Mapping[str, jax.Array], alpha_of: Callable[[str], float]):
    """θ*·(1 + α_b·ε) for precomputed noise ``eps`` (``{path: ε}``; leaves without an
    entry returned as is), each leaf keeping its dtype: eq. (2) once ε is drawn."""

    def leaf(path, x):
        ps = perturb.path_str(path)
        e = eps.get(ps)
        return x if e is None else (x * (1 + alpha_of(ps) * e)).astype(jnp.asarray(x).dtype)

    return jax.tree_util.tree_map_with_path(leaf, params)


def alpha_of(params, alphas: Mapping[str, float], alpha: float) -> Callable[[str], float]:
    """``path -> α`` of the leaf's top-level block (``alphas``, else ``alpha``)."""
    return lambda path: float(alphas.get(block_of(path, params), alpha))


def block_of(path: str, params) -> str:
    """The top-level block of leaf ``path`` (``params/B2/conv_1/kernel`` -> ``B2``)."""
    parts = path.split("/")
    return parts[1] if isinstance(params, dict) and "params" in params and len(parts) > 1 else parts[0]
