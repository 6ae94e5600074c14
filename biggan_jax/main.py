"""``python -m biggan_jax``: perturbed-generator sweeps from the command line.

Examples::

    # Janik Fig. 3: eq. (2), seeds 0-10, three classes, on the released 256 model
    python -m biggan_jax --weights=biggan-deep-256 --classes=stupa,espresso,volcano \
        --seeds=0-10 --alpha=0.35 --truncation=0.4 --out_dir=out/fig3
    # Janik Fig. 4: eq. (3), block B2 replaced
    python -m biggan_jax --weights=biggan-deep-256 --mode=replace --block=B2 \
        --classes=stupa,espresso,volcano --seeds=0-10 --out_dir=out/fig4
    # curating: VGG-16 feature departure from θ* as an extra score (styletransfer.scores)
    python -m biggan_jax --weights=biggan-deep-256 --seeds=0-99 --out_dir=out/s \
        --score_with=styletransfer.scores:vgg_departure --score_weights=vgg16
    # weight-space walks with the sweep's per-block α and BN mode
    python -m biggan_jax --weights=biggan-deep-256 --mode=walk --walk_between=3:17 \
        --alpha_per_block=B1:0,B2-B13:0.35 --bn=recompute --frames=24 --out_dir=out/walk
    # smoke test with random weights (architecture 128 at channel width 8)
    python -m biggan_jax --weights=random:biggan-deep-128:8 --classes=volcano --seeds=0-3 --out_dir=/tmp/s

Every check that needs no compute (flags, ranges, classes, block, weights spec,
output directory) runs before any weights are loaded; a mistake is one line
``error: ...``. ``--latents`` (rows per network = classes x latents) and, for walks,
``--frames`` past the device's memory are refused the same way (exit 2, naming the
largest value that fits), from the compiled program's memory plan at small sizes
(:mod:`neural_art.capacity`), before any row is built or the output directory made.
"""

from __future__ import annotations

import shlex

import jax
from absl import flags

from biggan_jax import experiment, hub, walks
from neural_art import capacity, cli, curate
from neural_art.sweep import Perturbation, cli_flags, multihost

_WEIGHTS = cli.define_weights("biggan-deep-256", "BigGAN-deep weights (biggan-deep-128/256/512 "
                              "are downloaded once), e.g. random:biggan-deep-128:8 for smoke tests.")  # fmt: skip
_CLASSES = flags.DEFINE_list("classes", ["stupa", "espresso", "volcano"], "ImageNet class names or ids.")
_SWEEP = cli_flags.define(seeds="0-10")  # --seeds, --alpha, --alpha_per_block, --blocks, --chunk_size, breeding...
_LATENTS = flags.DEFINE_integer("latents", 1, "Latents per class (rows per class).")
_TRUNCATION = flags.DEFINE_float("truncation", 0.4, "Truncation in (0, 1].")
_MODE = flags.DEFINE_enum("mode", "multiplicative", ["multiplicative", "replace", "walk", "breed"],
                          "eq. (2), eq. (3), walk: weight-space walks θ*·(1 + tαε_k), t = 0..1, per seed, "
                          "or breed: --children of each of --parents / --cross (neural_art.lineage).")
_BLOCK = flags.DEFINE_string("block", "B2", "eq. (3): block to replace, B1..B13.")
_EFFECTIVE = flags.DEFINE_bool("effective", False, "eq. (2) on the spectrally normalised weights.")
_PRECISION = cli.define_precision()
_OUT_DIR = cli.define_out_dir(None, "Output directory (resumable: finished seeds are skipped).")
_SEED = cli.define_seed(0, "Root of the perturbation keys: network k uses fold_in(key(seed), k).")
_LATENT_SEED = cli.define_seed(0, "Root of the latents.", name="latent_seed")
_HF_COMPAT = flags.DEFINE_bool("hf_compat", False, "Reproduce the PyTorch port's BN-statistics row selection.")
_BN = flags.DEFINE_enum("bn", "stored", ["stored", "recompute"],
                        "BN statistics: stored (paper) or re-estimated per perturbed network on 32 latents.")
_FRAMES = flags.DEFINE_integer("frames", 16, "--mode=walk: frames per walk (>= 2).")


def check_flags() -> tuple[tuple[int | str, ...], object, tuple]:
    """The checks on flag values alone: ``(networks, breeding, walk pairs)``."""
    if not _OUT_DIR.value:
        raise cli.UsageError("--out_dir is required")
    if _LATENTS.value < 1:
        raise cli.UsageError(f"--latents must be >= 1, got {_LATENTS.value}")
    if not 0.0 < _TRUNCATION.value <= 1.0:
        raise cli.UsageError(f"--truncation must be in (0, 1], got {_TRUNCATION.value}")
    nets, breeding = _SWEEP.check(breed=_MODE.value == "breed")
    if (_SWEEP.alpha_per_block.value or _SWEEP.blocks.value) and (_MODE.value == "replace" or _EFFECTIVE.value):
        raise cli.UsageError("--alpha_per_block / --blocks need --mode=multiplicative or walk, without --effective")
    if _MODE.value == "walk" and _EFFECTIVE.value:
        raise cli.UsageError("--mode=walk does not take --effective")
    if _MODE.value == "walk" and _FRAMES.value < 2:
        raise cli.UsageError(f"--frames must be >= 2, got {_FRAMES.value}")
    if any(isinstance(s, str) for s in nets) and (_MODE.value == "replace" or _EFFECTIVE.value):
        raise cli.UsageError("lineages in --seeds are eq. (2) networks: --mode=multiplicative, breed or walk, "
                             "without --effective")
    return nets, breeding, _SWEEP.walk_pairs(_MODE.value == "walk")


def command() -> str:
    """The command line of this sweep without --seeds / --walk_between / --out_dir (for the gallery)."""
    set_flags = [h for h in _ALL if h.present and h.name not in cli_flags.SKIP_IN_COMMAND
                 and not (h.name == "mode" and _MODE.value == "breed")]  # fmt: skip
    return shlex.join(["python", "-m", "biggan_jax", *(flags.FLAGS[h.name].serialize() for h in set_flags)])


def main(argv) -> None:
    seeds, breeding, pairs = check_flags()
    if pairs and not _SWEEP.seeds.present:
        seeds = ()  # --walk_between alone: only those walks
    try:
        config = hub.config_for(_WEIGHTS.value)
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    alphas = _SWEEP.block_alphas(config.block_names if config is not None else tuple(f"B{i}" for i in range(1, 14)))
    curate.check_hook(_SWEEP.score_with.value, _SWEEP.score_weights.value)  # a factory loads here, once
    mode = "multiplicative" if _MODE.value in ("walk", "breed") else _MODE.value
    job = experiment.SweepJob(
        weights=_WEIGHTS.value, classes=tuple(_CLASSES.value), seeds=seeds, out_dir=_OUT_DIR.value,
        latents=_LATENTS.value, truncation=_TRUNCATION.value,
        perturbation=Perturbation(mode=mode, alpha=_SWEEP.base_alpha(), block=_BLOCK.value,
                                  effective=_EFFECTIVE.value, alphas=alphas, bn=_BN.value),
        precision=_PRECISION.value, root_seed=_SEED.value, latent_seed=_LATENT_SEED.value,
        hf_compat=_HF_COMPAT.value, command=command(),
        breeding=breeding if any(isinstance(s, str) for s in seeds) else None, **_SWEEP.job_kwargs(),
    )  # fmt: skip
    try:
        checked = experiment.validate(job)  # classes, block, weights spec: once, before any compute
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    cli.use_compilation_cache()  # re-runs (resume) skip compilation
    if _SWEEP.multihost.value:
        multihost.initialize()
    try:  # --latents / --frames past the device's memory: refused from the plan, before compute
        if _MODE.value == "walk":
            done = walks.run(walks.WalkJob(sweep=job, frames=_FRAMES.value, between=pairs,
                                           breeding=breeding), checked=checked)  # lineage ends: --beta / --cross_by
            print(f"wrote {len(done['walks'])} walks x {_FRAMES.value} frames to {job.out_dir}")
            return
        manifest = experiment.run(job, checked=checked)
    except capacity.TooLarge as e:
        raise cli.UsageError(str(e)) from None
    if jax.process_index() == 0:
        print(f"wrote {len(manifest['seeds_done'])} networks x {len(manifest['rows'])} images to {job.out_dir}")


_ALL = [v for k, v in dict(globals()).items() if k.isupper() and isinstance(v, flags.FlagHolder)]
_ALL += list(vars(_SWEEP).values())


def run() -> None:
    # walks recompute every frame: no resume to promise there
    cli.run(main, resume=lambda: "" if _MODE.value == "walk" else "re-run the same command to resume")


if __name__ == "__main__":
    run()
