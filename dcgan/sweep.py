"""Weight-perturbation sweep of a DCGAN generator (Janik's eq. 2, via the project's
one perturbation module :mod:`neural_art.perturb`). Runs offline on the embedded model.

    python -m dcgan.sweep --out=out/dcgan_sweep.png        # 8 seeds x 6 latents, alpha 0.35
    python -m dcgan.sweep --out_dir=out/dcgan-sweep        # same, as out/dcgan-sweep/grid.png
    python -m dcgan.sweep --out=s.png --first_seed=100 --seeds=4 --alpha=0.2 --weights=DIR

Writes a grid: rows = latents, columns = perturbed networks (seed k's key is
``fold_in(root, k)``, so seed k's column is the same whichever other seeds run
beside it), far right the unperturbed G. G runs in inference mode (running BN
statistics); only the ``params`` collection is perturbed
(:func:`neural_art.perturb.trainable`), not the BN statistics.
"""

from __future__ import annotations

import os
import pathlib

import jax
import numpy as np
from absl import app, flags

from dcgan import checkpoints
from dcgan.model import generate, generate_fn, sample_latents


def sweep(
    cfg, g, *, root: jax.Array, seeds, z: jax.Array, alpha: float = 0.35, where=None
) -> np.ndarray:
    """Images ``[n_latents, len(seeds) + 1, H, W, C]`` in [-1, 1]: one column per
    perturbed net (``perturb.multiplicative`` with key ``seed_key(root, seed)``),
    then the unperturbed G."""
    from neural_art import perturb

    def one(seed):
        gp = perturb.multiplicative(g, perturb.seed_key(root, seed), alpha=alpha, where=where)
        return generate(cfg, gp, z)

    perturbed = jax.jit(jax.vmap(one))(jax.numpy.asarray(seeds))  # [S, L, H, W, C]
    base = generate_fn(cfg)(g, z)[None]
    out = np.concatenate([np.asarray(perturbed), np.asarray(base)])
    return out.transpose(1, 0, 2, 3, 4)


def run(
    out: str | os.PathLike,
    *,
    weights: str | os.PathLike | None = None,
    n_seeds: int = 8,
    n_latents: int = 6,
    alpha: float = 0.35,
    seed: int = 0,
    first_seed: int = 0,
) -> pathlib.Path:
    """Sweeps seeds ``first_seed .. first_seed + n_seeds - 1`` on ``weights`` (default:
    the embedded model); writes the labelled grid to ``out`` (parent dirs created)."""
    from neural_art.images import save_grid

    if n_seeds < 1 or n_latents < 1:
        raise ValueError(f"need at least one seed and one latent, got {n_seeds}, {n_latents}")
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
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


def define_flags() -> None:
    """The CLI's flags (defined on demand, so importing this module defines none)."""
    flags.DEFINE_string("out", "dcgan_sweep.png", "Output PNG (parent directories are created).")
    flags.DEFINE_string(
        "out_dir", None, "Alternative to --out: write <out_dir>/grid.png (directories created)."
    )
    flags.DEFINE_string(
        "weights", None, "Exported weights directory (default: the embedded model in dcgan/assets)."
    )
    flags.DEFINE_integer("seeds", 8, "Number of perturbed networks (columns).", lower_bound=1)
    flags.DEFINE_integer("first_seed", 0, "First perturbation seed.", lower_bound=0)
    flags.DEFINE_integer("latents", 6, "Number of latents (rows).", lower_bound=1)
    flags.DEFINE_float(
        "alpha", 0.35, "Perturbation scale alpha of Janik's eq. (2).", lower_bound=0.0
    )
    flags.DEFINE_integer("seed", 0, "Root seed for the latents and the perturbations.")


def main(argv):
    checkpoints.start_cli(argv, FLAGS.weights)
    out = FLAGS.out
    if FLAGS.out_dir is not None:
        if FLAGS["out"].present:
            raise app.UsageError("give --out or --out_dir, not both")
        out = os.path.join(FLAGS.out_dir, "grid.png")
    if not out.lower().endswith(".png"):
        raise app.UsageError(f"--out={out}: expected a .png path")
    print(run(out, weights=FLAGS.weights, n_seeds=FLAGS.seeds, n_latents=FLAGS.latents,
              alpha=FLAGS.alpha, seed=FLAGS.seed, first_seed=FLAGS.first_seed))  # fmt: skip


if __name__ == "__main__":
    define_flags()
    app.run(main)
