"""Weight-space walks (issue 13): animate between the unperturbed network and a
perturbed one, or between two perturbed networks, with Janik's eq. (2)
(arXiv:2109.08103) as the end points. One implementation for every generator
(BigGAN and DCGAN sweeps): the formulas, the ``--walk_between`` grammar and the
list of walks a command asks for.

An end point is a seed ``k`` or a lineage (:mod:`neural_art.lineage`: ``17.4``,
``17.4x203.1``), its noise ε the sweep's: ``ε = Σ_i c_{i,b}·N(key_i)``
(:func:`neural_art.lineage.terms` with the run's :class:`~neural_art.lineage.Breeding`;
a seed k is one draw, ``N(fold_in(root, k))``, coefficient 1).

* toward (``--seeds``): ``θ(t) = θ*·(1 + α_b·t·ε_a)``: ``t = 0`` is θ*, ``t = 1``
  exactly the end point's eq.-(2) network (``α_b``: the α of the leaf's block,
  :mod:`neural_art.blocks`; ``α`` everywhere without per-block α).
* between (``--walk_between=A:B``): ``θ(t) = θ*·(1 + α_b·ε(t))`` with the spherical
  interpolation (slerp) of the two end points' noise, per block b::

      ε(t)_b = (sin((1−t)·Ω_b)·ε_A,b + sin(t·Ω_b)·ε_B,b) / sin(Ω_b),
      cos(Ω_b) = ρ_b = Σ_i c^A_{i,b}·c^B_{i,b}   (the correlation of ε_A and ε_B)

  (ρ_b sums over the draws both lineages share; ``ρ_b = 1``: ``(1−t)·ε_A + t·ε_B``.)
  Independent end points (two seeds, or lineages of unrelated families) have
  ρ = 0, Ω = π/2, so ``ε(t) = cos(πt/2)·ε_A + sin(πt/2)·ε_B``: two independent
  N(0, I) vectors in millions of dimensions are orthogonal to within ~1/sqrt(n),
  and this keeps every entry exactly N(0, 1) (cos² + sin² = 1), where a straight
  line would shrink ‖ε‖ by up to 1/√2 at the midpoint. Related end points
  (``17`` and ``17.4``) keep it too: slerp's weights give unit variance for
  every ρ. The weights are computed on the host in float64: at ``t = 0`` they are
  exactly ``(1, 0)`` and at ``t = 1`` exactly ``(0, 1)``, so the end frames are
  A's and B's sweep networks.

Both are ``θ*·(1 + α_b·Σ_j w_{j,b}(t)·N(key_j))`` over the end points' draws
(A's, then B's, each in the lineage's own order, a draw the two share listed
twice), i.e. :func:`neural_art.lineage.network_from` with per-frame coefficients
(:func:`inputs`): one vectorised draw per key whatever the frame, pure, vmapped over
``t``; :func:`renderer` makes all frames of every walk with one compiled program.
:func:`toward` / :func:`between` are the same formulas for two plain keys.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from neural_art import lineage, perturb
from neural_art.errors import UserError

Network = int | str  # a seed, or a lineage string (neural_art.lineage.network_id)


@dataclasses.dataclass(frozen=True)
class Walk:
    """One walk a command asks for: toward ``a`` (``b`` None) or from ``a`` to ``b``;
    each a seed (int) or a lineage string (:func:`neural_art.lineage.network_id`)."""

    a: Network
    b: Network | None = None

    @property
    def name(self) -> str:
        """Its directory under ``walks/``: ``seed_000007``, ``seed_3_to_17``; with a
        lineage ``net_17.4`` (:func:`neural_art.lineage.dir_name`), ``net_17.4_to_203``
        (a lineage string has no ``_``)."""
        if self.b is None:
            return lineage.dir_name(self.a)
        if isinstance(self.a, int) and isinstance(self.b, int):
            return f"seed_{self.a}_to_{self.b}"
        return f"net_{self.a}_to_{self.b}"

    @property
    def label(self) -> str:
        """``7``, ``3:17``, ``17.4:203``: as ``--seeds`` / ``--walk_between`` spell it."""
        return str(self.a) if self.b is None else f"{self.a}:{self.b}"

    @property
    def ends(self) -> list[lineage.Lineage]:
        return [lineage.parse(n) for n in (self.a, self.b) if n is not None]


def parse_pairs(parts: Sequence[str], *, walk_mode: bool = True) -> tuple[tuple[Network, Network], ...]:  # fmt: skip
    """``--walk_between``: ``["3:17", "17.4x203.1:5"]`` -> ``((3, 17), ("17.4x203.1", 5))``
    (seeds as ints, lineages as their canonical strings); pairs need ``--mode=walk``."""
    if parts and not walk_mode:
        raise UserError("--walk_between needs --mode=walk")
    pairs = []
    for part in parts:
        a, sep, b = part.strip().partition(":")
        try:
            if not sep:
                raise UserError("no ':'")
            pairs.append(tuple(lineage.network_id(lineage.parse(x)) for x in (a, b)))
        except UserError as e:
            raise UserError(f"--walk_between part {part!r}: use A:B, each a seed or a lineage, "
                            f"e.g. 3:17 or 17.4x203.1:5 ({e})") from None
    return tuple(pairs)


def plan(seeds: Sequence[Network], pairs: Sequence[tuple[Network, Network]]) -> list[Walk]:
    """The walks of ``--seeds`` (one toward each) and ``--walk_between`` (one per pair)."""
    return [Walk(k) for k in seeds] + [Walk(a, b) for a, b in pairs]


def uses_lineages(walks: Sequence[Walk]) -> bool:
    """Whether any end point is a lineage other than a plain seed (breeding matters)."""
    return any(isinstance(n, str) for w in walks for n in (w.a, w.b))


def breeding_settings(walks: Sequence[Walk], breeding: lineage.Breeding | None) -> dict:
    """``{"breeding": {...}}`` for ``walks.json`` when an end point is a lineage, else ``{}``."""
    if not uses_lineages(walks):
        return {}
    return {"breeding": dataclasses.asdict(breeding or lineage.Breeding())}


def frames(n: int) -> jax.Array:
    """``n`` values of t from 0 to 1 inclusive (``n >= 2``)."""
    if n < 2:
        raise UserError(f"a walk needs at least 2 frames, got {n}")
    return jnp.linspace(0.0, 1.0, n)


def slerp_weights(ts, rho) -> tuple[np.ndarray, np.ndarray]:
    """``(w_A, w_B)`` float64 ``[F, n_blocks]``: slerp's weights of ε_A and ε_B at
    ``ts [F]`` for correlations ``rho [n_blocks]`` (module docstring); exactly
    ``(1, 0)`` at t = 0 and ``(0, 1)`` at t = 1; ``(1−t, t)`` where ρ = 1."""
    t = np.asarray(ts, np.float64)[:, None]
    omega = np.arccos(np.clip(np.asarray(rho, np.float64), -1.0, 1.0))[None, :]
    s = np.sin(omega)
    same = s < 1e-12
    safe = np.where(same, 1.0, s)
    wa = np.where(same, 1.0 - t, np.sin((1.0 - t) * omega) / safe)
    wb = np.where(same, t, np.sin(t * omega) / safe)
    return wa, wb


def weights(w: Walk, ts, names: Sequence[str], breeding: lineage.Breeding | None = None):
    """``(draw nodes, coefs [F, M, len(names)] float64)``: ε(t) of walk ``w`` at ``ts``
    as ``Σ_j coefs[f, j, b]·N(key(nodes[j]))`` (module docstring); ``names``: the
    blocks (:func:`neural_art.perturb.block_names`)."""
    breeding = breeding or lineage.Breeding()
    t = np.asarray(ts, np.float64)
    ends = [lineage.terms(e, breeding, names) for e in w.ends]
    ca = np.stack(list(ends[0].values()))  # [Ma, nb]
    if w.b is None:
        return list(ends[0]), t[:, None, None] * ca[None]
    cb = np.stack(list(ends[1].values()))
    norm = lambda c: np.sqrt(np.sum(c**2, axis=0))
    shared = sum((ends[0][d] * ends[1][d] for d in ends[0] if d in ends[1]), np.zeros(len(names)))
    den = norm(ca) * norm(cb)  # 1 (a lineage's ε is N(0, 1) in every block), kept for safety
    wa, wb = slerp_weights(t, np.divide(shared, den, out=np.zeros_like(shared), where=den > 0))
    coefs = np.concatenate([wa[:, None, :] * ca[None], wb[:, None, :] * cb[None]], axis=1)
    return [*ends[0], *ends[1]], coefs


def draws(w: Walk, names: Sequence[str], breeding: lineage.Breeding | None = None) -> int:
    """How many draws walk ``w`` combines (its end points' :func:`neural_art.lineage.terms`)."""
    return sum(len(lineage.terms(e, breeding or lineage.Breeding(), names)) for e in w.ends)


def width(walks: Sequence[Walk], params, breeding: lineage.Breeding | None = None) -> int:
    """The draws the widest of ``walks`` needs (at least 2: a walk between two seeds):
    :func:`renderer`'s ``width``, so one program renders them all."""
    names = perturb.block_names(params)
    return max([2, *(draws(w, names, breeding) for w in walks)])


def inputs(w: Walk, root: jax.Array, ts, names: Sequence[str],
           breeding: lineage.Breeding | None = None, width: int = 0) -> tuple[jax.Array, np.ndarray]:  # fmt: skip
    """``(keys [M], coefs [F, M, len(names)] float32)`` of walk ``w``: the arguments of
    :func:`neural_art.lineage.network_from` per frame, padded to ``M = max(width,
    draws)`` with zero coefficients (and the first key)."""
    nodes, coefs = weights(w, ts, names, breeding)
    m = max(width, len(nodes))
    keys = [lineage.key(root, d) for d in nodes]
    keys += keys[:1] * (m - len(keys))
    pad = np.zeros((coefs.shape[0], m - len(nodes), coefs.shape[2]))
    return jnp.stack(keys), np.concatenate([coefs, pad], axis=1).astype(np.float32)


def _per_block(params, coefs: Sequence[jax.Array]) -> jax.Array:
    """``[M, n_blocks]``: one scalar ``c_i`` per draw, the same in every block."""
    n = len(perturb.block_names(params))
    return jnp.stack([jnp.broadcast_to(jnp.asarray(c, jnp.float32), (n,)) for c in coefs])


def perturbed(params, keys: Sequence[jax.Array], coefs: Sequence[jax.Array], *, alpha: float = 0.35,
              alphas: Mapping[str, float] | None = None, where=None):  # fmt: skip
    """θ*·(1 + α_b·Σ_i c_i·ε_i): eq. (2) with a mixture of draws (``α_b``: per block),
    :func:`neural_art.lineage.network_from` with one coefficient per draw."""
    return lineage.network_from(params, jnp.stack(list(keys)), _per_block(params, coefs), alpha=alpha,
                                alphas=alphas, where=where)  # fmt: skip


def toward(params, key: jax.Array, t: jax.Array, **kw):
    """θ(t) = θ*·(1 + α_b·t·ε) with ε the draw of ``key`` (eq. 2 at ``t = 1``).
    ``kw``: ``alpha``, ``alphas``, ``where`` of :func:`perturbed`."""
    return perturbed(params, [key], [t], **kw)


def slerp_coefficients(t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(cos(πt/2), sin(πt/2))``: ε(t)'s weights of two independent draws ε_a and ε_b,
    the first computed as ``sin(π(1−t)/2)`` so that t = 1 gives exactly 0."""
    return jnp.sin(0.5 * jnp.pi * (1.0 - t)), jnp.sin(0.5 * jnp.pi * t)


def mixed_noise(params, key_a: jax.Array, key_b: jax.Array, t: jax.Array, *, where=None):
    """``{path: ε(t)}`` for the selected leaves: cos(πt/2)·ε_a + sin(πt/2)·ε_b."""
    return lineage.noise_from(params, jnp.stack([key_a, key_b]), _per_block(params, slerp_coefficients(t)),
                              where=where)  # fmt: skip


def between(params, key_a: jax.Array, key_b: jax.Array, t: jax.Array, **kw):
    """θ(t) = θ*·(1 + α_b·ε(t)), ε(t) spherically between the (independent) draws of
    ``key_a`` / ``key_b``."""
    return perturbed(params, [key_a, key_b], slerp_coefficients(t), **kw)


def renderer(net: Callable, *, alpha: float, alphas: Mapping[str, float] | None = None, where=None,
             breeding: lineage.Breeding | None = None, width: int = 2):  # fmt: skip
    """``render(params, walk, root, ts) -> net(θ(t))`` stacked over ``ts``, seed k's key
    ``fold_in(root, k)`` and a lineage's keys and coefficients bred with ``breeding``
    (default :class:`neural_art.lineage.Breeding`), as the sweep's. ``net(θ)``: the
    generator's images of a network. One jitted program, vmapped over the frames
    (the draws, not batched, are made once per walk), takes :func:`inputs` padded to
    ``width`` draws (:func:`width` of the walks: one compile for all; a wider walk
    compiles once more); at t = 0 and t = 1 the coefficients are exactly the end
    points' (module docstring)."""
    kw = dict(alpha=alpha, alphas=dict(alphas or {}), where=where)
    prog = jax.jit(jax.vmap(lambda p, keys, coefs: net(lineage.network_from(p, keys, coefs, **kw)),
                            in_axes=(None, None, 0)))  # fmt: skip

    def render(params, walk: Walk, root: jax.Array, ts: jax.Array) -> jax.Array:
        keys, coefs = inputs(walk, root, ts, perturb.block_names(params), breeding, width)
        return prog(params, keys, jnp.asarray(coefs))

    render.program = prog  # the one compiled program (tests check it compiles once)
    return render


def command(base: str, walk: Walk, out_dir: str) -> str:
    """The command that re-renders ``walk`` alone: ``base`` (the flags the walks ran
    with, without ``--seeds`` / ``--walk_between`` / ``--out_dir``, shell-quoted) plus
    which walk, quoted too (:func:`shlex.join`): the command pastes into a shell as is."""
    which = f"--seeds={walk.a}" if walk.b is None else f"--walk_between={walk.label}"
    out = str(out_dir).rstrip("/")
    return f"{base} {shlex.join([which, f'--out_dir={out}_{walk.name}'])}"
