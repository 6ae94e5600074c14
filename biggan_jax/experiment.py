"""A BigGAN sweep written to disk: the paper's figure layout, every image, a manifest.

Library side of ``python -m biggan_jax`` (:mod:`biggan_jax.main` only parses
flags); the sweep itself is the one engine every generator shares
(:mod:`neural_art.sweep`): BigGAN supplies its generator
(:class:`biggan_jax.sharded.BigGANGenerator`), rows (class x latent) and settings
(:func:`model`). Layout of ``out_dir``::

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
an uninterrupted run would (a killed run, a full disk: :mod:`neural_art.sweep.outputs`);
different settings in the same directory are refused, so finished work is never
overwritten. A write error ends the run with one line naming the file and what
was kept.

PNGs are encoded on worker threads (:class:`ImageWriter`) while the device
computes the next chunk; the manifest's ``seeds_done`` lists a seed only once
all its files are written (each file atomically). Over several processes
(``--multihost``) every process computes its share of each chunk and process 0
writes the one output directory (:mod:`neural_art.sweep.multihost`).
"""

from __future__ import annotations

import dataclasses
import functools
import shlex
from collections.abc import Sequence

import jax
import numpy as np

from biggan_jax import hub
from biggan_jax.bn import BN_BATCH
from biggan_jax.configs import BigGANConfig
from biggan_jax.model import param_shapes
from biggan_jax.noise import truncated_noise
from biggan_jax.sharded import inputs
from neural_art import lineage
from neural_art import imagenet as cls
from neural_art import sweep
from neural_art.errors import UserError
from neural_art.sweep.networks import Perturbation
from neural_art.sweep.outputs import slug

__all__ = ["SweepJob", "latents", "model", "run", "settings", "validate"]


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
    strategy: str | None = None  # None: neural_art.sweep.engine.default_strategy
    group: int | None = None
    gallery: bool = True
    score_with: str = ""
    score_weights: str = ""  # --score_weights: the spec a factory hook reads (neural_art.scores)
    command: str = ""  # the regenerate command without --seeds / --out_dir (shell-quoted: shlex.join)
    breeding: lineage.Breeding | None = None  # how lineages are bred (recorded when given)

    def engine_job(self) -> sweep.Job:
        """The flags every generator's sweep shares."""
        return sweep.Job(out_dir=self.out_dir, seeds=self.seeds, perturbation=self.perturbation,
                         root_seed=self.root_seed, chunk_size=self.chunk_size, grid_columns=self.grid_columns,
                         writers=self.writers, strategy=self.strategy, group=self.group, gallery=self.gallery,
                         score_with=self.score_with, score_weights=self.score_weights, breeding=self.breeding)  # fmt: skip


def validate(job: SweepJob) -> tuple[list[int], BigGANConfig | None]:
    """Every check that can fail, before any compute. Returns (class ids, config
    when known without loading)."""
    if job.precision not in ("float32", "bfloat16"):
        raise UserError(f"precision must be float32 or bfloat16, got {job.precision!r}")
    if not 0.0 < job.truncation <= 1.0:
        raise UserError(f"truncation must be in (0, 1], got {job.truncation}")
    if job.latents < 1:
        raise UserError(f"latents per class must be >= 1, got {job.latents}")
    ids = [cls.class_index(c) for c in job.classes]  # unknown names -> closest names
    if not ids:
        raise UserError("no classes given")
    cfg = hub.config_for(job.weights)
    pert = job.perturbation
    if cfg is not None and pert.mode == "replace" and pert.block not in cfg.block_names:
        raise UserError(
            f"unknown block {pert.block!r} for {cfg.name}; blocks are {', '.join(cfg.block_names)}"
        )
    sweep.driver.check(job.engine_job())  # creates nothing: the driver creates out_dir once the weights loaded
    return ids, cfg


def model_settings(job: SweepJob, ids: Sequence[int]) -> dict:
    """BigGAN's part of the manifest's settings (:func:`neural_art.sweep.driver.settings`)."""
    return {
        **hub.provenance(job.weights),
        "truncation": job.truncation,
        "hf_compat": job.hf_compat,
        "precision": job.precision,
        "latent_seed": job.latent_seed,
        "classes": [{"id": i, "name": cls.class_name(i)} for i in ids],
        "latents_per_class": job.latents,
        **({"bn_batch": BN_BATCH} if job.perturbation.bn == "recompute" else {}),
    }


def settings(job: SweepJob, ids: Sequence[int]) -> dict:
    """The manifest's settings: a re-run must match them to resume."""
    return sweep.driver.settings(job.engine_job(), model(job, ids, None))


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


def loaded(job: SweepJob, cfg: BigGANConfig, params, ids: Sequence[int], *, one_row: bool = False) -> sweep.Loaded:  # fmt: skip
    """The engine's view of BigGAN ``cfg`` with ``params`` (weights or their shapes);
    ``one_row``: one row of zeros (a memory plan's example: only its shape is read)."""
    bn = bn_latents(job, cfg, ids) if job.perturbation.bn == "recompute" else None
    one = (np.zeros((1, cfg.z_dim), np.float32), np.zeros((1, cfg.num_classes), np.float32))
    z, y = one if one_row else latents(job, cfg, ids)
    gen, rows, consts = inputs(cfg, z, y, job.truncation, perturbation=job.perturbation, dtype=job.precision,
                               hf_compat=job.hf_compat, bn_batch=bn)  # fmt: skip
    return sweep.Loaded(gen, params, rows, consts)


def describe(job: SweepJob, ids: Sequence[int]) -> tuple:
    """``(rows, file names, labels)``: rows = (class, latent), class-major."""
    rows = tuple({"row": r, "class_id": i, "class_name": cls.class_name(i), "latent": j}
                 for r, (i, j) in enumerate((i, j) for i in ids for j in range(job.latents)))  # fmt: skip
    return (rows, tuple(f"r{r['row']:03d}_{slug(r['class_name'])}_l{r['latent']}.png" for r in rows),
            tuple(f"{r['class_name']} z{r['latent']}" for r in rows))  # fmt: skip


def model(job: SweepJob, ids: Sequence[int], cfg: BigGANConfig | None) -> sweep.Model:
    """What BigGAN supplies to the engine (``cfg``: when known without loading)."""
    weights = functools.cache(lambda: hub.load(job.weights))  # loaded once, by whichever needs it first

    def abstract():  # a known architecture's shapes need no weights
        c, params = (cfg, param_shapes(cfg)) if cfg is not None else weights()
        return loaded(job, c, params, ids, one_row=True)

    return sweep.Model(
        title=f"BigGAN sweep {job.weights}",
        command=base_command(job),
        settings=model_settings(job, ids), n_rows=len(ids) * job.latents, describe=lambda: describe(job, ids),
        load=lambda: loaded(job, *weights(), ids), abstract=abstract, rows_flag="latents", rows_unit=len(ids),
    )  # fmt: skip


def run(job: SweepJob, *, progress: bool = True, checked: tuple | None = None) -> dict:
    """Runs (or resumes) the sweep (:func:`neural_art.sweep.driver.run`); returns the manifest.
    ``checked``: :func:`validate`'s result where the caller has it (else it is called here)."""
    ids, cfg = checked or validate(job)
    return sweep.run(job.engine_job(), model(job, ids, cfg), progress=progress)


def base_command(job: SweepJob) -> str:
    """The sweep's command without ``--seeds`` / ``--out_dir``."""
    return job.command or shlex.join(["python", "-m", "biggan_jax", f"--weights={job.weights}"])


def regenerate_command(job: SweepJob, seed) -> str:
    """The command that re-renders one network (add ``--latents`` / ``--classes`` to taste)."""
    return sweep.driver.regenerate_command(job.engine_job(), base_command(job), seed)


def check_rows(job: SweepJob, cfg: BigGANConfig, params, ids: Sequence[int]) -> None:
    """Refuses ``--latents`` when one network's rows (classes x latents) cannot fit the
    device (:func:`neural_art.sweep.driver.check_rows`); ``params``: the weights or
    their shapes (:func:`biggan_jax.model.param_shapes`: no weights need loading)."""
    sweep.driver.check_rows(job.engine_job(), model(job, ids, cfg), loaded(job, cfg, params, ids))
