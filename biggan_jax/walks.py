"""``python -m biggan_jax --mode=walk``: weight-space walks (issue 13, :mod:`neural_art.walk`).

For each seed k, frames at θ(t) = θ*·(1 + t·α_b·ε_k), t = 0..1 (frame 0 is θ*, the
last frame seed k's eq.-(2) network with the sweep's key ``fold_in(key(root_seed), k)``);
for each pair a:b (seeds or lineages, ``--walk_between=17.4:203``), θ*·(1 + α_b·ε(t))
with ε(t) the slerp of the two end points' noise (a lineage's bred with ``--beta`` /
``--cross_by`` as ``--mode=breed`` breeds it): frame 0 is a's sweep network, the last b's.
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
from biggan_jax.model import param_shapes
from biggan_jax.sharded import inputs
from neural_art import capacity, lineage, perturb, walk
from neural_art.curate import Scorer, write_walks
from neural_art.errors import UserError
from neural_art.sweep.outputs import check_out_dir


@dataclasses.dataclass(frozen=True)
class WalkJob:
    """``sweep``: the sweep's settings (its seeds: one walk each); ``between``: pairs (a, b)
    of seeds or lineage strings; ``breeding``: how a lineage end point is bred."""

    sweep: experiment.SweepJob
    frames: int = 16
    between: tuple[tuple[int | str, int | str], ...] = ()
    breeding: lineage.Breeding = lineage.Breeding()


def renderer(sj: experiment.SweepJob, cfg, ids, rows: int | None = None, *,
             breeding: lineage.Breeding | None = None, width: int = 2):  # fmt: skip
    """``render(params, walk, root, ts) -> [F, L, H, W, 3]``: the sweep's network at each
    frame (per-block α, BN mode, precision) on the sweep's latents (``rows``: that many
    zero rows instead, for measuring the program); ``breeding``, ``width``: of
    :func:`neural_art.walk.renderer`."""
    if rows is None:
        z, y = experiment.latents(sj, cfg, ids)
    else:
        z, y = jnp.zeros((rows, cfg.z_dim), jnp.float32), jnp.zeros((rows, cfg.num_classes), jnp.float32)
    pert = sj.perturbation
    bn = experiment.bn_latents(sj, cfg, ids) if pert.bn == "recompute" else None
    gen, rows_in, consts = inputs(cfg, z, y, sj.truncation, perturbation=pert, dtype=sj.precision,
                                  hf_compat=sj.hf_compat, bn_batch=bn)  # fmt: skip

    def net(theta):  # the sweep engine's per-network body (neural_art.sweep.engine)
        return gen.generate(gen.prepare(theta, consts), rows_in, consts)

    return walk.renderer(net, alpha=pert.alpha, alphas=dict(pert.alphas), breeding=breeding,
                         width=width)  # fmt: skip


def run(job: WalkJob, *, checked: tuple | None = None) -> dict:
    """Writes every walk; returns the walk manifest (also ``walks.json``). ``checked``:
    :func:`biggan_jax.experiment.validate`'s result where the caller has it."""
    sj = job.sweep
    ids, cfg = checked or experiment.validate(sj)
    walks = walk.plan(sj.seeds, job.between)
    if not walks:
        raise UserError("no walks: give --seeds and/or --walk_between")
    known = cfg is not None  # --frames / --latents past the device's memory: refused before loading
    if known:
        check_size(job, cfg, param_shapes(cfg), ids)
    cfg, params = hub.load(sj.weights)
    if not known:
        check_size(job, cfg, params, ids)
    width = walk.width(walks, params, job.breeding)  # the draws of the widest walk: one program
    render = renderer(sj, cfg, ids, breeding=job.breeding, width=width)
    root, ts = jax.random.key(sj.root_seed), walk.frames(job.frames)
    # θ*'s images (the scores' reference): frame 0 of a walk toward a seed (t = 0 is θ*, with
    # the frames' BN); the first walk's frames are kept for writing when it is that walk.
    first = walks[0] if walks[0].b is None else walk.Walk(0)
    kept = {first: np.asarray(render(params, first, root, ts))}
    reference = kept[first][0]
    if first not in walks:
        kept.clear()
    frames = lambda w: kept.pop(w) if w in kept else np.asarray(render(params, w, root, ts))
    settings = {**experiment.settings(sj, ids), **walk.breeding_settings(walks, job.breeding)}
    return write_walks(check_out_dir(sj.out_dir), walks, frames, ts=ts, reference=reference,
                       scorer=Scorer(sj.score_with, sj.score_weights), settings=settings,
                       title=f"BigGAN walks {sj.weights}", enabled=sj.gallery,
                       command=lambda w: walk.command(sj.command, w, sj.out_dir))  # fmt: skip


PLAN_IMAGES = 256  # frames x rows up to which a walk is not planned (the ordinary path compiles nothing more)
FRAMES_POINT = 2  # frames the walk program is measured at
ROWS_POINTS = (8, 16)  # rows it is measured at when the rows are many (neural_art.sweep.engine.ROWS_POINTS)


@dataclasses.dataclass(frozen=True)
class WalkFit:
    """Peak bytes of a walk's program: ``base + frames · (per_frame + rows · per_image)``."""

    base: float
    per_frame: float
    per_image: float

    def peak(self, frames: int, rows: int) -> float:
        return self.base + frames * (self.per_frame + rows * self.per_image)

    def frames_fit(self, rows: int) -> capacity.Fit:
        return capacity.Fit(self.base, self.per_frame + rows * self.per_image)

    def rows_fit(self, frames: int) -> capacity.Fit:
        return capacity.Fit(self.base + frames * self.per_frame, frames * self.per_image)


def walk_fit(sj: experiment.SweepJob, cfg, params, ids, rows: int, width: int = 2) -> WalkFit:
    """The walk program's :class:`WalkFit` (abstract weights: nothing of the walk's
    size is built or compiled). Every value of the program but its arguments (the
    weights) carries the frame axis (it is vmapped over the frames), so one compile at
    ``FRAMES_POINT`` frames gives ``base`` (the arguments) and the cost per frame
    (the rest, over-counting the few values shared by all frames: a safe side). At
    most ``ROWS_POINTS[-1]`` rows it is compiled at the job's rows, else at
    ``ROWS_POINTS`` rows for the cost per frame and row (two compiles). ``width``: the
    draws the walks combine (:func:`neural_art.walk.width`; each is a weights-sized draw)."""
    p_abs = jax.tree.map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), params)
    key, f = jax.random.key(0), FRAMES_POINT

    def measure(r: int) -> tuple[int, int]:
        coefs = jax.ShapeDtypeStruct((f, width, len(perturb.block_names(p_abs))), jnp.float32)
        prog = renderer(sj, cfg, ids, rows=r, width=width).program
        compiled = prog.lower(p_abs, jax.random.split(key, width), coefs).compile()
        return capacity.peak_bytes(compiled), compiled.memory_analysis().argument_size_in_bytes

    r1 = rows if rows <= ROWS_POINTS[-1] else ROWS_POINTS[0]
    p1, base = measure(r1)
    per_frame = max(0.0, (p1 - base) / f)
    if rows <= ROWS_POINTS[-1]:  # the job's rows: the cost per frame at those rows is all it needs
        return WalkFit(base, per_frame, 0.0)
    r2 = ROWS_POINTS[1]
    per_image = max(0.0, (measure(r2)[0] - p1) / (f * (r2 - r1)))
    return WalkFit(base, max(0.0, per_frame - r1 * per_image), per_image)


def check_size(job: WalkJob, cfg, params, ids) -> None:
    """Refuses ``--latents`` or ``--frames`` (:class:`neural_art.capacity.TooLarge`) when
    one walk's program (all frames at once) cannot fit the device
    (:func:`neural_art.capacity.hard_limit`), from :func:`walk_fit`. Up to
    ``PLAN_IMAGES`` frames x rows nothing is compiled here."""
    sj, n = job.sweep, len(ids)
    rows = n * sj.latents
    if job.frames * rows <= PLAN_IMAGES:
        return
    width = walk.width(walk.plan(sj.seeds, job.between), params, job.breeding)
    fit = walk_fit(sj, cfg, params, ids, rows, width)
    limit, where = capacity.hard_limit(jax.devices()[0])
    need, usable = fit.peak(job.frames, rows), int(limit * capacity.HEADROOM)  # extrapolated: a margin
    if need <= usable:
        return
    what = f"{job.frames} frames x {rows} rows ({n} classes x {sj.latents} latents)"
    share = capacity.HEADROOM
    if fit.peak(FRAMES_POINT, rows) > usable and fit.per_image > 0:  # too many rows for the fewest frames
        largest = fit.rows_fit(job.frames).largest(usable) // n or fit.rows_fit(FRAMES_POINT).largest(usable) // n
        raise capacity.TooLarge("latents", sj.latents, largest, need, limit, where, what, share=share)
    raise capacity.TooLarge("frames", job.frames, fit.frames_fit(rows).largest(usable), need, limit, where, what,
                            share=share)  # fmt: skip
