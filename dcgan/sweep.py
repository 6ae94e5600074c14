"""Weight-perturbation sweep of a DCGAN generator (Janik's eq. 2, via the project's
one perturbation module :mod:`neural_art.perturb`; library: :mod:`dcgan.grids`).
Runs offline on the embedded model.

    python -m dcgan.sweep --out_dir=out/dcgan-sweep     # seeds 0-7 x 6 latents, alpha 0.35
    python -m dcgan.sweep --out_dir=out/s --seeds=100-103 --alpha=0.2 --weights=DIR

Writes ``<out_dir>/grid.png``: rows = latents, columns = perturbed networks, far
right the unperturbed G; beside it ``images/seed_XXXXXX/z<i>.png``, ``scores.json``
and ``index.html`` (``--nogallery``: no page). ``--mode=walk --frames=N``: one
weight-space walk per seed, and one between the seeds of each ``--walk_between=A:B``
(without ``--seeds``: those only), under ``walks/`` (PNG frames + GIF, ``walks.json``
with per-frame scores, ``index.html``) -- :mod:`neural_art.walk`, as BigGAN's.

    python -m dcgan.sweep --mode=walk --walk_between=3:17 --frames=16 --out_dir=out/dw
"""

from __future__ import annotations

import math
import os
import shlex

from absl import flags, logging

from dcgan import cli_checks
from neural_art import cli, curate, scores, walk
from neural_art.ranges import parse_ranges

MAX_SEEDS = 4096  # one grid page; every seed is one column

_OUT_DIR = cli.define_out_dir(None, "Output directory (grid.png; directories are created).")
_WEIGHTS = cli.define_weights(None, "DCGAN weights (default: the embedded model, 'embedded').")
_SEEDS = cli.define_seeds("0-7", "Perturbation seeds (columns): inclusive ranges, e.g. '0-7,12'.")
_LATENTS = flags.DEFINE_integer("latents", 6, "Number of latents (rows).", lower_bound=1)
_ALPHA = flags.DEFINE_float("alpha", 0.35, "Perturbation scale alpha of Janik's eq. (2), finite, >= 0.")
_SEED = cli.define_seed(0, "Root seed for the latents and the perturbations.")
_MODE = flags.DEFINE_enum("mode", "sweep", ["sweep", "walk"], "sweep (grid + gallery) or weight-space walks.")
_FRAMES = flags.DEFINE_integer("frames", 16, "--mode=walk: frames per walk.", lower_bound=2)
_GALLERY = flags.DEFINE_bool("gallery", True, "Write index.html + thumbnails (scores.json always).")
_WALK_BETWEEN = flags.DEFINE_list("walk_between", [], "--mode=walk: pairs a:b to walk between, each a seed "
                                   "or a lineage (neural_art.lineage, default breeding), e.g. 3:17,17.4:203 "
                                   "(without --seeds: these walks only).")
_SCORE_WITH = flags.DEFINE_string("score_with", "", scores.SCORE_WITH_HELP)
_SCORE_WEIGHTS = flags.DEFINE_string("score_weights", "", scores.SCORE_WEIGHTS_HELP)


def command() -> str:
    """The flags this run was given, without --seeds / --walk_between / --out_dir (regenerate commands)."""
    held = [h for h in _ALL if h.present and h.name not in ("seeds", "walk_between", "out_dir")]
    return shlex.join(["python", "-m", "dcgan.sweep", *(flags.FLAGS[h.name].serialize() for h in held)])


def main(argv):
    del argv
    out_dir = cli.check_out_dir(_OUT_DIR.value)
    try:
        seeds = parse_ranges(_SEEDS.value, what="seed", max_count=MAX_SEEDS)
    except ValueError as e:
        raise cli.UsageError(f"--seeds: {e}") from e
    try:
        pairs = walk.parse_pairs(_WALK_BETWEEN.value, walk_mode=_MODE.value == "walk")
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    if not (math.isfinite(_ALPHA.value) and _ALPHA.value >= 0):
        raise cli.UsageError(f"--alpha={_ALPHA.value}: must be finite and >= 0")
    cli_checks.weights(_WEIGHTS.value)
    curate.check_hook(_SCORE_WITH.value, _SCORE_WEIGHTS.value)  # a factory loads here, once
    logging.set_verbosity(logging.WARNING)
    from dcgan import grids

    common = dict(weights=_WEIGHTS.value, n_latents=_LATENTS.value, alpha=_ALPHA.value, seed=_SEED.value,
                  gallery=_GALLERY.value, score_with=_SCORE_WITH.value, score_weights=_SCORE_WEIGHTS.value,
                  command=command())  # fmt: skip
    if _MODE.value == "walk":
        seeds = () if pairs and not _SEEDS.present else seeds  # --walk_between alone: those walks only
        done = grids.walk_dir(out_dir, seeds=seeds, between=pairs, frames=_FRAMES.value, **common)
        print(f"wrote {len(done['walks'])} walks x {_FRAMES.value} frames to {out_dir}")
        return
    print(grids.sweep_grid(os.path.join(out_dir, "grid.png"), seeds=seeds, **common))


_ALL = [v for k, v in dict(globals()).items() if k.isupper() and isinstance(v, flags.FlagHolder)]


def run() -> None:
    cli.run(main)


if __name__ == "__main__":
    run()
