"""A sweep written to disk, for any generator: every image, a manifest, scores and
a gallery updated per chunk, the figure's grid pages; exact resume; multi-host.

A model package supplies a :class:`Model` (what its networks draw, how its rows are
named, its weights: :class:`Loaded`) and its CLI builds a :class:`Job` (the flags
every sweep shares); :func:`run` does the rest. Layout of ``out_dir``::

    manifest.json                 settings, weights sha256, rows, plan, finished networks
    images/original/<row>.png     the unperturbed generator θ*
    images/seed_000007/<row>.png  network of seed 7
    images/net_7.2/<row>.png      network of lineage 7.2 (child 2 of seed 7; neural_art.lineage)
    scores.json, thumbs/, index.html   the gallery (neural_art.curate)
    grid.png (grid_001.png, ...)  rows = the model's rows, columns = networks, far right θ*

Every image can be regenerated from the manifest: network k = the settings'
perturbation with key ``fold_in(key(root_seed), k)`` (a lineage: its eq. (2) noise),
the rows as the model's settings say. Re-running with the same settings skips the
networks the manifest lists whose images are whole and computes the rest, byte for
byte as an uninterrupted run would (a killed run, a full disk:
:mod:`neural_art.sweep.outputs`); different settings in the same directory are
refused, so finished work is never overwritten. A write error ends the run with one
line naming the file and what was kept.

PNGs are encoded on worker threads (:class:`~neural_art.sweep.outputs.ImageWriter`)
while the device computes the next chunk; the manifest's ``seeds_done`` lists a
network only once all its files are written (each file atomically). Over several
processes every process computes its share of each chunk and process 0 writes the
one output directory (:mod:`neural_art.sweep.multihost`).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import pathlib
import shlex
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from neural_art import capacity, cli, lineage
from neural_art.curate import Curator
from neural_art.errors import UserError
from neural_art.sweep import engine, multihost
from neural_art.sweep.networks import Perturbation, networks, split
from neural_art.sweep.outputs import (ImageWriter, Layout, Manifest, check_out_dir, damaged, resume_state,
                                      write_grids)  # fmt: skip

MANIFEST_VERSION = 1
PLAN_ROWS = 16  # rows per network up to which the plan itself (compiled at that size) is the check


@dataclasses.dataclass(frozen=True)
class Job:
    """The flags every sweep shares. ``root_seed`` is the CLI's ``--seed``: network k's
    key is ``fold_in(key(root_seed), k)``; ``writers``: PNG encoder threads (0: auto)."""

    out_dir: str
    seeds: tuple[int | str, ...]  # seeds, or lineage strings (neural_art.lineage.network_id)
    perturbation: Perturbation = Perturbation()
    root_seed: int = 0
    chunk_size: int | None = None
    grid_columns: int = 12
    writers: int = 0
    strategy: str | None = None  # None: engine.default_strategy
    group: int | None = None
    gallery: bool = True
    score_with: str = ""
    score_weights: str = ""  # --score_weights: the spec a factory hook reads (neural_art.scores)
    breeding: lineage.Breeding | None = None  # how lineages are bred (recorded when given)

    def root(self) -> jax.Array:
        return jax.random.key(self.root_seed)


@dataclasses.dataclass(frozen=True)
class Loaded:
    """A generator ready to sweep: the engine's :class:`~neural_art.sweep.engine.Generator`,
    θ* (or its shapes, for a memory plan), every network's rows, the generator's constants."""

    gen: Any
    params: Any
    rows: Any
    consts: Any = ()


@dataclasses.dataclass(frozen=True)
class Model:
    """What a model package supplies for one sweep, known before its weights load.

    Attributes:
      title: the gallery's title. command: the regenerate command without ``--seeds``
        / ``--out_dir`` (shell-quoted). settings: the model's part of the manifest's
        settings (weights provenance, what the rows are; a re-run must match them).
      n_rows: rows per network. describe: ``() -> (rows, names, labels)``: the
        manifest's description of each row, each row's file name, its label in the
        grids and the gallery (called once the rows are known to fit).
      load: ``() -> Loaded`` (loads the weights). abstract: ``() -> Loaded`` of one
        row, with the weights' shapes where they are known without loading.
      rows_flag, rows_unit: the flag that sets the rows (rows = its value x
        ``rows_unit``), named when the rows cannot fit the device.
    """

    title: str
    command: str
    settings: dict
    n_rows: int
    describe: Callable[[], tuple[tuple[dict, ...], tuple[str, ...], tuple[str, ...]]]
    load: Callable[[], Loaded]
    abstract: Callable[[], Loaded]
    rows_flag: str = "latents"
    rows_unit: int = 1

    def layout(self, out_dir: str) -> Layout:
        return Layout(pathlib.Path(out_dir), *self.describe())


@dataclasses.dataclass(frozen=True)
class SweepContext:
    """What every step of one run reads: the job, the model and its loaded generator,
    the output layout, the PNG writer and the manifest (the manifest and writer are
    mutable objects; the context itself is not)."""

    job: Job
    model: Model
    loaded: Loaded
    lay: Layout
    writer: ImageWriter | None
    man: Manifest

    def breeding(self) -> lineage.Breeding:
        return self.job.breeding or lineage.Breeding()


def settings(job: Job, model: Model) -> dict:
    """The manifest's settings: a re-run must match them to resume."""
    return {"version": MANIFEST_VERSION, **model.settings, "perturbation": job.perturbation.as_dict(),
            "root_seed": job.root_seed,
            **({"breeding": dataclasses.asdict(job.breeding)} if job.breeding else {})}  # fmt: skip


def run(job: Job, model: Model, *, progress: bool = True) -> dict:
    """Runs (or resumes) the sweep; returns the manifest. Process 0 reads and writes
    ``out_dir``; every process computes (module docstring)."""
    check(job)  # creates nothing: out_dir is created once the weights loaded
    if job.seeds and model.n_rows > PLAN_ROWS:  # many rows: refused before anything lists them
        check_rows(job, model, model.abstract())
    lay = model.layout(job.out_dir)
    man = Manifest(lay.out / "manifest.json", settings(job, model))
    # what a directory already holds is checked first (reading only; nothing is created
    # before the weights load, so a refused weights file leaves no out_dir behind)
    state = multihost.on_main(lambda: resume_state(lay, man.data, job.seeds), share=True)
    old_plan = recorded_plan(job, state["plan"]) if state["plan"] else None
    if old_plan:
        man.data["plan"] = old_plan.as_dict()
    loaded = model.load()
    todo = state["todo"]
    # the plan before the directory is created: a chunk past the device's memory leaves none behind
    plan = plan_for(SweepContext(job, model, loaded, lay, None, man), todo, old_plan) if todo else None
    check_out_dir(job.out_dir)  # created, and a file written there (each process: no race)
    man.data.update(rows=list(lay.rows), seeds_done=state["done"])
    man.kept = list(state["done"])  # listed by the manifest already there, their files whole
    if plan:
        man.data["plan"] = plan.as_dict()
    main = multihost.is_main()
    with ImageWriter(job.writers) as writer:
        ctx = SweepContext(job, model, loaded, lay, writer, man)
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


def recorded_plan(job: Job, old: dict) -> engine.SweepPlan:
    """The plan a manifest records, or the one-line error of a damaged manifest."""
    try:
        plan = engine.SweepPlan(**old)
    except TypeError as e:
        raise damaged(pathlib.Path(job.out_dir) / "manifest.json", f"plan: {e}") from e
    if plan.strategy not in engine.STRATEGIES or not all(
        type(v) is int and v >= 1 for v in (plan.group, plan.chunk, plan.devices)
    ):
        raise damaged(pathlib.Path(job.out_dir) / "manifest.json", f"plan: {old}")
    return plan


def plan_for(ctx: SweepContext, todo, old: engine.SweepPlan | None) -> engine.SweepPlan:
    """The manifest's plan on resume (same pixels), else a new one from the job
    (process 0's on every process). A smallest chunk that exceeds the device's
    memory is refused naming the rows' flag (:class:`neural_art.capacity.TooLarge`)."""
    if old:
        return old
    job, lo, model = ctx.job, ctx.loaded, ctx.model
    seeds, lins = split(todo)
    try:
        new = engine.sweep_plan(lo.gen, lo.params, seeds or lins, lo.rows, lo.consts, root=job.root(),
                                perturbation=job.perturbation, strategy=job.strategy, group=job.group,
                                chunk_size=job.chunk_size, breeding=ctx.breeding())  # fmt: skip
    except capacity.TooLarge as e:
        n, value = model.rows_unit, model.n_rows // model.rows_unit
        raise capacity.TooLarge(model.rows_flag, value, e.largest // n, e.need, e.limit, e.where,
                                f"{e.what} ({n} x {value} {model.rows_flag})" if n > 1 else e.what) from None  # fmt: skip
    return engine.SweepPlan(**multihost.on_main(new.as_dict, share=True))


def check_rows(job: Job, model: Model, lo: Loaded) -> None:
    """Refuses the rows' flag (:class:`neural_art.capacity.TooLarge`) when one network's
    rows cannot fit the device (:func:`neural_art.capacity.hard_limit`) at the
    smallest chunk, from the plan compiled at 8 and 16 rows
    (:func:`neural_art.sweep.engine.rows_fit`; ``lo``: :attr:`Model.abstract`'s):
    nothing of that size is built (:func:`run` calls it before the layout lists the
    rows). Up to ``PLAN_ROWS`` rows nothing is compiled here (the plan itself refuses
    them: :func:`plan_for`)."""
    rows, unit = model.n_rows, model.rows_unit
    if rows <= PLAN_ROWS:
        return
    seeds, lins = split(list(job.seeds))
    checked, nets = networks(seeds or lins, lo.params, job.perturbation, job.breeding or lineage.Breeding(),
                             job.root())  # fmt: skip
    one_row = jax.tree.map(lambda a: a[:1], lo.rows)
    fit = engine.rows_fit(lo.gen, job.perturbation, engine.seed_mesh(), len(checked), lo.params, one_row,
                          lo.consts, rows, strategy=job.strategy, group=job.group, chunk_size=job.chunk_size,
                          nets=nets)  # fmt: skip
    limit, where = capacity.hard_limit(jax.devices()[0])
    need, usable = fit.peak(rows), int(limit * capacity.HEADROOM)  # extrapolated: a margin
    if need > usable:
        what = f"{rows} rows per network" + (f" ({unit} x {rows // unit} {model.rows_flag})" if unit > 1 else "")
        raise capacity.TooLarge(model.rows_flag, rows // unit, fit.largest(usable) // unit, need, limit, where,
                                what, share=capacity.HEADROOM)  # fmt: skip


@functools.partial(jax.jit, static_argnums=0)
def _original(gen, params, rows, consts):
    return gen.generate(gen.prepare(params, consts), rows, consts).astype(jax.numpy.float32)


def write_original(ctx: SweepContext) -> np.ndarray:
    """The unperturbed generator's images (the grids' far-right column, the scores'
    reference: computed on every run, so a resumed run scores as an uninterrupted one);
    written unless whole on disk. Returns them."""
    lay, lo = ctx.lay, ctx.loaded
    imgs = np.asarray(_original(lo.gen, lo.params, lo.rows, lo.consts))
    if not lay.complete(None):
        ctx.writer.submit(None, lay.files(None), imgs)
    return imgs


def start(ctx: SweepContext) -> Curator:
    """Process 0, before the first chunk: the manifest (settings, plan, the networks
    found finished), θ*'s images, the curator."""
    ctx.man.save()
    return curator(ctx, write_original(ctx))


def regenerate_command(job: Job, command: str, seed) -> str:
    """The command that re-renders one network (``command``: :attr:`Model.command`)."""
    out = job.out_dir.rstrip("/")
    if seed is None:
        return f"{command} {shlex.join(['--seeds=0', f'--out_dir={out}_more'])}  # θ* is every grid's far-right column"
    return f"{command} {shlex.join([f'--seeds={seed}', f'--out_dir={out}_seed{seed}'])}"


def curator(ctx: SweepContext, orig: np.ndarray) -> Curator:
    job, model = ctx.job, ctx.model
    # the gallery's breed command: this sweep's command into this --out_dir, less the flags
    # the page sets; none where the networks are not eq. (2)'s (lineages could not follow)
    page_sets = ("--mode=", "--parents=", "--cross=", "--children=", "--beta=")
    prefix = [a for a in shlex.split(model.command) if not a.startswith(page_sets)] + [f"--out_dir={job.out_dir}"]
    eq2 = job.perturbation.mode == "multiplicative" and not job.perturbation.effective
    return Curator(ctx.lay.out, title=model.title, settings=ctx.man.data, row_labels=list(ctx.lay.labels),
                   original=orig, files=ctx.lay.files, command=lambda s: regenerate_command(job, model.command, s),
                   score_with=job.score_with, score_weights=job.score_weights, enabled=job.gallery,
                   breed=shlex.join(prefix) if eq2 else "")  # fmt: skip


def _sweep(ctx: SweepContext, todo, cur: Curator, *, progress: bool) -> None:
    """Every process walks the chunks (each chunk's images on every process);
    process 0 writes them and records the networks whose files are written."""
    job, lay, writer, man, lo = ctx.job, ctx.lay, ctx.writer, ctx.man, ctx.loaded
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="net", desc="sweep")
    chunks = itertools.chain.from_iterable(engine.sweep_chunks(
        lo.gen, lo.params, part, lo.rows, lo.consts, root=job.root(), perturbation=job.perturbation,
        plan=engine.SweepPlan(**man.data["plan"]), gather=True, breeding=ctx.breeding(),
    ) for part in split(todo) if part)  # fmt: skip

    def write(got, imgs):
        got = [lineage.network_id(s) for s in got]  # lineages back to their strings
        for s, per_seed in zip(got, imgs, strict=True):
            writer.submit(s, lay.files(s), per_seed)
        cur.add(got, imgs)  # scores + thumbnails before the manifest may list the networks
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
    """Lists the networks whose files are all written; re-raises the first write error."""
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


def check(job: Job) -> None:
    """The engine's checks on a job alone, before any compute (creates nothing)."""
    if job.grid_columns < 1:
        raise UserError(f"grid columns must be >= 1, got {job.grid_columns}")
    cli.check_out_dir(job.out_dir)
