"""Sample grid from a DCGAN (default: the embedded model shipped in dcgan/assets/embedded).

python -m dcgan.sample --out=samples.png [--n=64 --seed=0 --weights=DIR]
"""

from __future__ import annotations

import jax
from absl import app, flags

from dcgan import checkpoints
from dcgan.model import generate, sample_latents


def sample_grid(out, *, weights=None, n: int = 64, seed: int = 0, latent_dist: str = "normal"):
    """Writes an ``n``-image grid from G (inference-mode BN); returns the path."""
    from biggan_jax.images import save_grid

    cfg, g, _, meta = checkpoints.load(weights)
    z = sample_latents(jax.random.key(seed), n, cfg.nz, latent_dist)
    imgs = jax.jit(lambda v, z: generate(cfg, v, z))(g, z)
    return save_grid(
        out, imgs, title=f"DCGAN samples ({meta.get('trained_steps', '?')} steps), seed {seed}"
    )


FLAGS = flags.FLAGS
flags.DEFINE_string("out", "dcgan_samples.png", "output PNG")
flags.DEFINE_string("weights", None, "exported weights dir (default: the embedded model)")
flags.DEFINE_integer("n", 64, "number of samples")
flags.DEFINE_integer("seed", 0, "latent seed")


def main(argv):
    del argv
    print(sample_grid(FLAGS.out, weights=FLAGS.weights, n=FLAGS.n, seed=FLAGS.seed))


if __name__ == "__main__":
    app.run(main)
