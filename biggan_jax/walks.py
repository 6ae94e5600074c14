"""``python -m biggan_jax --mode=walk``: weight-space walks (issue 13, :mod:`neural_art.walk`).

For each seed k, frames at θ(t) = θ*·(1 + t·α_b·ε_k), t = 0..1 (frame 0 is θ*, the
last frame seed k's eq.-(2) network with the sweep's key ``fold_in(key(root_seed), k)``);
for each pair a:b, θ*·(1 + α_b·ε(t)) with ε(t) on the sphere between the two draws.
``α_b`` is the sweep's per-block α (``--alpha_per_block`` / ``--blocks``), and under
``--bn=recompute`` every frame's BN statistics are re-estimated on the sweep's batch
(:func:`biggan_jax.experiment.bn_latents`), so the last frame is the sweep's image of
that seed with the same settings. All frames of a walk are one compiled, vmapped
program, shared by every walk of a kind. Written under ``<out_dir>/walks/<name>/``
(PNG frames, ``walk.gif``, MP4 when possible), ``walks.json`` (settings as in a
sweep's manifest, per-frame scores against θ*, each walk's regenerate command)
and ``<out_dir>/index.html`` (:func:`neural_art.curate.write_walks`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from biggan_jax import experiment, hub
from biggan_jax.bn import with_bn
from biggan_jax.layers import truncation_stat_selector
from biggan_jax.model import BigGANDeep, _cast
from neural_art import walk
from neural_art.curate import Scorer, write_walks
from neural_art.errors import UserError


@dataclasses.dataclass(frozen=True)
class WalkJob:
    """``sweep``: the sweep's settings (its seeds: one walk each); ``between``: pairs (a, b)."""

    sweep: experiment.SweepJob
    frames: int = 16
    between: tuple[tuple[int, int], ...] = ()


def renderer(sj: experiment.SweepJob, cfg, ids):
    """``render(params, walk, root, ts) -> [F, L, H, W, 3]``: the sweep's network at each
    frame (per-block α, BN mode, precision) on the sweep's latents."""
    z, y = (jnp.asarray(a) for a in experiment.latents(sj, cfg, ids))
    sel = tuple(jnp.asarray(x) for x in truncation_stat_selector(sj.truncation, cfg.n_stats,
                                                                  hf_compat=sj.hf_compat))  # fmt: skip
    pert, dt = sj.perturbation, jnp.dtype(sj.precision)
    bn_batch = tuple(jnp.asarray(a) for a in experiment.bn_latents(sj, cfg, ids)) if pert.bn == "recompute" else ()

    def net(theta):  # as biggan_jax.sharded's per-seed body
        theta = with_bn(pert.bn, cfg, theta, *bn_batch, sel) if bn_batch else theta
        return BigGANDeep(cfg, dt).apply(_cast(theta, dt), z, y, sel).astype(jnp.float32)

    return walk.renderer(net, alpha=pert.alpha, alphas=dict(pert.alphas))


def run(job: WalkJob) -> dict:
    """Writes every walk; returns the walk manifest (also ``walks.json``)."""
    sj = job.sweep
    ids, _ = experiment.validate(sj)
    walks = walk.plan(sj.seeds, job.between)
    if not walks:
        raise UserError("no walks: give --seeds and/or --walk_between")
    cfg, params = hub.load(sj.weights)
    render, root, ts = renderer(sj, cfg, ids), jax.random.key(sj.root_seed), walk.frames(job.frames)
    # θ*'s images (the scores' reference): frame 0 of a walk toward a seed (t = 0 is θ*, with
    # the frames' BN); the first walk's frames are kept for writing when it is that walk.
    first = walks[0] if walks[0].b is None else walk.Walk(0)
    kept = {first: np.asarray(render(params, first, root, ts))}
    reference = kept[first][0]
    if first not in walks:
        kept.clear()
    frames = lambda w: kept.pop(w) if w in kept else np.asarray(render(params, w, root, ts))
    return write_walks(experiment.check_out_dir(sj.out_dir), walks, frames, ts=ts, reference=reference,
                       scorer=Scorer(sj.score_with, sj.score_weights), settings=experiment.settings(sj, ids),
                       title=f"BigGAN walks {sj.weights}", enabled=sj.gallery,
                       command=lambda w: walk.command(sj.command, w, sj.out_dir))  # fmt: skip
