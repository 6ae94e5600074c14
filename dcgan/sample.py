"""Sample grid from a DCGAN (default: the embedded model shipped in dcgan/assets/embedded).

python -m dcgan.sample --out=out/dcgan_samples.png [--n=64 --seed=0 --weights=DIR]
"""

from __future__ import annotations

import jax
from absl import app, flags

from dcgan import checkpoints
from dcgan.model import LATENT_DISTS, generate_fn, sample_latents


def sample_grid(out, *, weights=None, n: int = 64, seed: int = 0, latent_dist: str = "normal"):
    """Writes an ``n``-image grid from G (inference-mode BN); returns the path."""
    from neural_art.images import save_grid

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    cfg, g, _, meta = checkpoints.load(weights)
    z = sample_latents(jax.random.key(seed), n, cfg.nz, latent_dist)
    imgs = generate_fn(cfg)(g, z)
    return save_grid(
        out, imgs, title=f"DCGAN samples ({meta.get('trained_steps', '?')} steps), seed {seed}"
    )


FLAGS = flags.FLAGS


def define_flags() -> None:
    """The CLI's flags (defined on demand, so importing this module defines none)."""
    flags.DEFINE_string("out", "dcgan_samples.png", "Output PNG (parent directories are created).")
    flags.DEFINE_string(
        "weights", None, "Exported weights directory (default: the embedded model in dcgan/assets)."
    )
    flags.DEFINE_integer("n", 64, "Number of samples.", lower_bound=1)
    flags.DEFINE_integer("seed", 0, "Latent seed.")
    flags.DEFINE_enum("latent_dist", "normal", list(LATENT_DISTS), "Latent distribution.")


def main(argv):
    checkpoints.start_cli(argv, FLAGS.weights)
    print(sample_grid(FLAGS.out, weights=FLAGS.weights, n=FLAGS.n, seed=FLAGS.seed,
                      latent_dist=FLAGS.latent_dist))  # fmt: skip


if __name__ == "__main__":
    define_flags()
    app.run(main)
