"""Sample grids and Janik's eq. (2) weight-perturbation sweeps of a DCGAN
generator (the library behind :mod:`dcgan.sample` and :mod:`dcgan.sweep`).

A sweep grid has rows = latents and columns = perturbed networks (seed k's key
is ``fold_in(root, k)``, so seed k's column is the same whichever other seeds
run beside it), far right the unperturbed G. G runs in inference mode (running
BN statistics); only the ``params`` collection is perturbed
(:func:`neural_art.perturb.trainable`), not the BN statistics.
"""

from __future__ import annotations

import os
import pathlib
import shlex
from collections.abc import Sequence

import jax
import numpy as np

from dcgan import hub
from dcgan.model import generate, generate_fn, sample_latents
from neural_art import perturb, walk
from neural_art.curate import Curator, Scorer, write_walks
from neural_art.errors import UserError
from neural_art.images import save_grid, save_image


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


def sweep(
    cfg, g, *, root: jax.Array, seeds, z: jax.Array, alpha: float = 0.35, where=None
) -> np.ndarray:
    """Images ``[n_latents, len(seeds) + 1, H, W, C]`` in [-1, 1]: one column per
    perturbed net (``perturb.multiplicative`` with key ``seed_key(root, seed)``),
    then the unperturbed G."""

    def one(seed):
        gp = perturb.multiplicative(g, perturb.seed_key(root, seed), alpha=alpha, where=where)
        return generate(cfg, gp, z)

    perturbed = jax.jit(jax.vmap(one))(jax.numpy.asarray(seeds))  # [S, L, H, W, C]
    base = generate_fn(cfg)(g, z)[None]
    out = np.concatenate([np.asarray(perturbed), np.asarray(base)])
    return out.transpose(1, 0, 2, 3, 4)


def sweep_grid(
    out: str | os.PathLike,
    *,
    weights: str | os.PathLike | None = None,
    seeds: Sequence[int] = tuple(range(8)),
    n_latents: int = 6,
    alpha: float = 0.35,
    seed: int = 0,
    gallery: bool = True,
    score_with: str = "",
    score_weights: str = "",
    command: str = "",
) -> pathlib.Path:
    """Sweeps ``seeds`` on ``weights`` (default: the embedded model); writes the
    labelled grid to ``out`` (parent dirs created) and returns its path. Beside it:
    per-seed PNGs ``images/seed_XXXXXX/z<i>.png`` (θ*: ``images/original/``),
    ``scores.json`` and, with ``gallery``, ``index.html`` (:mod:`neural_art.curate`);
    ``command``: the regenerate command without ``--seeds`` / ``--out_dir``;
    ``score_with`` / ``score_weights``: a user score (:class:`neural_art.curate.Scorer`)."""
    seeds = list(seeds)
    if not seeds or n_latents < 1:
        raise UserError(f"need at least one seed and one latent, got {len(seeds)}, {n_latents}")
    if not 0 <= alpha < float("inf"):
        raise UserError(f"alpha must be finite and >= 0, got {alpha}")
    cfg, params = hub.load(weights)
    steps = hub.metadata(weights).get("trained_steps", "?")
    z = sample_latents(jax.random.key(seed), n_latents, cfg.nz)
    imgs = sweep(cfg, params["generator"], root=jax.random.key(seed + 1), seeds=seeds, z=z, alpha=alpha)
    write_networks(pathlib.Path(out).parent, imgs, seeds, gallery=gallery, score_with=score_with,
                   score_weights=score_weights,
                   command=command or shlex.join(["python", "-m", "dcgan.sweep", f"--latents={n_latents}",
                                                  f"--alpha={alpha}", f"--seed={seed}"]),
                   settings=settings(weights, alpha, seed, n_latents))  # fmt: skip
    cols = [f"s{s}" for s in seeds] + ["orig"]
    title = f"DCGAN eq.(2) perturbation, alpha={alpha} ({steps}-step model)"
    return save_grid(
        out, imgs, col_labels=cols, row_labels=[f"z{i}" for i in range(n_latents)], title=title
    )


def settings(weights, alpha: float, seed: int, n_latents: int) -> dict:
    """A sweep's / walk's settings (the gallery's and ``walks.json``'s)."""
    return {"weights": str(weights or "embedded"), "alpha": alpha, "seed": seed, "latents": n_latents}


def write_networks(out_dir: pathlib.Path, imgs: np.ndarray, seeds: Sequence[int], *, gallery: bool,
                   score_with: str, command: str, settings: dict, score_weights: str = "") -> None:  # fmt: skip
    """Per-seed PNGs, ``scores.json`` and ``index.html`` of a sweep's ``imgs``
    ``[L, S + 1, H, W, C]`` (last column θ*)."""
    nets = np.asarray(imgs).transpose(1, 0, 2, 3, 4)
    if nets.shape[-1] == 1:
        nets = np.repeat(nets, 3, axis=-1)
    names = [f"z{i}.png" for i in range(nets.shape[1])]
    files = lambda s: [out_dir / "images" / ("original" if s is None else f"seed_{s:06d}") / n for n in names]
    for s, per in zip([*seeds, None], nets, strict=True):
        for path, im in zip(files(s), per, strict=True):
            save_image(path, im)
    cur = Curator(out_dir, title="DCGAN sweep", settings=settings, row_labels=[n[:-4] for n in names],
                  original=nets[-1], files=files, score_with=score_with, score_weights=score_weights,
                  enabled=gallery,
                  command=lambda s: f"{command} " + shlex.join([f"--seeds={0 if s is None else s}",
                                                                 f"--out_dir={out_dir}_seed{s}"]))  # fmt: skip
    cur.add(list(seeds), nets[:-1])
    cur.write(list(seeds), running=False)


def walk_dir(out_dir, *, weights=None, seeds: Sequence[int] = (0,),
             between: Sequence[tuple[int | str, int | str]] = (), n_latents: int = 6, alpha: float = 0.35,
             seed: int = 0, frames: int = 16, gallery: bool = True, score_with: str = "",
             score_weights: str = "", command: str = "", breeding=None) -> dict:  # fmt: skip
    """Weight-space walks (:mod:`neural_art.walk`, one implementation with BigGAN's):
    θ*·(1 + tαε_k), t = 0..1, one per seed (the last frame is seed k's sweep column),
    and θ*·(1 + αε(t)) between the ends of each pair (ε(t): the slerp of their noise),
    all frames of a walk in one vmapped program. A pair's end is a seed or a lineage
    string (``("17.4", 203)``, :func:`neural_art.walk.parse_pairs`), bred with
    ``breeding`` (a :class:`neural_art.lineage.Breeding`; None: its defaults, β 0.3,
    cross "mix" -- DCGAN's CLI has no ``--beta`` yet); frame 0 is the first end's
    network, the last frame the second's. PNG frames + GIF under
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
    render = walk.renderer(lambda gp: rgb(generate(cfg, gp, z)), alpha=alpha, breeding=breeding,
                           width=walk.width(walks, g, breeding))  # fmt: skip
    root, ts = jax.random.key(seed + 1), walk.frames(frames)
    base = command or shlex.join(["python", "-m", "dcgan.sweep", "--mode=walk", f"--frames={frames}",
                                  f"--latents={n_latents}", f"--alpha={alpha}", f"--seed={seed}"])
    recorded = {**settings(weights, alpha, seed, n_latents), **walk.breeding_settings(walks, breeding)}
    return write_walks(out_dir, walks, lambda w: render(g, w, root, ts), ts=ts,
                       reference=np.asarray(rgb(generate_fn(cfg)(g, z))),
                       scorer=Scorer(score_with, score_weights), settings=recorded,
                       title="DCGAN walks", command=lambda w: walk.command(base, w, out_dir), enabled=gallery)  # fmt: skip
