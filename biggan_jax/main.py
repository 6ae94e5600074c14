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

import math
import shlex

from absl import flags

from neural_art import blocks, capacity, cli, curate, lineage, scores, walk

_WEIGHTS = cli.define_weights("biggan-deep-256", "BigGAN-deep weights (biggan-deep-128/256/512 "
                              "are downloaded once), e.g. random:biggan-deep-128:8 for smoke tests.")  # fmt: skip
_CLASSES = flags.DEFINE_list("classes", ["stupa", "espresso", "volcano"], "ImageNet class names or ids.")
_SEEDS = cli.define_seeds("0-10", "Perturbation seeds (one network each): inclusive ranges, e.g. '0-10,15'.")
_LATENTS = flags.DEFINE_integer("latents", 1, "Latents per class (rows per class).")
_TRUNCATION = flags.DEFINE_float("truncation", 0.4, "Truncation in (0, 1].")
_MODE = flags.DEFINE_enum("mode", "multiplicative", ["multiplicative", "replace", "walk", "breed"],
                          "eq. (2), eq. (3), walk: weight-space walks θ*·(1 + tαε_k), t = 0..1, per seed, "
                          "or breed: --children of each of --parents / --cross (neural_art.lineage).")
_ALPHA = flags.DEFINE_float("alpha", 0.35, "eq. (2) scale: θ = θ*(1 + α ε).")
_BLOCK = flags.DEFINE_string("block", "B2", "eq. (3): block to replace, B1..B13.")
_EFFECTIVE = flags.DEFINE_bool("effective", False, "eq. (2) on the spectrally normalised weights.")
_PRECISION = cli.define_precision()
_OUT_DIR = cli.define_out_dir(None, "Output directory (resumable: finished seeds are skipped).")
_SEED = cli.define_seed(0, "Root of the perturbation keys: network k uses fold_in(key(seed), k).")
_LATENT_SEED = cli.define_seed(0, "Root of the latents.", name="latent_seed")
_CHUNK_SIZE = cli.define_chunk_size(0, "Seeds per compiled chunk over all devices (0: fit memory).")
_HF_COMPAT = flags.DEFINE_bool("hf_compat", False, "Reproduce the PyTorch port's BN-statistics row selection.")
_GRID_COLUMNS = flags.DEFINE_integer("grid_columns", 12, "Seeds per grid page.")
_WRITERS = flags.DEFINE_integer("writers", 0, "PNG encoder threads (0: one per CPU, at most 16).")
_STRATEGY = flags.DEFINE_enum("strategy", "auto", ["auto", "map", "vmap", "hybrid"],
                              "How a device walks its seeds (auto: the measured default; in the manifest).")
_GROUP = flags.DEFINE_integer("group", 0, "Seeds vmapped together by vmap/hybrid (0: default).")
_GALLERY = flags.DEFINE_bool("gallery", True, "Write index.html + thumbnails + scores.json, rewritten per chunk.")
_SCORE_WITH = flags.DEFINE_string("score_with", "", scores.SCORE_WITH_HELP)
_SCORE_WEIGHTS = flags.DEFINE_string("score_weights", "", scores.SCORE_WEIGHTS_HELP)
_ALPHA_PER_BLOCK = flags.DEFINE_string("alpha_per_block", "", "eq. (2) α per block, e.g. B1:0,B2:0.5,B5-B13:0.2.")
_BLOCKS = flags.DEFINE_string("blocks", "", "eq. (2) on these blocks only, e.g. B3,B5-B7 (α 0 elsewhere).")
_BN = flags.DEFINE_enum("bn", "stored", ["stored", "recompute"],
                        "BN statistics: stored (paper) or re-estimated per perturbed network on 32 latents.")
_FRAMES = flags.DEFINE_integer("frames", 16, "--mode=walk: frames per walk (>= 2).")
_WALK_BETWEEN = flags.DEFINE_list("walk_between", [], "--mode=walk: pairs a:b to walk between, each a seed "
                                   "or a lineage bred by --beta / --cross_by, e.g. 3:17,17.4:203 "
                                   "(without --seeds: these walks only).")
_PARENTS = flags.DEFINE_list("parents", [], "--mode=breed: lineages to breed from, e.g. 17,203.4.")
_CROSS = flags.DEFINE_list("cross", [], "--mode=breed: pairs a:b of lineages to cross, e.g. 17:203.4.")
_CHILDREN = flags.DEFINE_integer("children", 8, "--mode=breed: children of each parent and cross.")
_BETA = flags.DEFINE_float("beta", 0.3, "How far a child strays from its parent, in [0, 1] (lineages).")
_CROSS_BY = flags.DEFINE_enum("cross_by", "mix", ["mix", "blocks"], "A cross's noise: the parents' "
                              "spherical mixture, or each block's from one parent (lineages).")
_MULTIHOST = flags.DEFINE_bool("multihost", False, "jax.distributed.initialize(): TPU pod slice, SLURM, or "
                                "JAX_COORDINATOR_ADDRESS + JAX_NUM_PROCESSES + JAX_PROCESS_ID.")


def check_flags() -> tuple[int | str, ...]:
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
        return tuple(lineage.network_id(s) for s in lineage.parse_networks(_SEEDS.value))
    except ValueError as e:
        raise cli.UsageError(f"--seeds: {e}") from None


def check_breed() -> tuple[tuple[int | str, ...], object]:
    """--mode=breed's flags alone: ``(the children's network ids, the Breeding)``."""
    try:
        breeding = lineage.Breeding(beta=_BETA.value, cross=_CROSS_BY.value)
    except ValueError as e:
        raise cli.UsageError(f"--beta: {e}") from None
    if _MODE.value != "breed":
        if _PARENTS.value or _CROSS.value:
            raise cli.UsageError("--parents / --cross need --mode=breed")
        return (), breeding
    if _CHILDREN.value < 1:
        raise cli.UsageError(f"--children must be >= 1, got {_CHILDREN.value}")
    try:
        parents = lineage.parse_list(_PARENTS.value) if _PARENTS.value else []
        for pair in _CROSS.value:
            a, sep, b = pair.partition(":")
            if not sep:
                raise cli.UsageError(f"--cross part {pair!r}: use LINEAGE:LINEAGE, e.g. 17:203.4")
            parents.append(lineage.Cross(lineage.parse(a), lineage.parse(b)))
    except ValueError as e:
        raise cli.UsageError(f"--parents / --cross: {e}") from None
    if not parents:
        raise cli.UsageError("--mode=breed needs --parents and/or --cross")
    kids = [lineage.Child(p, c) for p in parents for c in range(_CHILDREN.value)]
    return tuple(lineage.network_id(k) for k in kids), breeding


def check_more() -> tuple[tuple[int | str, int | str], ...]:
    """Checks of the issue-13 flags alone; returns the walk pairs."""
    if _GROUP.value < 0:
        raise cli.UsageError(f"--group must be >= 0, got {_GROUP.value}")
    if _ALPHA_PER_BLOCK.value and _BLOCKS.value:
        raise cli.UsageError("--alpha_per_block and --blocks exclude each other")
    if (_ALPHA_PER_BLOCK.value or _BLOCKS.value) and (_MODE.value == "replace" or _EFFECTIVE.value):
        raise cli.UsageError("--alpha_per_block / --blocks need --mode=multiplicative or walk, without --effective")
    if _MODE.value == "walk" and _EFFECTIVE.value:
        raise cli.UsageError("--mode=walk does not take --effective")
    if _MODE.value == "walk" and _FRAMES.value < 2:
        raise cli.UsageError(f"--frames must be >= 2, got {_FRAMES.value}")
    try:
        pairs = walk.parse_pairs(_WALK_BETWEEN.value, walk_mode=_MODE.value == "walk")
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    return pairs


def block_alphas(config) -> tuple[tuple[str, float], ...]:
    """--alpha_per_block / --blocks against the config's block names (before any compute)."""
    names = config.block_names if config is not None else tuple(f"B{i}" for i in range(1, 14))
    try:
        if _BLOCKS.value:
            return tuple(blocks.only(_BLOCKS.value, names, _ALPHA.value).items())
        return tuple(blocks.parse_alphas(_ALPHA_PER_BLOCK.value, names).items())
    except ValueError as e:
        raise cli.UsageError(str(e)) from None


def command() -> str:
    """The command line of this sweep without --seeds / --walk_between / --out_dir (for the gallery)."""
    skip = ("seeds", "walk_between", "out_dir", "parents", "cross", "children")
    set_flags = [h for h in _ALL if h.present and h.name not in skip
                 and not (h.name == "mode" and _MODE.value == "breed")]  # fmt: skip
    return shlex.join(["python", "-m", "biggan_jax", *(flags.FLAGS[h.name].serialize() for h in set_flags)])


def main(argv) -> None:
    seeds = check_flags()
    pairs = check_more()
    bred, breeding = check_breed()
    if _MODE.value == "breed":
        seeds = bred
    if any(isinstance(s, str) for s in seeds) and (_MODE.value in ("replace", "walk") or _EFFECTIVE.value):
        raise cli.UsageError("lineages in --seeds are eq. (2) networks: --mode=multiplicative or breed, "
                             "without --effective")
    from biggan_jax import experiment, hub
    from neural_art.sweep import multihost
    from biggan_jax.sharded import Perturbation

    if pairs and not _SEEDS.present:
        seeds = ()  # --walk_between alone: only those walks
    try:
        config = hub.config_for(_WEIGHTS.value)
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    alphas = block_alphas(config)
    curate.check_hook(_SCORE_WITH.value, _SCORE_WEIGHTS.value)  # a factory loads here, once
    mode = "multiplicative" if _MODE.value in ("walk", "breed") else _MODE.value
    job = experiment.SweepJob(
        weights=_WEIGHTS.value, classes=tuple(_CLASSES.value), seeds=seeds, out_dir=_OUT_DIR.value,
        latents=_LATENTS.value, truncation=_TRUNCATION.value,
        perturbation=Perturbation(mode=mode, alpha=0.0 if _BLOCKS.value else _ALPHA.value,
                                  block=_BLOCK.value, effective=_EFFECTIVE.value, alphas=alphas,
                                  bn=_BN.value),
        precision=_PRECISION.value, root_seed=_SEED.value, latent_seed=_LATENT_SEED.value,
        chunk_size=_CHUNK_SIZE.value or None, hf_compat=_HF_COMPAT.value,
        grid_columns=_GRID_COLUMNS.value, writers=_WRITERS.value,
        strategy=None if _STRATEGY.value == "auto" else _STRATEGY.value, group=_GROUP.value or None,
        gallery=_GALLERY.value, score_with=_SCORE_WITH.value, score_weights=_SCORE_WEIGHTS.value,
        command=command(),
        breeding=breeding if any(isinstance(s, str) for s in seeds) else None,
    )  # fmt: skip
    try:
        experiment.validate(job)  # classes, block, weights spec: before any compute
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    cli.use_compilation_cache()  # re-runs (resume) skip compilation
    import jax

    if _MULTIHOST.value:
        multihost.initialize()
    try:  # --latents / --frames past the device's memory: refused from the plan, before compute
        if _MODE.value == "walk":
            from biggan_jax import walks

            done = walks.run(walks.WalkJob(sweep=job, frames=_FRAMES.value, between=pairs,
                                           breeding=breeding))  # lineage ends: --beta / --cross_by
            print(f"wrote {len(done['walks'])} walks x {_FRAMES.value} frames to {job.out_dir}")
            return
        manifest = experiment.run(job)
    except capacity.TooLarge as e:
        raise cli.UsageError(str(e)) from None
    if jax.process_index() == 0:
        print(f"wrote {len(manifest['seeds_done'])} networks x {len(manifest['rows'])} images to {job.out_dir}")


_ALL = [v for k, v in dict(globals()).items() if k.isupper() and isinstance(v, flags.FlagHolder)]


def run() -> None:
    # walks recompute every frame: no resume to promise there
    cli.run(main, resume=lambda: "" if _MODE.value == "walk" else "re-run the same command to resume")


if __name__ == "__main__":
    run()
