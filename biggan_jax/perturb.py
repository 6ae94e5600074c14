"""BigGAN's extras to the shared perturbations (:mod:`neural_art.perturb`):
spectral normalisation, and :class:`Perturbation`, the description of what
each network of a sweep gets.

BigGAN's convolutions and linears are spectrally normalised: the weight used is
``W_orig / σ`` with ``σ = uᵀ W_orig v`` from stored power-iteration vectors
(``spectral`` collection). Eq. (2) of Janik (arXiv:2109.08103) perturbs
``W_orig`` as the reference's parameters are; :func:`multiplicative` with
``effective=True`` instead perturbs the *normalised* weight by exactly
``(1 + αε)``. Eq. (3) replaces kernels wholesale, so the sweep passes
:func:`rederive_spectral` as :func:`neural_art.perturb.replace_block`'s model
hook: it re-derives their power-iteration vectors.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from biggan_jax.bn import MODES as BN_MODES
from biggan_jax.layers import power_iteration, sn_sigma
from neural_art import blocks, lineage
from neural_art import perturb as core
from neural_art.errors import UserError
from neural_art.perturb import Where, block_names, match, trainable

MODES = ("multiplicative", "replace")
SN_ITERS = 10  # power iterations re-deriving a replaced kernel's spectral-norm vectors


def multiplicative(params, key: jax.Array, *, alpha=0.35, where: Where | None = None,
                   effective: bool = False):
    """Eq. (2) (:func:`neural_art.perturb.multiplicative`). With ``effective`` the
    normalised weight W_orig/σ is perturbed by exactly (1 + αε): ``u`` is rescaled so
    that σ keeps its unperturbed value. Default ``False``: each layer's σ is
    recomputed from the perturbed weight, so its overall scale moves by σ/σ'."""
    new = core.multiplicative(params, key, alpha=alpha, where=where)
    return _keep_sigma(params, new) if effective else new


def _with_spectral(params, fn):
    """Returns ``params`` with spectral[...] = fn(module_path, kernel, u, v) -> (u, v)."""

    def walk(spec, par, prefix):
        if "u" in spec:
            u, v = fn(prefix, par["kernel"], spec["u"], spec["v"])
            return {**spec, "u": u, "v": v}
        return {k: walk(spec[k], par[k], (*prefix, k)) for k in spec}

    return {**params, "spectral": walk(params["spectral"], params["params"], ())}


def _keep_sigma(old, new):
    def fn(prefix, kernel, u, v):
        k0 = old["params"]
        for p in prefix:
            k0 = k0[p]
        s0 = sn_sigma(k0["kernel"], u, v)
        s1 = sn_sigma(kernel, u, v)
        return u * (s0 / s1), v

    return _with_spectral(new, fn)


def rederive_spectral(params, where: Where | None = None, *, n_iter: int = SN_ITERS,
                      eps: float = 1e-12):  # fmt: skip
    """Re-runs the spectral-norm power iteration (from the stored ``u``) for the
    kernels selected by ``where`` (default: all), so σ estimates the new
    kernels' top singular value rather than the old vectors' meaningless
    projection of it. The eq.-(3) hook of :func:`neural_art.perturb.replace`:
    ``replace_block(params, key, "B2", after=rederive_spectral)``. A tree without
    a ``spectral`` collection is returned as is."""
    if not (isinstance(params, dict) and "spectral" in params):
        return params

    def fn(prefix, kernel, u, v):
        path = "/".join(("params", *prefix, "kernel"))
        if where is not None and not where(path, kernel):
            return u, v
        return power_iteration(kernel, u, n_iter=n_iter, eps=eps)

    return _with_spectral(params, fn)




@dataclasses.dataclass(frozen=True)
class Perturbation:
    """Which random modification each seed's network gets.

    Attributes:
      mode: ``"multiplicative"`` (eq. 2) or ``"replace"`` (eq. 3).
      alpha: eq. (2)'s scale (paper: 0.35); must be >= 0.
      block: eq. (3)'s block, ``B1``..``B13`` (paper: ``B2``).
      effective: eq. (2) on the normalised weights (see :func:`multiplicative`).
      include: extra glob patterns added to eq. (2)'s selection, e.g.
        ``("batch_stats/*",)`` to perturb the standing statistics too.
      alphas: eq. (2) α per block, ``(("B1", 0.0), ("B5", 0.2), ...)``; unlisted
        blocks use ``alpha`` (:func:`neural_art.blocks.multiplicative`).
      bn: ``"stored"`` standing statistics or ``"recompute"`` them per perturbed
        network (:func:`biggan_jax.bn.with_bn`, on the sweep's ``bn_batch``).
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
        if not (
            isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and self.alpha >= 0
        ):
            raise UserError(f"alpha must be a finite number >= 0, got {self.alpha!r}")

    def selection(self, params) -> Where | None:
        """Eq. (2)'s selection: the trainable leaves plus ``include`` (None: the default)."""
        if not self.include:
            return None
        base, extra = trainable(params), match(*self.include)
        return lambda p, x: base(p, x) or extra(p, x)

    def apply(self, params, key: jax.Array):
        """θ = this perturbation of ``params`` with ``key`` (pure, jit/vmap friendly)."""
        if self.mode == "replace":
            return core.replace_block(params, key, self.block, after=rederive_spectral)
        if self.alphas:
            return blocks.multiplicative(params, key, dict(self.alphas), alpha=self.alpha,
                                         where=self.selection(params))  # fmt: skip
        return multiplicative(params, key, alpha=self.alpha, where=self.selection(params),
                              effective=self.effective)  # fmt: skip


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

    def theta(self, pert: Perturbation, params, root, net):
        """Network ``net``'s weights: ``pert`` with seed key ``fold_in(root, net)``, or
        the lineage's eq. (2) (:func:`neural_art.lineage.network_from`)."""
        if not self.width:
            return pert.apply(params, jax.random.fold_in(root, net))
        keys = jax.random.wrap_key_data(net[0], impl=jax.random.key_impl(root))
        return lineage.network_from(params, keys, net[1], alpha=pert.alpha, alphas=dict(pert.alphas),
                                    where=pert.selection(params))  # fmt: skip


SEEDS = Networks()


def networks(seeds: Sequence, params, pert: Perturbation, breeding: lineage.Breeding,
             root: jax.Array) -> tuple[list | None, Networks]:  # fmt: skip
    """``(None, SEEDS)`` for plain seeds, or, if any is a lineage (an object or a
    string), ``(lineages, the Networks of the widest one)``."""
    seeds = list(seeds)
    if not any(isinstance(s, (str, *LINEAGE_TYPES)) for s in seeds):
        return None, SEEDS
    lins = [s if isinstance(s, LINEAGE_TYPES) else lineage.parse(s) for s in seeds]
    if pert.mode != "multiplicative" or pert.effective:
        raise UserError("lineages are eq. (2) networks: they need mode multiplicative without effective")
    names = tuple(block_names(params))
    width = max(len(lineage.terms(lin, breeding, names)) for lin in lins)
    return lins, Networks(width, breeding, names, tuple(jnp.shape(jax.random.key_data(root))))


LINEAGE_TYPES = (lineage.Root, lineage.Child, lineage.Cross)
