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
"""

from __future__ import annotations

from absl import app, flags

_W = flags.DEFINE_string(
    "weights",
    "biggan-deep-256",
    "biggan-deep-128/256/512 (downloaded once), a converted dir, a pytorch_model.bin, "
    "or random:<config>[:<channel_width>] for smoke tests.",
)
_CLASSES = flags.DEFINE_list(
    "classes", ["stupa", "espresso", "volcano"], "ImageNet class names or ids."
)
_SEEDS = flags.DEFINE_string(
    "seeds", "0-10", "Perturbation seeds: ranges, inclusive, e.g. '0-10,15,20-25'."
)
_LATENTS = flags.DEFINE_integer("latents", 1, "Latents per class (rows per class).")
_TRUNC = flags.DEFINE_float("truncation", 0.4, "Truncation in (0, 1].")
_MODE = flags.DEFINE_enum(
    "mode", "multiplicative", ["multiplicative", "replace"], "eq. (2) or eq. (3)."
)
_ALPHA = flags.DEFINE_float("alpha", 0.35, "eq. (2) scale: θ = θ*(1 + α ε).")
_BLOCK = flags.DEFINE_string("block", "B2", "eq. (3): block to replace, B1..B13.")
_EFFECTIVE = flags.DEFINE_bool("effective", False, "eq. (2) on the spectrally normalised weights.")
_PRECISION = flags.DEFINE_enum(
    "precision", "float32", ["float32", "bfloat16"], "Compute precision."
)
_OUT = flags.DEFINE_string("out_dir", None, "Output directory (resumable).")
_ROOT = flags.DEFINE_integer(
    "root_seed", 0, "Root of the perturbation keys: seed k uses fold_in(key(root), k)."
)
_LSEED = flags.DEFINE_integer("latent_seed", 0, "Root of the latents.")
_CHUNK = flags.DEFINE_integer(
    "chunk_size", 0, "Seeds per compiled chunk over all devices (0: fit memory)."
)
_HF = flags.DEFINE_bool(
    "hf_compat", False, "Reproduce the PyTorch port's BN-statistics row selection."
)
_COLS = flags.DEFINE_integer("grid_columns", 12, "Seeds per grid page.")
_MULTIHOST = flags.DEFINE_bool(
    "multihost", False, "Call jax.distributed.initialize() (TPU pod slices)."
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not _OUT.value:
        raise app.UsageError("--out_dir is required")
    import jax

    from neural_art.fetch import cache_dir

    if not jax.config.jax_compilation_cache_dir:  # re-runs (resume) skip compilation
        jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "xla"))
    if _MULTIHOST.value:
        jax.distributed.initialize()
    from biggan_jax import experiment
    from biggan_jax.sharded import Perturbation

    job = experiment.SweepJob(
        weights=_W.value,
        classes=tuple(_CLASSES.value),
        seeds=experiment.seeds_from(_SEEDS.value),
        out_dir=_OUT.value,
        latents=_LATENTS.value,
        truncation=_TRUNC.value,
        perturbation=Perturbation(
            mode=_MODE.value, alpha=_ALPHA.value, block=_BLOCK.value, effective=_EFFECTIVE.value
        ),
        precision=_PRECISION.value,
        root_seed=_ROOT.value,
        latent_seed=_LSEED.value,
        chunk_size=_CHUNK.value or None,
        hf_compat=_HF.value,
        grid_columns=_COLS.value,
    )
    manifest = experiment.run(job)
    if jax.process_index() == 0:
        print(
            f"wrote {len(manifest['seeds_done'])} networks x {len(manifest['rows'])} images to {job.out_dir}"
        )


def run():
    app.run(main)


if __name__ == "__main__":
    run()
