"""BigGAN-deep as the sweep engine's generator (:mod:`neural_art.sweep.engine`):
many perturbed BigGAN-deep networks in one compiled, sharded program (Janik's
Figs. 3 and 4, arXiv:2109.08103, at scale).

:class:`BigGANGenerator` is the engine's :class:`~neural_art.sweep.engine.Generator`:
rows ``(z [L, z_dim], y [L, num_classes])``, constants ``(sel, bn_batch)`` (the
truncation's BN-statistics selector; ``(z_bn, y_bn)`` under ``bn="recompute"``).
:func:`sweep_chunks`, :func:`sweep_plan` and :func:`sweep` take BigGAN's own
arguments (config, latents, classes, truncation) and run the engine, which owns the
strategies, the chunking from the compiled program's memory analysis, the sharding
and the program cache (its module docstring).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from biggan_jax.bn import with_bn
from biggan_jax.configs import BigGANConfig
from biggan_jax.layers import truncation_stat_selector
from biggan_jax.model import BigGANDeep, _cast
from biggan_jax.perturb import HOOKS
from neural_art.errors import UserError
from neural_art.sweep import engine
from neural_art.sweep.engine import STRATEGIES, SweepPlan, default_strategy, parse_seeds, seed_mesh
from neural_art.sweep.networks import MODES, Hooks, Perturbation

__all__ = ["MODES", "STRATEGIES", "BigGANGenerator", "Perturbation", "SweepPlan", "default_strategy",
           "inputs", "parse_seeds", "rows_fit", "seed_mesh", "sweep", "sweep_chunks", "sweep_plan"]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class BigGANGenerator:
    """BigGAN-deep of ``cfg`` computing in ``dtype``, BN statistics ``bn`` (``"stored"``,
    or ``"recompute"``d per network on the constants' ``bn_batch``)."""

    cfg: BigGANConfig
    dtype: str = "float32"
    bn: str = "stored"
    hooks: Hooks = HOOKS

    def generate(self, theta, rows, consts):
        z, y = rows
        dt = jnp.dtype(self.dtype)
        return BigGANDeep(self.cfg, dt).apply(_cast(theta, dt), z, y, consts[0]).astype(jnp.float32)

    def prepare(self, theta, consts):
        if self.bn != "recompute":
            return theta
        sel, (z_bn, y_bn) = consts
        return with_bn("recompute", self.cfg, theta, z_bn, y_bn, sel)


def selector(cfg: BigGANConfig, truncation: float, hf_compat: bool = False) -> tuple:
    """The truncation's BN-statistics selector as arrays."""
    return tuple(jnp.asarray(x) for x in truncation_stat_selector(truncation, cfg.n_stats, hf_compat=hf_compat))


def inputs(cfg: BigGANConfig, z, y, truncation: float, *, perturbation: Perturbation = Perturbation(),
           dtype: str = "float32", hf_compat: bool = False, bn_batch=None) -> tuple:  # fmt: skip
    """``(generator, rows, consts)`` of the engine for BigGAN's arguments: ``z [L, z_dim]``,
    ``y [L, num_classes]``; ``bn_batch`` ``(z_bn, y_bn)`` for ``perturbation.bn == "recompute"``."""
    z, y = jnp.asarray(z, jnp.float32), jnp.asarray(y, jnp.float32)
    if z.ndim != 2 or y.ndim != 2 or z.shape[0] != y.shape[0]:
        raise UserError(f"z [L, {cfg.z_dim}] and y [L, {cfg.num_classes}] must pair up; got {z.shape}, {y.shape}")
    if perturbation.bn == "recompute" and bn_batch is None:
        raise UserError("bn='recompute' needs a bn_batch (z_bn, y_bn)")
    bn = tuple(jnp.asarray(a, jnp.float32) for a in bn_batch) if perturbation.bn == "recompute" else None
    gen = BigGANGenerator(cfg, str(jnp.dtype(dtype)), perturbation.bn)
    return gen, (z, y), (selector(cfg, truncation, hf_compat), bn)


def sweep_chunks(cfg: BigGANConfig, params, seeds, z, y, truncation: float, *, dtype: str = "float32",
                 hf_compat: bool = False, bn_batch=None, perturbation: Perturbation = Perturbation(), **kw):  # fmt: skip
    """Yields ``(seeds, images [n, L, H, W, 3])`` per chunk
    (:func:`neural_art.sweep.engine.sweep_chunks`, whose keywords ``root``, ``chunk_size``,
    ``strategy``, ``group``, ``budget``, ``plan``, ``gather``, ``mesh`` and
    ``breeding`` this takes): seed k's BigGAN network (``fold_in(root, k)``, or a
    lineage) drawing latents ``z [L, z_dim]`` of classes ``y [L, num_classes]`` at
    ``truncation``, computing in ``dtype`` (``"float32"`` or ``"bfloat16"``);
    ``bn_batch``: ``(z_bn, y_bn)`` for ``perturbation.bn == "recompute"``."""
    gen, rows, consts = inputs(cfg, z, y, truncation, perturbation=perturbation, dtype=dtype,
                               hf_compat=hf_compat, bn_batch=bn_batch)  # fmt: skip
    return engine.sweep_chunks(gen, params, seeds, rows, consts, perturbation=perturbation, **kw)


def sweep_plan(cfg: BigGANConfig, params, seeds, z, y, truncation: float, *, dtype: str = "float32",
               hf_compat: bool = False, bn_batch=None, perturbation: Perturbation = Perturbation(), **kw) -> SweepPlan:  # fmt: skip
    """The :class:`SweepPlan` that :func:`sweep_chunks` with the same arguments uses
    (compiles its program, which the sweep then reuses)."""
    gen, rows, consts = inputs(cfg, z, y, truncation, perturbation=perturbation, dtype=dtype,
                               hf_compat=hf_compat, bn_batch=bn_batch)  # fmt: skip
    return engine.sweep_plan(gen, params, seeds, rows, consts, perturbation=perturbation, **kw)


def sweep(cfg: BigGANConfig, params, seeds, z, y, truncation: float, *, dtype: str = "float32",
          hf_compat: bool = False, bn_batch=None, perturbation: Perturbation = Perturbation(), **kw) -> np.ndarray:  # fmt: skip
    """All of :func:`sweep_chunks`' images in seed order: ``[S, L, H, W, 3]``
    float32 in [-1, 1] (single host)."""
    gen, rows, consts = inputs(cfg, z, y, truncation, perturbation=perturbation, dtype=dtype,
                               hf_compat=hf_compat, bn_batch=bn_batch)  # fmt: skip
    return engine.sweep(gen, params, seeds, rows, consts, perturbation=perturbation, **kw)


def rows_fit(cfg: BigGANConfig, pert: Perturbation, dtype: str, mesh, n_seeds: int, params, truncation: float,
             rows: int, *, bn_batch=None, hf_compat: bool = False, **kw):  # fmt: skip
    """Peak bytes per device of the plan's smallest chunk as a function of the rows
    (:func:`neural_art.sweep.engine.rows_fit` for BigGAN of ``cfg``; ``params`` may be
    shapes: nothing of ``rows``' size is built)."""
    z1, y1 = jnp.zeros((1, cfg.z_dim)), jnp.zeros((1, cfg.num_classes))
    gen, one_row, consts = inputs(cfg, z1, y1, truncation, perturbation=pert, dtype=dtype,
                                  hf_compat=hf_compat, bn_batch=bn_batch)  # fmt: skip
    return engine.rows_fit(gen, pert, mesh, n_seeds, params, one_row, consts, rows, **kw)

