"""Weight-perturbation sweep of a DCGAN generator (Janik's eq. 2, via the project's
one perturbation module :mod:`biggan_jax.perturb`). Runs offline on the embedded model.

    python -m dcgan.sweep --out=dcgan_sweep.png            # 8 seeds x 6 latents, alpha 0.35

Writes a grid: rows = latents, columns = perturbed networks (seed k's key is
``fold_in(root, k)``), far right the unperturbed G. G runs in inference mode
(running BN statistics); by default only the ``params`` collection is
perturbed (``biggan_jax.perturb.trainable``), not the BN statistics.
"""

from __future__ import annotations

import jax
import numpy as np
from absl import app, flags

from dcgan import checkpoints
from dcgan.model import generate, sample_latents


def sweep(
    cfg, g, *, root: jax.Array, seeds, z: jax.Array, alpha: float = 0.35, where=None
) -> np.ndarray:
    """Images ``[n_latents, len(seeds) + 1, H, W, C]``: perturbed nets, then the unperturbed G."""
    from biggan_jax import perturb

    def one(seed):
        gp = perturb.multiplicative(g, perturb.seed_key(root, seed), alpha=alpha, where=where)
        return generate(cfg, gp, z)

    perturbed = jax.jit(jax.vmap(one))(jax.numpy.asarray(seeds))  # [S, L, H, W, C]
    base = jax.jit(lambda v, z: generate(cfg, v, z))(g, z)[None]
    out = np.concatenate([np.asarray(perturbed), np.asarray(base)])
    return out.transpose(1, 0, 2, 3, 4)


def run(out, *, weights=None, n_seeds: int = 8, n_latents: int = 6, alpha: float = 0.35, seed: int = 0,
        first_seed: int = 0):  # fmt: skip
    from biggan_jax.images import save_grid

    cfg, g, _, meta = checkpoints.load(weights)
    z = sample_latents(jax.random.key(seed), n_latents, cfg.nz)
    seeds = list(range(first_seed, first_seed + n_seeds))
    imgs = sweep(cfg, g, root=jax.random.key(seed + 1), seeds=seeds, z=z, alpha=alpha)
    cols = [f"s{s}" for s in seeds] + ["orig"]
    title = (
        f"DCGAN eq.(2) perturbation, alpha={alpha} ({meta.get('trained_steps', '?')}-step model)"
    )
    return save_grid(
        out, imgs, col_labels=cols, row_labels=[f"z{i}" for i in range(n_latents)], title=title
    )


FLAGS = flags.FLAGS
flags.DEFINE_string("out", "dcgan_sweep.png", "output PNG")
flags.DEFINE_string("weights", None, "exported weights dir (default: the embedded model)")
flags.DEFINE_integer("seeds", 8, "number of perturbed networks (columns)")
flags.DEFINE_integer("first_seed", 0, "first perturbation seed")
flags.DEFINE_integer("latents", 6, "number of latents (rows)")
flags.DEFINE_float("alpha", 0.35, "perturbation scale (Janik eq. 2)")
flags.DEFINE_integer("seed", 0, "root seed for latents and perturbations")


def main(argv):
    del argv
    print(run(FLAGS.out, weights=FLAGS.weights, n_seeds=FLAGS.seeds, n_latents=FLAGS.latents, alpha=FLAGS.alpha,
              seed=FLAGS.seed, first_seed=FLAGS.first_seed))  # fmt: skip


if __name__ == "__main__":
    app.run(main)
