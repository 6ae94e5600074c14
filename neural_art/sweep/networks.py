"""What each network of a sweep is: :class:`Perturbation` (eq. 2 or eq. 3 of Janik,
arXiv:2109.08103, over any params pytree) and :class:`Networks` (a network named by a
seed, or by a lineage: :mod:`neural_art.lineage`).

Seed k's network is ``Perturbation.apply(θ*, fold_in(root, k))``; a lineage's is
``θ*·(1 + α_b·ε)`` with the lineage's ε (:func:`neural_art.lineage.network_from`).
What a model adds to this (BigGAN's spectral-norm vectors after a replaced block,
eq. 2 on its normalised weights) comes in as :class:`Hooks`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from neural_art import blocks, lineage, perturb
from neural_art.errors import UserError
from neural_art.perturb import Where, block_names, match, trainable
from neural_art.ranges import parse_ranges

MODES = ("multiplicative", "replace")
BN_MODES = ("stored", "recompute")


@dataclasses.dataclass(frozen=True)
class Hooks:
    """A model's additions to the perturbations (module-level constants, so they key
    compiled programs by identity).

    Attributes:
      after_replace: ``(params, where) -> params`` after eq. (3) replaced the
        tensors ``where`` selects (:func:`neural_art.perturb.replace`'s ``after``).
      effective: ``(θ*, θ) -> θ`` making eq. (2) act on the weights as used
        (BigGAN: the spectrally normalised ones); None: the model has no such notion.
    """

    after_replace: Callable | None = None
    effective: Callable | None = None


NO_HOOKS = Hooks()


@dataclasses.dataclass(frozen=True)
class Perturbation:
    """Which random modification each seed's network gets.

    Attributes:
      mode: ``"multiplicative"`` (eq. 2) or ``"replace"`` (eq. 3).
      alpha: eq. (2)'s scale (paper: 0.35); must be >= 0.
      block: eq. (3)'s block (BigGAN ``B1``..``B13``, paper: ``B2``; DCGAN ``G1``..).
      effective: eq. (2) on the weights as the model uses them (:class:`Hooks`).
      include: extra glob patterns added to eq. (2)'s selection, e.g.
        ``("batch_stats/*",)`` to perturb the standing statistics too.
      alphas: eq. (2) α per block, ``(("B1", 0.0), ("B5", 0.2), ...)``; unlisted
        blocks use ``alpha`` (:func:`neural_art.blocks.multiplicative`).
      bn: ``"stored"`` standing statistics or ``"recompute"`` them per perturbed
        network (a model that can: BigGAN's :func:`biggan_jax.bn.with_bn`).
    """

    mode: str = "multiplicative"
    alpha: float = 0.35
    block: str = "B2"
    effective: bool = False
    include: tuple[str, ...] = ()
    alphas: tuple[tuple[str, float], ...] = ()
    bn: str = "stored"

    def __post_init__(self):
        if self.bn not in BN_MODES:
            raise UserError(f"unknown bn mode {self.bn!r}; choose one of {BN_MODES}")
        if self.alphas and (self.effective or self.mode != "multiplicative"):
            raise UserError("per-block alphas need mode multiplicative without effective")
        if self.mode not in MODES:
            raise UserError(f"unknown mode {self.mode!r}; choose one of {MODES}")
        if not (isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and self.alpha >= 0):
            raise UserError(f"alpha must be a finite number >= 0, got {self.alpha!r}")

    def selection(self, params) -> Where | None:
        """Eq. (2)'s selection: the trainable leaves plus ``include`` (None: the default)."""
        if not self.include:
            return None
        base, extra = trainable(params), match(*self.include)
        return lambda p, x: base(p, x) or extra(p, x)

    def apply(self, params, key: jax.Array, *, hooks: Hooks):
        """θ = this perturbation of ``params`` with ``key`` (pure, jit/vmap friendly).
        ``hooks``: the model's (BigGAN: :data:`biggan_jax.perturb.HOOKS`; a model with
        nothing derived from its weights: :data:`NO_HOOKS`), required, so that no caller
        draws another network than the sweep does."""
        if self.mode == "replace":
            return perturb.replace_block(params, key, self.block, after=hooks.after_replace)
        where = self.selection(params)
        if self.alphas:
            return blocks.multiplicative(params, key, dict(self.alphas), alpha=self.alpha, where=where)
        new = perturb.multiplicative(params, key, alpha=self.alpha, where=where)
        if not self.effective:
            return new
        if hooks.effective is None:
            raise UserError("effective=True needs a model with normalised weights (BigGAN)")
        return hooks.effective(params, new)

    def as_dict(self) -> dict:
        """The manifest's record (JSON types)."""
        d = dataclasses.asdict(self)
        return {**d, "include": list(d["include"]), "alphas": dict(d["alphas"])}


@dataclasses.dataclass(frozen=True)
class Networks:
    """What names each network of a chunk: a seed (``width`` 0; input int32
    ``[chunk]``) or a lineage (:mod:`neural_art.lineage`; inputs ``(key data
    [chunk, width, 2], coefs [chunk, width, len(names)])``, ``width`` draws each)."""

    width: int = 0
    breeding: lineage.Breeding | None = None
    names: tuple[str, ...] = ()
    key_shape: tuple[int, ...] = (2,)  # the root key's data (threefry: 2 words)

    def abstract(self, chunk: int, sh: jax.sharding.Sharding):
        """The chunk program's network input (``ShapeDtypeStruct``s sharded by ``sh``)."""
        if not self.width:
            return jax.ShapeDtypeStruct((chunk,), jnp.int32, sharding=sh)
        return (jax.ShapeDtypeStruct((chunk, self.width, *self.key_shape), jnp.uint32, sharding=sh),
                jax.ShapeDtypeStruct((chunk, self.width, len(self.names)), jnp.float32, sharding=sh))  # fmt: skip

    def host(self, ids: Sequence, root: jax.Array):
        """The network input of ``ids`` (seeds or lineages) as host arrays."""
        if not self.width:
            return np.asarray(ids, np.int32)
        return lineage.host_inputs(root, ids, self.breeding, self.names, self.width)

    def theta(self, pert: Perturbation, params, root, net, hooks: Hooks = NO_HOOKS):
        """Network ``net``'s weights: ``pert`` with seed key ``fold_in(root, net)``, or
        the lineage's eq. (2) (:func:`neural_art.lineage.network_from`)."""
        if not self.width:
            return pert.apply(params, jax.random.fold_in(root, net), hooks=hooks)
        keys = jax.random.wrap_key_data(net[0], impl=jax.random.key_impl(root))
        return lineage.network_from(params, keys, net[1], alpha=pert.alpha, alphas=dict(pert.alphas),
                                    where=pert.selection(params))  # fmt: skip


SEEDS = Networks()
LINEAGE_TYPES = (lineage.Root, lineage.Child, lineage.Cross)


def networks(seeds: Sequence, params, pert: Perturbation, breeding: lineage.Breeding,
             root: jax.Array) -> tuple[list, Networks]:  # fmt: skip
    """``(checked seeds, SEEDS)`` for plain seeds (:func:`check_seeds`), or, if any
    is a lineage (an object or a string), ``(lineages, the Networks of the widest one)``."""
    seeds = list(seeds)
    if not any(isinstance(s, (str, *LINEAGE_TYPES)) for s in seeds):
        return check_seeds(seeds), SEEDS
    lins = [s if isinstance(s, LINEAGE_TYPES) else lineage.parse(s) for s in seeds]
    if pert.mode != "multiplicative" or pert.effective:
        raise UserError("lineages are eq. (2) networks: they need mode multiplicative without effective")
    names = tuple(block_names(params))
    width = max(len(lineage.terms(lin, breeding, names)) for lin in lins)
    return lins, Networks(width, breeding, names, tuple(jnp.shape(jax.random.key_data(root))))


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """``seeds`` as a list of ints (order and repeats kept), before any compute: the
    checks of ``--seeds`` (:func:`neural_art.ranges.parse_ranges`: none, a non-integer,
    one outside ``[0, 2**31)`` or too many raise ``ValueError``)."""
    seeds = list(seeds)
    parse_ranges(seeds, what="seed")
    return [int(s) for s in seeds]


def split(todo) -> tuple[list[int], list[str]]:
    """Seeds (the seed program) and lineages (the lineage program) of ``todo``."""
    return [s for s in todo if isinstance(s, int)], [s for s in todo if not isinstance(s, int)]

