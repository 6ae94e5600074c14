"""A sweep written to disk: the paper's figure layout, every image, a manifest.

Library side of ``python -m biggan_jax`` (:mod:`biggan_jax.main` only
parses flags). Layout of ``out_dir``::

    manifest.json            settings, weights sha256, rows, finished seeds
    images/original/r000_<class>_l0.png         unperturbed generator
    images/seed_000007/r000_<class>_l0.png      network of seed 7
    grid.png (grid_001.png, ...)                rows = (class, latent),
                                                columns = seeds, far right θ*

Every image can be regenerated from the manifest: network = the settings'
perturbation with key ``fold_in(key(root_seed), seed)``; row r's latent is
``truncated_noise(fold_in(key(latent_seed), latent), 1, truncation)`` and its
class vector the row's class. Re-running with the same settings skips seeds
already written (resumable); different settings in the same directory are
refused, so finished work is never overwritten.

PNGs are encoded on worker threads (:class:`ImageWriter`) while the device
computes the next chunk; the manifest's ``seeds_done`` lists a seed only once
all its files are written (each file atomically).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import pathlib
import re
import threading
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from biggan_jax import hub
from biggan_jax.bn import BN_BATCH, with_bn
from biggan_jax.configs import BigGANConfig
from biggan_jax.layers import truncation_stat_selector
from biggan_jax.noise import truncated_noise
from biggan_jax.sharded import Perturbation, SweepPlan, sweep_chunks, sweep_plan
from neural_art import imagenet as cls
from neural_art import images as imio
from neural_art.atomic import write_json
from neural_art.curate import Curator

MANIFEST_VERSION = 1


@dataclasses.dataclass(frozen=True)
class SweepJob:
    """One sweep. ``root_seed`` is the CLI's ``--seed``: network k's key is
    ``fold_in(key(root_seed), k)``; ``writers``: PNG encoder threads (0: auto)."""

    weights: str
    classes: tuple[str | int, ...]
    seeds: tuple[int, ...]
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
    command: str = ""  # the regenerate command without --seeds / --out_dir


class ImageWriter:
    """Writes PNGs on worker threads, overlapped with device work.

    PIL's PNG encoder (zlib) and numpy's uint8 conversion release the GIL, so
    ``workers`` threads encode at once while the main thread waits on the
    device. At most ``max_pending`` submissions wait (``submit`` blocks beyond),
    so memory stays flat however long the sweep. :meth:`finished` returns the
    keys whose files are all written and re-raises the first write error.
    """

    def __init__(self, workers: int = 0, max_pending: int = 0):
        self.workers = workers or min(16, os.cpu_count() or 1)
        self._pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="png")
        self._room = threading.Semaphore(max_pending or 4 * self.workers)
        self._pending: list[tuple[object, concurrent.futures.Future]] = []

    def submit(self, key, paths: Sequence[pathlib.Path], images) -> None:
        """Queues ``images[i]`` (``[H, W, 3]`` in [-1, 1] or uint8) -> ``paths[i]``."""
        self._room.acquire()
        fut = self._pool.submit(lambda: [imio.save_image(p, im) for p, im in zip(paths, images, strict=True)])
        fut.add_done_callback(lambda _: self._room.release())
        self._pending.append((key, fut))

    def finished(self) -> list:
        keep, done = [], []
        for kf in self._pending:
            (done if kf[1].done() else keep).append(kf)
        self._pending = keep
        for _, f in done:
            f.result()
        return [k for k, _ in done]

    def wait(self) -> None:
        concurrent.futures.wait([f for _, f in self._pending])

    def map(self, fn: Callable, args: Sequence[tuple]) -> list:
        """``[fn(*a) for a in args]`` on the workers."""
        return list(self._pool.map(lambda a: fn(*a), args))

    def __enter__(self) -> ImageWriter:
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True)
        if exc[0] is None:
            self.finished()


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where a sweep's files go: one directory per seed, one file per row."""

    out: pathlib.Path
    rows: tuple[dict, ...]
    names: tuple[str, ...]

    def seed_dir(self, seed: int | None) -> pathlib.Path:
        return self.out / "images" / (f"seed_{seed:06d}" if seed is not None else "original")

    def complete(self, seed: int | None) -> bool:
        d = self.seed_dir(seed)
        return all((d / n).exists() for n in self.names)

    def files(self, seed: int | None) -> list[pathlib.Path]:
        return [self.seed_dir(seed) / n for n in self.names]


def slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_")[:40]


def layout(out_dir: str, ids: Sequence[int], latents: int) -> Layout:
    rows = tuple(
        {"row": r, "class_id": i, "class_name": cls.class_name(i), "latent": j}
        for r, (i, j) in enumerate((i, j) for i in ids for j in range(latents))
    )
    names = tuple(f"r{r['row']:03d}_{slug(r['class_name'])}_l{r['latent']}.png" for r in rows)
    return Layout(pathlib.Path(out_dir), rows, names)


def check_out_dir(out_dir: str) -> pathlib.Path:
    """``out_dir`` exists (created) and is writable; a file is refused."""
    out = pathlib.Path(out_dir)
    if out.is_file():
        raise ValueError(f"output dir {out} is a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise PermissionError(f"output dir {out} is not writable: {e}") from e
    return out


def validate(job: SweepJob) -> tuple[list[int], BigGANConfig | None]:
    """Every check that can fail, before any compute. Returns (class ids, config
    when known without loading)."""
    if job.precision not in ("float32", "bfloat16"):
        raise ValueError(f"precision must be float32 or bfloat16, got {job.precision!r}")
    if not 0.0 < job.truncation <= 1.0:
        raise ValueError(f"truncation must be in (0, 1], got {job.truncation}")
    if job.latents < 1:
        raise ValueError(f"latents per class must be >= 1, got {job.latents}")
    if job.grid_columns < 1:
        raise ValueError(f"grid columns must be >= 1, got {job.grid_columns}")
    ids = [cls.class_index(c) for c in job.classes]  # unknown names -> closest names
    if not ids:
        raise ValueError("no classes given")
    cfg = hub.config_for(job.weights)
    pert = job.perturbation
    if cfg is not None and pert.mode == "replace" and pert.block not in cfg.block_names:
        raise ValueError(
            f"unknown block {pert.block!r} for {cfg.name}; blocks are {', '.join(cfg.block_names)}"
        )
    check_out_dir(job.out_dir)
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
    }


def check_resume(manifest_path: pathlib.Path, new: dict) -> None:
    """Refuses a directory holding a sweep with other settings."""
    if not manifest_path.exists():
        return
    old = json.loads(manifest_path.read_text())
    old = {k: v for k, v in old.items() if k not in ("seeds_done", "rows", "images", "plan")}
    if old != new:
        diff = sorted(k for k in set(new) | set(old) if new.get(k) != old.get(k))
        raise ValueError(
            f"{manifest_path.parent} holds a sweep with other settings ({', '.join(diff)} differ); "
            "use another --out_dir (finished images are never overwritten)"
        )


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


def run(job: SweepJob, *, progress: bool = True) -> dict:
    """Runs (or resumes) the sweep; returns the manifest."""
    ids, _ = validate(job)
    lay = layout(job.out_dir, ids, job.latents)
    manifest_path = lay.out / "manifest.json"
    manifest = settings(job, ids)
    check_resume(manifest_path, manifest)
    # A seed is finished when all its images exist (on a pod slice each host holds its own seeds').
    todo = [s for s in job.seeds if not lay.complete(s)]
    manifest.update(rows=list(lay.rows), seeds_done=sorted(set(job.seeds) - set(todo)))
    cfg, params = hub.load(job.weights)
    z, y = latents(job, cfg, ids)
    bn_batch = bn_latents(job, cfg, ids) if job.perturbation.bn == "recompute" else None
    is_main = jax.process_index() == 0
    if todo:
        manifest["plan"] = plan_for(job, cfg, params, todo, z, y, bn_batch, manifest_path).as_dict()
    with ImageWriter(job.writers) as writer:
        orig = write_original(job, cfg, original_params(job, cfg, params, bn_batch), z, y, lay, writer)
        cur = curator(job, lay, manifest, orig) if is_main else None
        _sweep(job, cfg, params, z, y, todo, lay, writer, manifest, is_main and progress, cur, bn_batch)
    if is_main:
        finish(job, lay, manifest)
        if cur is not None:
            cur.write(manifest["seeds_done"], running=False)
    return manifest


def plan_for(job, cfg, params, todo, z, y, bn_batch, manifest_path) -> SweepPlan:
    """The manifest's plan on resume (same pixels), else a new one from the job."""
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text()).get("plan")
        if old:
            return SweepPlan(**old)
    return sweep_plan(cfg, params, todo, z, y, job.truncation, root=jax.random.key(job.root_seed),
                      perturbation=job.perturbation, dtype=job.precision, hf_compat=job.hf_compat,
                      strategy=job.strategy, group=job.group, chunk_size=job.chunk_size,
                      bn_batch=bn_batch)  # fmt: skip


def regenerate_command(job: SweepJob, seed) -> str:
    """The command that re-renders one network (add ``--latents`` / ``--classes`` to taste)."""
    base = job.command or f"python -m biggan_jax --weights={job.weights}"
    if seed is None:
        return f"{base} --seeds=0 --out_dir={job.out_dir}_more  # θ* is every grid's far-right column"
    return f"{base} --seeds={seed} --out_dir={job.out_dir.rstrip('/')}_seed{seed}"


def curator(job: SweepJob, lay: Layout, manifest: dict, orig: np.ndarray):
    return Curator(lay.out, title=f"BigGAN sweep {job.weights}", settings=manifest,
                   row_labels=[f"{r['class_name']} z{r['latent']}" for r in lay.rows], original=orig,
                   files=lay.files, command=lambda s: regenerate_command(job, s),
                   score_with=job.score_with, score_weights=job.score_weights, enabled=job.gallery)  # fmt: skip


def _sweep(job, cfg, params, z, y, todo, lay, writer, manifest, progress, cur, bn_batch) -> None:
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="net", desc="sweep")
    chunks = sweep_chunks(
        cfg, params, todo, z, y, job.truncation, root=jax.random.key(job.root_seed),
        perturbation=job.perturbation, dtype=job.precision, hf_compat=job.hf_compat,
        plan=SweepPlan(**manifest["plan"]), bn_batch=bn_batch,
    ) if todo else ()  # fmt: skip
    for got, imgs in chunks:
        for s, per_seed in zip(got, imgs, strict=True):
            writer.submit(s, lay.files(s), per_seed)
        record(manifest, writer.finished(), lay.out / "manifest.json")
        if cur is not None:
            cur.add(got, imgs)
            cur.write(sorted(set(manifest["seeds_done"]) | set(got)), running=True)
        if bar is not None:
            bar.update(len(got))
    writer.wait()
    record(manifest, writer.finished(), lay.out / "manifest.json")
    if bar is not None:
        bar.close()


def record(manifest: dict, seeds, manifest_path: pathlib.Path) -> None:
    """Adds the seeds whose files are all written to ``seeds_done`` (process 0 writes it)."""
    seeds = [s for s in seeds if s is not None]
    if seeds:
        manifest["seeds_done"] = sorted(set(manifest["seeds_done"]) | set(seeds))
        if jax.process_index() == 0:
            write_json(manifest_path, manifest)


def finish(job: SweepJob, lay: Layout, manifest: dict) -> None:
    """Final manifest and the grid pages (of the seeds whose images are on this host)."""
    present = [s for s in job.seeds if lay.complete(s)]
    manifest["seeds_done"] = sorted(set(manifest["seeds_done"]) | set(present))
    write_json(lay.out / "manifest.json", manifest)
    if len(present) < len(job.seeds):
        print(
            f"grid shows the {len(present)} of {len(job.seeds)} seeds whose images are on this "
            "host; gather all hosts' images into one directory and re-run the command to redraw it"
        )
    write_grids(lay, present, job.grid_columns, workers=job.writers)


def write_grids(lay: Layout, seeds: Sequence[int], columns: int, *, workers: int = 0) -> list[pathlib.Path]:
    """Figure layout: rows = (class, latent), columns = seeds, far right θ*.
    One page per ``columns`` seeds: grid.png, grid_001.png, ... (pages encoded in parallel)."""
    read = lambda s: np.stack([imio.load_image(p) for p in lay.files(s)])
    labels = [f"{r['class_name']} z{r['latent']}" for r in lay.rows]
    orig = read(None)

    def page(p: int, start: int) -> pathlib.Path:
        cols = list(seeds[start : start + columns])
        grid = np.stack([read(s) for s in cols] + [orig], axis=1)  # [rows, cols, H, W, 3]
        path = lay.out / ("grid.png" if p == 0 else f"grid_{p:03d}.png")
        return imio.save_grid(path, grid, row_labels=labels, value_range=(0.0, 1.0),
                              col_labels=[f"seed {s}" for s in cols] + ["original"])  # fmt: skip

    with ImageWriter(workers) as pool:
        return pool.map(page, list(enumerate(range(0, len(seeds), columns))))
