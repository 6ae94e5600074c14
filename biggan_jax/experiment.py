"""A sweep written to disk: the paper's figure layout, every image, a manifest.

Library side of ``python -m biggan_jax`` (:mod:`biggan_jax.main` only
parses flags). Layout of ``out_dir``::

    manifest.json            settings, weights sha256, rows, finished seeds
    images/original/r000_<class>_l0.png         unperturbed generator
    images/seed_000007/r000_<class>_l0.png      network of seed 7
    images/net_7.2/r000_<class>_l0.png          network of lineage 7.2 (child 2 of seed 7;
                                                neural_art.lineage, --mode=breed)
    grid.png (grid_001.png, ...)                rows = (class, latent),
                                                columns = seeds, far right θ*

Every image can be regenerated from the manifest: network = the settings'
perturbation with key ``fold_in(key(root_seed), seed)``; row r's latent is
``truncated_noise(fold_in(key(latent_seed), latent), 1, truncation)`` and its
class vector the row's class. Re-running with the same settings skips the seeds
the manifest lists whose images are whole and computes the rest, byte for byte as
an uninterrupted run would (a killed run, a full disk: :mod:`biggan_jax.outputs`);
different settings in the same directory are refused, so finished work is never
overwritten. A write error ends the run with one line naming the file and what
was kept.

PNGs are encoded on worker threads (:class:`ImageWriter`) while the device
computes the next chunk; the manifest's ``seeds_done`` lists a seed only once
all its files are written (each file atomically). Over several processes
(``--multihost``) every process computes its share of each chunk and process 0
writes the one output directory (:mod:`biggan_jax.multihost`).
"""

from __future__ import annotations

import dataclasses
import itertools
import pathlib
import shlex
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from biggan_jax import hub, multihost, sharded
from biggan_jax.bn import BN_BATCH, with_bn
from biggan_jax.configs import BigGANConfig
from biggan_jax.layers import truncation_stat_selector
from biggan_jax.model import param_shapes
from biggan_jax.noise import truncated_noise
from biggan_jax.outputs import (ImageWriter, Layout, Manifest, check_out_dir, damaged, layout,
                                resume_state, write_grids)  # fmt: skip
from biggan_jax.sharded import STRATEGIES, Perturbation, SweepPlan, sweep_chunks, sweep_plan
from neural_art import capacity, cli, lineage
from neural_art import imagenet as cls
from neural_art import images as imio
from neural_art.curate import Curator
from neural_art.errors import UserError

__all__ = ["ImageWriter", "Layout", "SweepContext", "SweepJob", "check_out_dir", "layout", "run", "validate", "write_grids"]

MANIFEST_VERSION = 1


@dataclasses.dataclass(frozen=True)
class SweepJob:
    """One sweep. ``root_seed`` is the CLI's ``--seed``: network k's key is
    ``fold_in(key(root_seed), k)``; ``writers``: PNG encoder threads (0: auto)."""

    weights: str
    classes: tuple[str | int, ...]
    seeds: tuple[int | str, ...]  # seeds, or lineage strings (neural_art.lineage.network_id)
    out_dir: str
    latents: int = 1
    truncation: float = 0.4
    perturbation: Perturbation = Perturbation()
    precision: str = "float32"
    root_seed: int = 0
    latent_seed: int = 0
    chunk_size: int | None = None
    hf_compat: bool = False
    grid_columns: int = 12
    writers: int = 0
    strategy: str | None = None  # None: sharded.default_strategy
    group: int | None = None
    gallery: bool = True
    score_with: str = ""
    score_weights: str = ""  # --score_weights: the spec a factory hook reads (neural_art.scores)
    command: str = ""  # the regenerate command without --seeds / --out_dir (shell-quoted: shlex.join)
    breeding: lineage.Breeding | None = None  # how lineages are bred (recorded when given)


def validate(job: SweepJob) -> tuple[list[int], BigGANConfig | None]:
    """Every check that can fail, before any compute. Returns (class ids, config
    when known without loading)."""
    if job.precision not in ("float32", "bfloat16"):
        raise UserError(f"precision must be float32 or bfloat16, got {job.precision!r}")
    if not 0.0 < job.truncation <= 1.0:
        raise UserError(f"truncation must be in (0, 1], got {job.truncation}")
    if job.latents < 1:
        raise UserError(f"latents per class must be >= 1, got {job.latents}")
    if job.grid_columns < 1:
        raise UserError(f"grid columns must be >= 1, got {job.grid_columns}")
    ids = [cls.class_index(c) for c in job.classes]  # unknown names -> closest names
    if not ids:
        raise UserError("no classes given")
    cfg = hub.config_for(job.weights)
    pert = job.perturbation
    if cfg is not None and pert.mode == "replace" and pert.block not in cfg.block_names:
        raise UserError(
            f"unknown block {pert.block!r} for {cfg.name}; blocks are {', '.join(cfg.block_names)}"
        )
    cli.check_out_dir(job.out_dir)  # creates nothing: run() creates it once the weights loaded
    return ids, cfg


def settings(job: SweepJob, ids: Sequence[int]) -> dict:
    """The manifest's settings: a re-run must match them to resume."""
    pert = dataclasses.asdict(job.perturbation)
    pert["include"] = list(pert["include"])
    pert["alphas"] = dict(pert["alphas"])
    return {
        "version": MANIFEST_VERSION,
        **hub.provenance(job.weights),
        "perturbation": pert,
        "truncation": job.truncation,
        "hf_compat": job.hf_compat,
        "precision": job.precision,
        "root_seed": job.root_seed,
        "latent_seed": job.latent_seed,
        "classes": [{"id": i, "name": cls.class_name(i)} for i in ids],
        "latents_per_class": job.latents,
        **({"bn_batch": BN_BATCH} if job.perturbation.bn == "recompute" else {}),
        **({"breeding": dataclasses.asdict(job.breeding)} if job.breeding else {}),
    }


def latents(job: SweepJob, cfg: BigGANConfig, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """``(z, y)`` of every row: class-major, ``job.latents`` latents per class."""
    root = jax.random.key(job.latent_seed)
    z_lat = np.concatenate([
        np.asarray(truncated_noise(jax.random.fold_in(root, j), 1, job.truncation, cfg.z_dim))
        for j in range(job.latents)
    ])  # fmt: skip
    return np.concatenate([z_lat] * len(ids)), np.repeat(cls.class_vector(ids), job.latents, axis=0)


def bn_latents(job: SweepJob, cfg: BigGANConfig, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """``--bn=recompute``'s batch: ``BN_BATCH`` latents at the sweep's truncation, latent
    i from ``fold_in(key(latent_seed), 10**6 + i)``, classes cycling through ``ids``."""
    root = jax.random.key(job.latent_seed)
    z = np.concatenate([np.asarray(truncated_noise(jax.random.fold_in(root, 10**6 + i), 1,
                                                   job.truncation, cfg.z_dim)) for i in range(BN_BATCH)])  # fmt: skip
    return z, cls.class_vector([ids[i % len(ids)] for i in range(BN_BATCH)])


def original_params(job: SweepJob, cfg, params, bn_batch):
    """θ* as the sweep sees it (BN statistics re-estimated under ``--bn=recompute``)."""
    if job.perturbation.bn == "stored":
        return params
    sel = truncation_stat_selector(job.truncation, cfg.n_stats, hf_compat=job.hf_compat)
    return with_bn("recompute", cfg, params, *bn_batch, tuple(jnp.asarray(x) for x in sel))


def write_original(job: SweepJob, cfg, params, z, y, lay: Layout, writer: ImageWriter) -> np.ndarray:
    """The unperturbed generator's images (the grids' far-right column); returns them."""
    if lay.complete(None):
        return np.stack([imio.load_image(p) for p in lay.files(None)]) * 2.0 - 1.0
    from biggan_jax.model import generate

    imgs = np.asarray(generate(cfg, params, z, y, job.truncation, hf_compat=job.hf_compat,
                               dtype=jnp.dtype(job.precision)))  # fmt: skip
    writer.submit(None, lay.files(None), imgs)
    return imgs


@dataclasses.dataclass(frozen=True)
class SweepContext:
    """What every step of one run of a sweep reads: the job, the loaded model, the
    rows' latents, the output layout, the PNG writer and the manifest (the
    manifest and writer are mutable objects; the context itself is not)."""

    job: SweepJob
    cfg: BigGANConfig
    params: object  # θ*, as loaded
    z: np.ndarray  # [L, z_dim] every row's latent
    y: np.ndarray  # [L, num_classes] every row's class vector
    bn_batch: tuple | None  # (z_bn, y_bn) under --bn=recompute, else None
    lay: Layout
    writer: ImageWriter
    man: Manifest

    def root(self) -> jax.Array:
        return jax.random.key(self.job.root_seed)

    def breeding(self) -> lineage.Breeding:
        return self.job.breeding or lineage.Breeding()


def run(job: SweepJob, *, progress: bool = True) -> dict:
    """Runs (or resumes) the sweep; returns the manifest. Process 0 reads and writes
    ``out_dir``; every process computes (module docstring)."""
    ids, cfg = validate(job)
    loaded = None
    if job.seeds and len(ids) * job.latents > PLAN_ROWS:  # many rows: refused before anything lists them
        loaded = None if cfg else hub.load(job.weights)  # the architecture's shapes suffice when known
        cfg, shapes = (cfg, param_shapes(cfg)) if cfg else loaded
        bn = bn_latents(job, cfg, ids) if job.perturbation.bn == "recompute" else None
        check_rows(job, cfg, shapes, ids, job.seeds, bn)
    lay = layout(job.out_dir, ids, job.latents)
    man = Manifest(lay.out / "manifest.json", settings(job, ids))
    # what a directory already holds is checked first (reading only; nothing is created
    # before the weights load, so a refused weights file leaves no out_dir behind)
    state = multihost.on_main(lambda: resume_state(lay, man.data, job.seeds), share=True)
    old_plan = recorded_plan(job, state["plan"]) if state["plan"] else None
    if old_plan:
        man.data["plan"] = old_plan.as_dict()
    cfg, params = loaded or hub.load(job.weights)
    todo = state["todo"]
    bn_batch = bn_latents(job, cfg, ids) if job.perturbation.bn == "recompute" else None
    z, y = latents(job, cfg, ids)
    # the plan before the directory is created: a chunk past the device's memory leaves none behind
    plan = plan_for(SweepContext(job, cfg, params, z, y, bn_batch, lay, None, man), todo, old_plan) if todo else None  # fmt: skip
    check_out_dir(job.out_dir)  # created, and a file written there (each process: no race)
    man.data.update(rows=list(lay.rows), seeds_done=state["done"])
    man.kept = list(state["done"])  # listed by the manifest already there, their files whole
    if plan:
        man.data["plan"] = plan.as_dict()
    main = multihost.is_main()
    with ImageWriter(job.writers) as writer:
        ctx = SweepContext(job, cfg, params, z, y, bn_batch, lay, writer, man)
        try:
            cur = multihost.on_main(lambda: start(ctx))
            _sweep(ctx, todo, cur, progress=main and progress)
            multihost.on_main(lambda: finish(ctx, cur))
        except OSError as e:
            if not main:
                raise
            writer.wait()
            try:  # what finished before the error is kept and listed
                man.add(writer.poll()[0])
            except OSError:
                pass
            raise man.failure(e) from e
    return man.data


def recorded_plan(job: SweepJob, old: dict) -> SweepPlan:
    """The plan a manifest records, or the one-line error of a damaged manifest."""
    try:
        plan = SweepPlan(**old)
    except TypeError as e:
        raise damaged(pathlib.Path(job.out_dir) / "manifest.json", f"plan: {e}") from e
    if plan.strategy not in STRATEGIES or not all(
        type(v) is int and v >= 1 for v in (plan.group, plan.chunk, plan.devices)
    ):
        raise damaged(pathlib.Path(job.out_dir) / "manifest.json", f"plan: {old}")
    return plan


def plan_for(ctx: SweepContext, todo, old: SweepPlan | None) -> SweepPlan:
    """The manifest's plan on resume (same pixels), else a new one from the job
    (process 0's on every process). A smallest chunk that exceeds the device's
    memory is refused naming ``--latents`` (:class:`neural_art.capacity.TooLarge`)."""
    if old:
        return old
    job = ctx.job
    seeds, lins = _split(todo)
    try:
        new = sweep_plan(ctx.cfg, ctx.params, seeds or lins, ctx.z, ctx.y, job.truncation, root=ctx.root(),
                         perturbation=job.perturbation, dtype=job.precision, hf_compat=job.hf_compat,
                         strategy=job.strategy, group=job.group, chunk_size=job.chunk_size,
                         bn_batch=ctx.bn_batch, breeding=ctx.breeding())  # fmt: skip
    except capacity.TooLarge as e:
        n = len(ctx.z) // job.latents  # classes
        raise capacity.TooLarge("latents", job.latents, e.largest // n, e.need, e.limit, e.where,
                                f"{e.what} ({n} classes x {job.latents} latents)") from None  # fmt: skip
    return SweepPlan(**multihost.on_main(new.as_dict, share=True))


PLAN_ROWS = 16  # rows per network up to which the plan itself (compiled at that size) is the check


def rows_fit(job: SweepJob, cfg: BigGANConfig, params, rows: int, todo, bn_batch=None) -> capacity.Fit:
    """Peak bytes per device of the sweep's smallest chunk as a function of the rows
    per network (:func:`biggan_jax.sharded.rows_fit` at the job's settings)."""
    seeds, lins = _split(list(todo))
    checked, nets = sharded.networks(seeds or lins, params, job.perturbation,
                                     job.breeding or lineage.Breeding(), jax.random.key(job.root_seed))  # fmt: skip
    return sharded.rows_fit(cfg, job.perturbation, job.precision, sharded.seed_mesh(), len(checked), params,
                            job.truncation, rows, strategy=job.strategy, group=job.group,
                            chunk_size=job.chunk_size, bn_batch=bn_batch, nets=nets,
                            hf_compat=job.hf_compat)  # fmt: skip


def check_rows(job: SweepJob, cfg: BigGANConfig, params, ids: Sequence[int], todo, bn_batch=None) -> None:  # fmt: skip
    """Refuses ``--latents`` (:class:`neural_art.capacity.TooLarge`) when one network's
    rows (classes x latents) cannot fit the device (:func:`neural_art.capacity.hard_limit`)
    at the smallest chunk, from the plan compiled at 8 and 16 rows (:func:`rows_fit`):
    nothing of that size is built (:func:`run` calls it before the layout lists the
    rows). ``params``: the weights or their shapes (:func:`biggan_jax.model.param_shapes`:
    no weights need loading); ``todo``: the networks (seeds, lineage strings). Up to
    ``PLAN_ROWS`` rows nothing is compiled here (the plan itself refuses them: :func:`plan_for`)."""
    rows = len(ids) * job.latents
    if rows <= PLAN_ROWS:
        return
    fit = rows_fit(job, cfg, params, rows, todo, bn_batch)
    limit, where = capacity.hard_limit(jax.devices()[0])
    need, usable = fit.peak(rows), int(limit * capacity.HEADROOM)  # extrapolated: a margin
    if need > usable:
        raise capacity.TooLarge("latents", job.latents, fit.largest(usable) // len(ids), need, limit, where,
                                f"{rows} rows per network ({len(ids)} classes x {job.latents} latents)",
                                share=capacity.HEADROOM)  # fmt: skip




def _split(todo) -> tuple[list[int], list[str]]:
    """Seeds (the seed program) and lineages (the lineage program) of ``todo``."""
    return [s for s in todo if isinstance(s, int)], [s for s in todo if isinstance(s, str)]


def start(ctx: SweepContext) -> Curator:
    """Process 0, before the first chunk: the manifest (settings, plan, the seeds
    found finished), θ*'s images, the curator."""
    ctx.man.save()
    theta = original_params(ctx.job, ctx.cfg, ctx.params, ctx.bn_batch)
    orig = write_original(ctx.job, ctx.cfg, theta, ctx.z, ctx.y, ctx.lay, ctx.writer)
    return curator(ctx.job, ctx.lay, ctx.man.data, orig)


def regenerate_command(job: SweepJob, seed) -> str:
    """The command that re-renders one network (add ``--latents`` / ``--classes`` to taste)."""
    base = job.command or shlex.join(["python", "-m", "biggan_jax", f"--weights={job.weights}"])
    out = job.out_dir.rstrip("/")
    if seed is None:
        return f"{base} {shlex.join(['--seeds=0', f'--out_dir={out}_more'])}  # θ* is every grid's far-right column"
    return f"{base} {shlex.join([f'--seeds={seed}', f'--out_dir={out}_seed{seed}'])}"


def curator(job: SweepJob, lay: Layout, manifest: dict, orig: np.ndarray):
    # the gallery's breed command: this sweep's command into this --out_dir, less the flags
    # the page sets; none where the networks are not eq. (2)'s (lineages could not follow)
    base = job.command or shlex.join(["python", "-m", "biggan_jax", f"--weights={job.weights}"])
    page_sets = ("--mode=", "--parents=", "--cross=", "--children=", "--beta=")
    prefix = [a for a in shlex.split(base) if not a.startswith(page_sets)] + [f"--out_dir={job.out_dir}"]
    eq2 = job.perturbation.mode == "multiplicative" and not job.perturbation.effective
    return Curator(lay.out, title=f"BigGAN sweep {job.weights}", settings=manifest,
                   row_labels=[f"{r['class_name']} z{r['latent']}" for r in lay.rows], original=orig,
                   files=lay.files, command=lambda s: regenerate_command(job, s),
                   score_with=job.score_with, score_weights=job.score_weights, enabled=job.gallery,
                   breed=shlex.join(prefix) if eq2 else "")  # fmt: skip


def _sweep(ctx: SweepContext, todo, cur: Curator, *, progress: bool) -> None:
    """Every process walks the chunks (each chunk's images on every process);
    process 0 writes them and records the seeds whose files are written."""
    job, lay, writer, man = ctx.job, ctx.lay, ctx.writer, ctx.man
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="net", desc="sweep")
    chunks = itertools.chain.from_iterable(sweep_chunks(
        ctx.cfg, ctx.params, part, ctx.z, ctx.y, job.truncation, root=ctx.root(),
        perturbation=job.perturbation, dtype=job.precision, hf_compat=job.hf_compat,
        plan=SweepPlan(**man.data["plan"]), bn_batch=ctx.bn_batch, gather=True,
        breeding=ctx.breeding(),
    ) for part in _split(todo) if part)  # fmt: skip

    def write(got, imgs):
        got = [lineage.network_id(s) for s in got]  # lineages back to their strings
        for s, per_seed in zip(got, imgs, strict=True):
            writer.submit(s, lay.files(s), per_seed)
        cur.add(got, imgs)  # scores + thumbnails before the manifest may list the seeds
        keep(writer, man)
        cur.write(sorted(set(man.data["seeds_done"]) | set(got), key=lineage.id_order), running=True)

    try:
        for got, imgs in chunks:
            multihost.on_main(lambda got=got, imgs=imgs: write(got, imgs))
            if bar is not None:
                bar.update(len(got))
    finally:
        if bar is not None:
            bar.close()  # ends its line: an error message starts on its own


def keep(writer: ImageWriter, man: Manifest) -> None:
    """Lists the seeds whose files are all written; re-raises the first write error."""
    done, err = writer.poll()
    man.add(done)
    if err is not None:
        raise err


def finish(ctx: SweepContext, cur: Curator) -> None:
    """Process 0, after the last chunk: the final manifest, gallery and grid pages."""
    job, man = ctx.job, ctx.man
    ctx.writer.wait()
    keep(ctx.writer, man)
    cur.write(man.data["seeds_done"], running=False)
    done = set(man.data["seeds_done"])
    write_grids(ctx.lay, [s for s in job.seeds if s in done], job.grid_columns, workers=job.writers)
