"""``python -m biggan_jax``: perturbed-generator sweeps from the command line.

Examples::

    # Janik Fig. 3: eq. (2), seeds 0-10, three classes, on the released 256 model
    python -m biggan_jax --weights=biggan-deep-256 --classes=stupa,espresso,volcano \
        --seeds=0-10 --alpha=0.35 --truncation=0.4 --out_dir=out/fig3
    # Janik Fig. 4: eq. (3), block B2 replaced
    python -m biggan_jax --weights=biggan-deep-256 --mode=replace --block=B2 \
        --classes=stupa,espresso,volcano --seeds=0-10 --out_dir=out/fig4
    # smoke test with random weights (architecture 128 at channel width 8)
    python -m biggan_jax --weights=random:biggan-deep-128:8 --classes=volcano --seeds=0-3 --out_dir=/tmp/s

Every check that needs no compute (flags, ranges, classes, block, weights spec,
output directory) runs before any weights are loaded; a mistake is one line
``error: ...``.
"""

from __future__ import annotations

import math

from absl import flags

from neural_art import cli, ranges

_WEIGHTS = cli.define_weights("biggan-deep-256", "BigGAN-deep weights (biggan-deep-128/256/512 "
                              "are downloaded once), e.g. random:biggan-deep-128:8 for smoke tests.")  # fmt: skip
_CLASSES = flags.DEFINE_list("classes", ["stupa", "espresso", "volcano"], "ImageNet class names or ids.")
_SEEDS = cli.define_seeds("0-10", "Perturbation seeds (one network each): inclusive ranges, e.g. '0-10,15'.")
_LATENTS = flags.DEFINE_integer("latents", 1, "Latents per class (rows per class).")
_TRUNCATION = flags.DEFINE_float("truncation", 0.4, "Truncation in (0, 1].")
_MODE = flags.DEFINE_enum("mode", "multiplicative", ["multiplicative", "replace"], "eq. (2) or eq. (3).")
_ALPHA = flags.DEFINE_float("alpha", 0.35, "eq. (2) scale: θ = θ*(1 + α ε).")
_BLOCK = flags.DEFINE_string("block", "B2", "eq. (3): block to replace, B1..B13.")
_EFFECTIVE = flags.DEFINE_bool("effective", False, "eq. (2) on the spectrally normalised weights.")
_PRECISION = cli.define_precision()
_OUT_DIR = cli.define_out_dir(None, "Output directory (resumable: finished seeds are skipped).")
_SEED = cli.define_seed(0, "Root of the perturbation keys: network k uses fold_in(key(seed), k).")
_LATENT_SEED = flags.DEFINE_integer("latent_seed", 0, "Root of the latents.")
_CHUNK_SIZE = cli.define_chunk_size(0, "Seeds per compiled chunk over all devices (0: fit memory).")
_HF_COMPAT = flags.DEFINE_bool("hf_compat", False, "Reproduce the PyTorch port's BN-statistics row selection.")
_GRID_COLUMNS = flags.DEFINE_integer("grid_columns", 12, "Seeds per grid page.")
_WRITERS = flags.DEFINE_integer("writers", 0, "PNG encoder threads (0: one per CPU, at most 16).")
_MULTIHOST = flags.DEFINE_bool("multihost", False, "Call jax.distributed.initialize() (TPU pod slices).")


def check_flags() -> tuple[int, ...]:
    """The checks on flag values alone; returns the seeds."""
    if not _OUT_DIR.value:
        raise cli.UsageError("--out_dir is required")
    if _GRID_COLUMNS.value < 1:
        raise cli.UsageError(f"--grid_columns must be >= 1, got {_GRID_COLUMNS.value}")
    if _CHUNK_SIZE.value < 0:
        raise cli.UsageError(f"--chunk_size must be >= 0, got {_CHUNK_SIZE.value}")
    if _WRITERS.value < 0:
        raise cli.UsageError(f"--writers must be >= 0, got {_WRITERS.value}")
    if _LATENTS.value < 1:
        raise cli.UsageError(f"--latents must be >= 1, got {_LATENTS.value}")
    if not (math.isfinite(_ALPHA.value) and _ALPHA.value >= 0):
        raise cli.UsageError(f"--alpha must be finite and >= 0, got {_ALPHA.value}")
    if not 0.0 < _TRUNCATION.value <= 1.0:
        raise cli.UsageError(f"--truncation must be in (0, 1], got {_TRUNCATION.value}")
    try:
        return tuple(ranges.parse_ranges(_SEEDS.value, what="seed"))
    except ValueError as e:
        raise cli.UsageError(f"--seeds: {e}") from None


def main(argv) -> None:
    seeds = check_flags()
    from biggan_jax import experiment
    from biggan_jax.sharded import Perturbation

    job = experiment.SweepJob(
        weights=_WEIGHTS.value, classes=tuple(_CLASSES.value), seeds=seeds, out_dir=_OUT_DIR.value,
        latents=_LATENTS.value, truncation=_TRUNCATION.value,
        perturbation=Perturbation(mode=_MODE.value, alpha=_ALPHA.value, block=_BLOCK.value,
                                  effective=_EFFECTIVE.value),
        precision=_PRECISION.value, root_seed=_SEED.value, latent_seed=_LATENT_SEED.value,
        chunk_size=_CHUNK_SIZE.value or None, hf_compat=_HF_COMPAT.value,
        grid_columns=_GRID_COLUMNS.value, writers=_WRITERS.value,
    )  # fmt: skip
    try:
        experiment.validate(job)  # classes, block, weights spec: before any compute
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    cli.use_compilation_cache()  # re-runs (resume) skip compilation
    import jax

    if _MULTIHOST.value:
        jax.distributed.initialize()
    manifest = experiment.run(job)
    if jax.process_index() == 0:
        print(f"wrote {len(manifest['seeds_done'])} networks x {len(manifest['rows'])} images to {job.out_dir}")


def run() -> None:
    cli.run(main)


if __name__ == "__main__":
    run()
