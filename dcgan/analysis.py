"""The seed's analyses of a trained DCGAN as labelled PNGs (library: :mod:`dcgan.figures`).

    python -m dcgan.analysis --what=all --out_dir=out/dcgan-analysis   # embedded model

``--what``: interp, slerp (Fig. 4), arith (Fig. 5), deconv, guided (Fig. 6) or all.
"""

from __future__ import annotations

from absl import flags, logging

from dcgan import cli_checks
from dcgan.figures import ALL, CONCEPTS
from neural_art import cli

_OUT_DIR = cli.define_out_dir(None, "Output directory for the PNGs (created).")
_WEIGHTS = cli.define_weights(None, "DCGAN weights (default: the embedded model, 'embedded').")
_WHAT = flags.DEFINE_list("what", ["all"], f"Analyses to run: all or some of {','.join(ALL)}.")
_CONCEPT = flags.DEFINE_enum(
    "concept", "colorfulness", list(CONCEPTS), "Concept scoring the vector-arithmetic exemplars."
)
_SEED = cli.define_seed(0, "Latent seed.")


def main(argv):
    del argv
    out_dir = cli.check_out_dir(_OUT_DIR.value)
    bad = sorted(set(_WHAT.value) - set(ALL) - {"all"})
    if bad:
        raise cli.UsageError(f"--what: unknown analyses {bad} (all, {', '.join(ALL)})")
    cli_checks.weights(_WEIGHTS.value)
    logging.set_verbosity(logging.WARNING)
    from dcgan.figures import run_all

    for k, p in run_all(out_dir, weights=_WEIGHTS.value, what=_WHAT.value, seed=_SEED.value,
                        concept=_CONCEPT.value).items():  # fmt: skip
        print(f"{k}: {p}")


def run() -> None:
    cli.run(main)


if __name__ == "__main__":
    run()
