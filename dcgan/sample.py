"""Sample grid from a DCGAN (default: the embedded model shipped in dcgan/assets/embedded).

python -m dcgan.sample --out_dir=out/dcgan-samples [--n=64 --seed=0 --weights=SPEC]

Writes ``<out_dir>/samples.png``.
"""

from __future__ import annotations

import os

from absl import flags, logging

from dcgan import cli_checks
from dcgan.model import LATENT_DISTS
from neural_art import cli

_OUT_DIR = cli.define_out_dir(None, "Output directory (samples.png; directories are created).")
_WEIGHTS = cli.define_weights(None, "DCGAN weights (default: the embedded model, 'embedded').")
_N = flags.DEFINE_integer("n", 64, "Number of samples (one grid; at most 4096).", lower_bound=1, upper_bound=4096)
_SEED = cli.define_seed(0, "Latent seed.")
_LATENT_DIST = flags.DEFINE_enum("latent_dist", "normal", list(LATENT_DISTS), "Latent distribution.")


def main(argv):
    del argv
    out_dir = cli.check_out_dir(_OUT_DIR.value)
    cli_checks.weights(_WEIGHTS.value)
    logging.set_verbosity(logging.WARNING)
    from dcgan.grids import sample_grid

    print(sample_grid(os.path.join(out_dir, "samples.png"), weights=_WEIGHTS.value, n=_N.value,
                      seed=_SEED.value, latent_dist=_LATENT_DIST.value))  # fmt: skip


def run() -> None:
    cli.run(main)


if __name__ == "__main__":
    run()
