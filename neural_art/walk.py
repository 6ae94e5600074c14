"""Weight-space walks (issue 13): animate between the unperturbed network and a
perturbed one, or between two perturbed networks, with Janik's eq. (2)
(arXiv:2109.08103) as the end points. One implementation for every generator
(BigGAN and DCGAN sweeps): the formulas, the ``--walk_between`` grammar and the
list of walks a command asks for.

* :func:`toward` -- ``θ(t) = θ*·(1 + α_b·t·ε_k)``: ``t = 0`` is θ*, ``t = 1`` is
  exactly seed k's eq.-(2) network (``α_b``: the α of the leaf's block,
  :mod:`neural_art.blocks`; ``α`` everywhere without per-block α).
* :func:`between` -- ``θ(t) = θ*·(1 + α_b·ε(t))`` with ``ε(t) = cos(πt/2)·ε_a +
  sin(πt/2)·ε_b``: spherical interpolation between two independent draws. Two
  independent N(0, I) vectors in millions of dimensions are orthogonal to within
  ~1/sqrt(n), so this is slerp with Ω = π/2, and it keeps every entry exactly
  N(0, 1) (cos² + sin² = 1): ‖ε(t)‖ stays that of one draw, where a straight line
  would shrink it by up to 1/√2 at the midpoint. ``t = 0`` / ``1`` give seeds a / b.

ε_k is :func:`neural_art.perturb.normals` of seed k's key, per leaf path, so the
end points are the sweep's networks whatever the per-block α. Both are
:func:`perturbed` (``θ*·(1 + α_b·Σ c_i ε_i)``), pure, and vmap over ``t``;
:func:`renderer` makes all frames of every walk with one compiled program.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

from neural_art import blocks, perturb
from neural_art.errors import UserError


@dataclasses.dataclass(frozen=True)
class Walk:
    """One walk a command asks for: toward seed ``a`` (``b`` None) or from seed ``a`` to ``b``."""

    a: int
    b: int | None = None

    @property
    def name(self) -> str:
        """Its directory under ``walks/``: ``seed_000007`` or ``seed_3_to_17``."""
        return f"seed_{self.a:06d}" if self.b is None else f"seed_{self.a}_to_{self.b}"

    @property
    def label(self) -> str:
        return str(self.a) if self.b is None else f"{self.a}:{self.b}"


def parse_pairs(parts: Sequence[str], *, walk_mode: bool = True) -> tuple[tuple[int, int], ...]:
    """``--walk_between``: ``["3:17", "0:2"]`` -> ``((3, 17), (0, 2))``; pairs need ``--mode=walk``."""
    if parts and not walk_mode:
        raise UserError("--walk_between needs --mode=walk")
    pairs = []
    for part in parts:
        a, sep, b = part.strip().partition(":")
        if not (sep and a.isdigit() and b.isdigit()):
            raise UserError(f"--walk_between part {part!r}: use SEED:SEED, e.g. 3:17")
        pairs.append((int(a), int(b)))
    return tuple(pairs)


def plan(seeds: Sequence[int], pairs: Sequence[tuple[int, int]]) -> list[Walk]:
    """The walks of ``--seeds`` (one toward each) and ``--walk_between`` (one per pair)."""
    return [Walk(k) for k in seeds] + [Walk(a, b) for a, b in pairs]


def frames(n: int) -> jax.Array:
    """``n`` values of t from 0 to 1 inclusive (``n >= 2``)."""
    if n < 2:
        raise UserError(f"a walk needs at least 2 frames, got {n}")
    return jnp.linspace(0.0, 1.0, n)


def _selected(params, where, alpha_of):
    """``(paths, shapes)`` of the leaves eq. (2) changes (selected, α_b != 0)."""
    where = where or perturb.trainable(params)
    flat = jax.tree_util.tree_leaves_with_path(params)
    sel = [(perturb.path_str(p), jnp.shape(x)) for p, x in flat if where(perturb.path_str(p), x)]
    sel = [(p, s) for p, s in sel if alpha_of(p) != 0.0]
    return [p for p, _ in sel], [s for _, s in sel]


def combined_noise(params, keys: Sequence[jax.Array], coefs: Sequence[jax.Array], *, where=None,
                   alpha_of: Callable[[str], float] = lambda p: 1.0) -> dict[str, jax.Array]:  # fmt: skip
    """``{path: Σ_i c_i·ε_i}`` over the selected leaves, ε_i the draw of ``keys[i]``."""
    paths, shapes = _selected(params, where, alpha_of)
    draws = [perturb.normals(k, paths, shapes) for k in keys]
    return {p: sum(c * d[j] for c, d in zip(coefs, draws, strict=True)) for j, p in enumerate(paths)}


def perturbed(params, keys: Sequence[jax.Array], coefs: Sequence[jax.Array], *, alpha: float = 0.35,
              alphas: Mapping[str, float] | None = None, where=None):  # fmt: skip
    """θ*·(1 + α_b·Σ_i c_i·ε_i): eq. (2) with a mixture of draws (``α_b``: per block)."""
    alpha_of = blocks.alpha_of(params, alphas or {}, alpha)
    eps = combined_noise(params, keys, coefs, where=where, alpha_of=alpha_of)
    return blocks.scaled(params, eps, alpha_of)


def toward(params, key: jax.Array, t: jax.Array, **kw):
    """θ(t) = θ*·(1 + α_b·t·ε) with ε the draw of ``key`` (eq. 2 at ``t = 1``).
    ``kw``: ``alpha``, ``alphas``, ``where`` of :func:`perturbed`."""
    return perturbed(params, [key], [t], **kw)


def slerp_coefficients(t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(cos(πt/2), sin(πt/2))``: ε(t)'s weights of ε_a and ε_b."""
    return jnp.cos(0.5 * jnp.pi * t), jnp.sin(0.5 * jnp.pi * t)


def mixed_noise(params, key_a: jax.Array, key_b: jax.Array, t: jax.Array, *, where=None):
    """``{path: ε(t)}`` for the selected leaves: cos(πt/2)·ε_a + sin(πt/2)·ε_b."""
    return combined_noise(params, [key_a, key_b], slerp_coefficients(t), where=where)


def between(params, key_a: jax.Array, key_b: jax.Array, t: jax.Array, **kw):
    """θ(t) = θ*·(1 + α_b·ε(t)), ε(t) spherically between the draws of ``key_a`` / ``key_b``."""
    return perturbed(params, [key_a, key_b], slerp_coefficients(t), **kw)


def renderer(net: Callable, *, alpha: float, alphas: Mapping[str, float] | None = None, where=None):
    """``render(params, walk, root, ts) -> net(θ(t))`` stacked over ``ts``, seed k's key
    ``fold_in(root, k)`` (as the sweep's). ``net(θ)``: the generator's images of a
    network. One jitted program, vmapped over the frames, for every walk: a walk toward
    seed k is θ*·(1 + α_b·(t·ε_k + 0·ε_k)) (a second draw spent for one compile), a
    walk between a and b uses the slerp weights; at t = 1 (0) both are exactly eq. (2)."""
    kw = dict(alpha=alpha, alphas=alphas, where=where)
    prog = jax.jit(jax.vmap(lambda p, ca, cb, ka, kb: net(perturbed(p, [ka, kb], [ca, cb], **kw)),
                            in_axes=(None, 0, 0, None, None)))  # fmt: skip

    def render(params, walk: Walk, root: jax.Array, ts: jax.Array) -> jax.Array:
        ka = perturb.seed_key(root, walk.a)
        if walk.b is None:
            return prog(params, ts, jnp.zeros_like(ts), ka, ka)
        return prog(params, *slerp_coefficients(ts), ka, perturb.seed_key(root, walk.b))

    render.program = prog  # the one compiled program (tests check it compiles once)
    return render


def command(base: str, walk: Walk, out_dir: str) -> str:
    """The command that re-renders ``walk`` alone: ``base`` (the flags the walks ran
    with, without ``--seeds`` / ``--walk_between`` / ``--out_dir``, shell-quoted) plus
    which walk, quoted too (:func:`shlex.join`): the command pastes into a shell as is."""
    which = f"--seeds={walk.a}" if walk.b is None else f"--walk_between={walk.label}"
    out = str(out_dir).rstrip("/")
    return f"{base} {shlex.join([which, f'--out_dir={out}_{walk.name}'])}"
