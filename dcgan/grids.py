"""Sample grids and weight-space walks of a DCGAN generator (the library behind
:mod:`dcgan.sample` and ``python -m dcgan.sweep --mode=walk``; the sweeps themselves
run in the one sweep engine, :mod:`dcgan.perturbed`). G runs in inference mode
(running BN statistics); only the ``params`` collection is perturbed
(:func:`neural_art.perturb.trainable`), not the BN statistics.
"""

from __future__ import annotations

import pathlib
import shlex
from collections.abc import Sequence

import jax
import numpy as np

from dcgan import hub
from dcgan.model import generate, generate_fn, sample_latents
from neural_art import walk
from neural_art.curate import Scorer, write_walks
from neural_art.errors import UserError
from neural_art.images import save_grid


def sample_grid(out, *, weights=None, n: int = 64, seed: int = 0,
                latent_dist: str = "normal") -> pathlib.Path:  # fmt: skip
    """Writes an ``n``-image grid from G (inference-mode BN) to ``out``; returns the path."""
    if n < 1:
        raise UserError(f"n must be >= 1, got {n}")
    cfg, params = hub.load(weights)
    steps = hub.metadata(weights).get("trained_steps", "?")
    z = sample_latents(jax.random.key(seed), n, cfg.nz, latent_dist)
    imgs = generate_fn(cfg)(params["generator"], z)
    return save_grid(out, imgs, title=f"DCGAN samples ({steps} steps), seed {seed}")


def settings(weights, alpha: float, seed: int, n_latents: int) -> dict:
    """A walk's settings (``walks.json``'s and its gallery's)."""
    return {"weights": str(weights or "embedded"), "alpha": alpha, "seed": seed, "latents": n_latents}


def walk_dir(out_dir, *, weights=None, seeds: Sequence[int] = (0,),
             between: Sequence[tuple[int | str, int | str]] = (), n_latents: int = 6, alpha: float = 0.35,
             seed: int = 0, frames: int = 16, gallery: bool = True, score_with: str = "",
             score_weights: str = "", command: str = "", breeding=None, alphas=None) -> dict:  # fmt: skip
    """Weight-space walks (:mod:`neural_art.walk`, one implementation with BigGAN's):
    θ*·(1 + tαε_k), t = 0..1, one per seed (the last frame is seed k's sweep column),
    and θ*·(1 + αε(t)) between the ends of each pair (ε(t): the slerp of their noise),
    all frames of a walk in one vmapped program. A pair's end is a seed or a lineage
    string (``("17.4", 203)``, :func:`neural_art.walk.parse_pairs`), bred with
    ``breeding`` (a :class:`neural_art.lineage.Breeding`, the CLI's ``--beta`` /
    ``--cross_by``; None: its defaults, β 0.3, cross "mix"); frame 0 is the first end's
    network, the last frame the second's. ``alphas``: eq. (2)'s α per block (G's layers,
    ``--alpha_per_block`` / ``--blocks``; the others ``alpha``), as the sweep's. PNG frames + GIF under
    ``<out_dir>/walks/<name>/``, per-frame scores in ``walks.json`` (with the breeding
    when an end is a lineage), ``index.html`` (:func:`neural_art.curate.write_walks`);
    ``command``: the regenerate command without ``--seeds`` / ``--walk_between`` / ``--out_dir``.
    Returns the walk manifest."""
    walks = walk.plan(seeds, between)
    if not walks:
        raise UserError("no walks: give seeds and/or pairs")
    cfg, params = hub.load(weights)
    g = params["generator"]
    z = sample_latents(jax.random.key(seed), n_latents, cfg.nz)
    rgb = lambda x: jax.numpy.repeat(x, 3, -1) if x.shape[-1] == 1 else x
    render = walk.renderer(lambda gp: rgb(generate(cfg, gp, z)), alpha=alpha, alphas=alphas, breeding=breeding,
                           width=walk.width(walks, g, breeding))  # fmt: skip
    root, ts = jax.random.key(seed + 1), walk.frames(frames)
    base = command or shlex.join(["python", "-m", "dcgan.sweep", "--mode=walk", f"--frames={frames}",
                                  f"--latents={n_latents}", f"--alpha={alpha}", f"--seed={seed}"])
    recorded = {**settings(weights, alpha, seed, n_latents), **walk.breeding_settings(walks, breeding),
                **({"alphas": dict(alphas)} if alphas else {})}  # fmt: skip
    return write_walks(out_dir, walks, lambda w: render(g, w, root, ts), ts=ts,
                       reference=np.asarray(rgb(generate_fn(cfg)(g, z))),
                       scorer=Scorer(score_with, score_weights), settings=recorded,
                       title="DCGAN walks", command=lambda w: walk.command(base, w, out_dir), enabled=gallery)  # fmt: skip
