"""``python -m biggan_jax --mode=walk``: weight-space walks (issue 13, :mod:`neural_art.walk`).

For each seed k, frames at θ(t) = θ*·(1 + t·α·ε_k), t = 0..1 (frame 0 is θ*, the
last frame seed k's eq.-(2) network with the sweep's key ``fold_in(key(root_seed), k)``);
for each pair a:b, θ*·(1 + α·ε(t)) with ε(t) on the sphere between the two draws.
All frames of a walk are one compiled, vmapped program. Written under
``<out_dir>/walks/<name>/`` (PNG frames, ``walk.gif``, MP4 when possible) and listed
in ``<out_dir>/index.html`` (one entry per walk, its frames as the images).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from biggan_jax import experiment, hub
from biggan_jax.layers import truncation_stat_selector
from biggan_jax.model import BigGANDeep
from neural_art import gallery, walk
from neural_art.atomic import write_json
from neural_art.curate import write_walk
from neural_art.images import to_uint8


@dataclasses.dataclass(frozen=True)
class WalkJob:
    """``sweep``: the sweep's settings (its seeds: one walk each); ``between``: pairs (a, b)."""

    sweep: experiment.SweepJob
    frames: int = 16
    between: tuple[tuple[int, int], ...] = ()


def frame_images(cfg, params, theta_fn, ts, z, y, sel, dtype) -> np.ndarray:
    """``[F, L, H, W, 3]``: every frame of one walk in one jitted vmap over ``ts``."""
    dt = jnp.dtype(dtype)

    def one(t):
        theta = theta_fn(t)
        theta = {k: (jax.tree.map(lambda x: x.astype(dt), v) if k == "params" else v)
                 for k, v in theta.items()}  # fmt: skip
        return BigGANDeep(cfg, dt).apply(theta, z, y, sel).astype(jnp.float32)

    return np.asarray(jax.jit(jax.vmap(one))(ts))


def run(job: WalkJob) -> dict:
    """Writes every walk; returns the walk manifest (also ``walks.json``)."""
    sj = job.sweep
    ids, _ = experiment.validate(sj)
    cfg, params = hub.load(sj.weights)
    z, y = experiment.latents(sj, cfg, ids)
    sel = tuple(jnp.asarray(x) for x in truncation_stat_selector(sj.truncation, cfg.n_stats,
                                                                  hf_compat=sj.hf_compat))  # fmt: skip
    root, alpha, ts = jax.random.key(sj.root_seed), sj.perturbation.alpha, walk.frames(job.frames)
    todo = [(f"seed_{k:06d}", k, lambda t, k=k: walk.toward(params, jax.random.fold_in(root, k), t, alpha=alpha))
            for k in sj.seeds]  # fmt: skip
    todo += [(f"seed_{a}_to_{b}", f"{a}:{b}", lambda t, a=a, b=b: walk.between(
        params, jax.random.fold_in(root, a), jax.random.fold_in(root, b), t, alpha=alpha))
        for a, b in job.between]  # fmt: skip
    out, nets, done = experiment.check_out_dir(sj.out_dir), [], {}
    seeds = ",".join(map(str, sj.seeds))
    for name, label, fn in todo:
        imgs = frame_images(cfg, params, fn, ts, jnp.asarray(z), jnp.asarray(y), sel, sj.precision)
        files = write_walk(out, name, imgs)
        rel = lambda p: p.relative_to(out).as_posix()
        done[name] = {"label": label, "frames": [rel(p) for p in files["frames"]],
                      **{k: rel(v) for k, v in files.items() if k != "frames"}}  # fmt: skip
        strips = to_uint8(np.concatenate(list(np.moveaxis(imgs, 1, 0)), axis=2))
        nets.append({"seed": label, "thumb": gallery.thumbnail(out, name, [strips[0], strips[-1]]),
                     "images": [done[name]["gif"], *done[name]["frames"]], "scores": {},
                     "command": f"{sj.command} --seeds={seeds} --out_dir={sj.out_dir.rstrip('/')}_walk"})  # fmt: skip
    manifest = {"settings": experiment.settings(sj, ids), "frames": job.frames,
                "t": [float(t) for t in ts], "walks": done}  # fmt: skip
    write_json(out / "walks.json", manifest)
    if sj.gallery:
        gallery.write(out, title=f"BigGAN walks {sj.weights}", settings=manifest["settings"],
                      networks=nets, row_labels=["animation"] + [f"t={float(t):.2f}" for t in ts])  # fmt: skip
    return manifest
