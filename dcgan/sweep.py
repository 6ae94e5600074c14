"""Weight-perturbation sweeps of a DCGAN generator (Janik's eq. 2, arXiv:2109.08103)
through the one sweep engine every generator shares (:mod:`neural_art.sweep`;
DCGAN's part: :mod:`dcgan.perturbed`). Runs offline on the embedded model.

    python -m dcgan.sweep --out_dir=out/dcgan-sweep     # seeds 0-7 x 6 latents, alpha 0.35
    python -m dcgan.sweep --out_dir=out/s --seeds=100-103 --alpha=0.2 --weights=DIR
    python -m dcgan.sweep --out_dir=out/s --seeds=0-299 --blocks=convt3-convt4   # last layers only
    python -m dcgan.sweep --out_dir=out/s --mode=breed --parents=3,5.1 --children=8 --beta=0.3

Writes ``<out_dir>/grid.png`` (rows = latents, columns = networks, far right the
unperturbed G; ``grid_001.png``... past ``--grid_columns``), every image under
``images/seed_000007/z<i>.png`` (a lineage: ``images/net_3.1/``), ``manifest.json``
(re-running the same command resumes: finished networks are kept), ``scores.json`` and
``index.html`` (``--nogallery``: no page), all rewritten per chunk.
``--mode=breed`` writes children of ``--parents`` / ``--cross`` into the same
directory (:mod:`neural_art.lineage`); ``--seeds`` takes lineages beside ranges.
``--mode=walk --frames=N``: one weight-space walk per seed, and one between the ends
of each ``--walk_between=A:B`` (seeds or lineages; without ``--seeds``: those only),
under ``walks/`` (PNG frames + GIF, ``walks.json`` with per-frame scores,
``index.html``) -- :mod:`neural_art.walk`, as BigGAN's.

    python -m dcgan.sweep --mode=walk --walk_between=3:17 --frames=16 --out_dir=out/dw
"""

from __future__ import annotations

import os
import shlex

from absl import flags, logging

from dcgan import cli_checks, grids, hub, perturbed
from neural_art import capacity, cli, curate, perturb, sweep
from neural_art.sweep import cli_flags

_OUT_DIR = cli.define_out_dir(None, "Output directory (grid.png; directories are created; resumable).")
_WEIGHTS = cli.define_weights(None, "DCGAN weights (default: the embedded model, 'embedded').")
_SWEEP = cli_flags.define(seeds="0-7", blocks_example="convt3-convt4",
                          per_block_example="convt0:0,convt1-convt4:0.35")  # fmt: skip
_LATENTS = flags.DEFINE_integer("latents", 6, "Number of latents (rows).", lower_bound=1)
_SEED = cli.define_seed(0, "Root seed: latents from key(seed), network k from fold_in(key(seed + 1), k).")
_MODE = flags.DEFINE_enum("mode", "sweep", ["sweep", "breed", "walk"], "sweep (eq. 2 networks: grid + gallery), "
                          "breed (--children of --parents / --cross) or weight-space walks.")
_FRAMES = flags.DEFINE_integer("frames", 16, "--mode=walk: frames per walk.", lower_bound=2)


def command() -> str:
    """The flags this run was given, without the networks / --out_dir (regenerate commands)."""
    held = [h for h in _ALL if h.present and h.name not in cli_flags.SKIP_IN_COMMAND
            and not (h.name == "mode" and _MODE.value == "breed")]  # fmt: skip
    return shlex.join(["python", "-m", "dcgan.sweep", *(flags.FLAGS[h.name].serialize() for h in held)])


def main(argv):
    del argv
    cli.check_out_dir(_OUT_DIR.value)
    nets, breeding = _SWEEP.check(breed=_MODE.value == "breed")
    pairs = _SWEEP.walk_pairs(_MODE.value == "walk")
    cli_checks.weights(_WEIGHTS.value)
    if _SWEEP.multihost.value:  # before anything starts a JAX backend
        sweep.multihost.initialize()
    _, params = hub.load(_WEIGHTS.value)  # small: its block names are checked before any compute
    alphas = _SWEEP.block_alphas(perturb.block_names(params["generator"]))
    curate.check_hook(_SWEEP.score_with.value, _SWEEP.score_weights.value)  # a factory loads here, once
    logging.set_verbosity(logging.WARNING)
    pert = sweep.Perturbation(alpha=_SWEEP.base_alpha(), alphas=alphas)
    lineages = any(isinstance(s, str) for s in nets) or any(isinstance(n, str) for p in pairs for n in p)
    if _MODE.value == "walk":
        return walk(nets, pairs, pert, breeding if lineages else None)
    job = sweep.Job(out_dir=_OUT_DIR.value, seeds=nets, perturbation=pert,
                    root_seed=perturbed.perturbation_root(_SEED.value),
                    breeding=breeding if lineages else None, **_SWEEP.job_kwargs())  # fmt: skip
    model = perturbed.model(_WEIGHTS.value, seed=_SEED.value, latents=_LATENTS.value, command=command())
    try:
        manifest = sweep.run(job, model)
    except capacity.TooLarge as e:
        raise cli.UsageError(str(e)) from None
    if sweep.multihost.is_main():
        print(f"wrote {len(manifest['seeds_done'])} networks x {len(manifest['rows'])} images to {job.out_dir}")
        print(os.path.join(_OUT_DIR.value, "grid.png"))


def walk(nets, pairs, pert, breeding) -> None:
    """``--mode=walk``: :func:`dcgan.grids.walk_dir`."""
    seeds = () if pairs and not _SWEEP.seeds.present else nets  # --walk_between alone: those walks only
    done = grids.walk_dir(_OUT_DIR.value, weights=_WEIGHTS.value, seeds=seeds, between=pairs,
                          n_latents=_LATENTS.value, alpha=pert.alpha, alphas=dict(pert.alphas), seed=_SEED.value,
                          frames=_FRAMES.value,
                          gallery=_SWEEP.gallery.value, score_with=_SWEEP.score_with.value,
                          score_weights=_SWEEP.score_weights.value, command=command(), breeding=breeding)  # fmt: skip
    print(f"wrote {len(done['walks'])} walks x {_FRAMES.value} frames to {_OUT_DIR.value}")


_ALL = [v for k, v in dict(globals()).items() if k.isupper() and isinstance(v, flags.FlagHolder)]
_ALL += [v for v in vars(_SWEEP).values()]


def run() -> None:
    # walks recompute every frame: no resume to promise there
    cli.run(main, resume=lambda: "" if _MODE.value == "walk" else "re-run the same command to resume")


if __name__ == "__main__":
    run()
