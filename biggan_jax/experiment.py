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
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
from collections.abc import Sequence

import jax
import numpy as np

from biggan_jax.configs import BigGANConfig, get_config
from biggan_jax.noise import truncated_noise
from biggan_jax.sharded import Perturbation, parse_seeds, sweep_chunks
from neural_art import imagenet as cls
from neural_art import images as imio

MANIFEST_VERSION = 1


@dataclasses.dataclass(frozen=True)
class SweepJob:
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


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_")[:40]


def _config_for(weights: str) -> BigGANConfig | None:
    """The architecture named by ``weights`` without loading it, when known."""
    if weights.startswith("random"):
        parts = weights.split(":")
        cfg = get_config(parts[1] if len(parts) > 1 else "biggan-deep-256")
        return cfg.replace(channel_width=int(parts[2])) if len(parts) > 2 else cfg
    try:
        return get_config(weights)
    except ValueError:
        return None


def validate(job: SweepJob) -> tuple[list[int], np.ndarray]:
    """Every check that can fail, before any compute. Returns (class ids, y rows)."""
    if job.precision not in ("float32", "bfloat16"):
        raise ValueError(f"precision must be float32 or bfloat16, got {job.precision!r}")
    if not 0.0 < job.truncation <= 1.0:
        raise ValueError(f"truncation must be in (0, 1], got {job.truncation}")
    if job.latents < 1:
        raise ValueError(f"latents per class must be >= 1, got {job.latents}")
    ids = [cls.class_index(c) for c in job.classes]  # unknown names -> closest names
    if not ids:
        raise ValueError("no classes given")
    cfg = _config_for(job.weights)
    if (
        cfg is not None
        and job.perturbation.mode == "replace"
        and job.perturbation.block not in cfg.block_names
    ):
        raise ValueError(
            f"unknown block {job.perturbation.block!r} for {cfg.name}; blocks are {', '.join(cfg.block_names)}"
        )
    out = pathlib.Path(job.out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise PermissionError(f"output dir {out} is not writable: {e}") from e
    return ids, cls.class_vector(ids)


def _weights_info(weights: str) -> dict:
    info = {"weights": weights, "weights_sha256": None}
    if weights.startswith("random"):
        return info
    from biggan_jax.hub import RELEASES

    if weights in RELEASES:
        info["weights_sha256"] = RELEASES[weights].weights.sha256
        info["weights_url"] = RELEASES[weights].weights.url
        return info
    p = pathlib.Path(weights)
    if (p / "metadata.json").exists():
        info["weights_sha256"] = json.loads((p / "metadata.json").read_text()).get("source_sha256")
    elif p.is_file():
        from neural_art.fetch import sha256_file

        info["weights_sha256"] = sha256_file(p)
    return info


def _settings(job: SweepJob, ids: Sequence[int]) -> dict:
    pert = dataclasses.asdict(job.perturbation)
    pert["include"] = list(pert["include"])
    return {
        "version": MANIFEST_VERSION,
        **_weights_info(job.weights),
        "perturbation": pert,
        "truncation": job.truncation,
        "hf_compat": job.hf_compat,
        "precision": job.precision,
        "root_seed": job.root_seed,
        "latent_seed": job.latent_seed,
        "classes": [{"id": i, "name": cls.class_name(i)} for i in ids],
        "latents_per_class": job.latents,
    }


def _write_json(path: pathlib.Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


def _load_model(weights: str):
    from biggan_jax.hub import load
    from biggan_jax.model import init_params

    if weights.startswith("random"):
        cfg = _config_for(weights)
        return cfg, init_params(cfg, jax.random.key(0))
    return load(weights)


def run(job: SweepJob, *, progress: bool = True) -> dict:
    """Runs (or resumes) the sweep; returns the manifest."""
    ids, y_cls = validate(job)
    out = pathlib.Path(job.out_dir)
    settings = _settings(job, ids)
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        old_settings = {k: v for k, v in old.items() if k not in ("seeds_done", "rows", "images")}
        if old_settings != settings:
            diff = sorted(
                k
                for k in set(settings) | set(old_settings)
                if settings.get(k) != old_settings.get(k)
            )
            raise ValueError(
                f"{out} holds a sweep with other settings ({', '.join(diff)} differ); "
                "use another --out_dir (finished images are never overwritten)"
            )

    rows = [
        {"row": r, "class_id": i, "class_name": cls.class_name(i), "latent": j}
        for r, (i, j) in enumerate((i, j) for i in ids for j in range(job.latents))
    ]
    names = [f"r{r['row']:03d}_{_slug(r['class_name'])}_l{r['latent']}.png" for r in rows]
    seed_dir = lambda s: out / "images" / (f"seed_{s:06d}" if s is not None else "original")
    complete = lambda s: all((seed_dir(s) / n).exists() for n in names)
    # A seed is finished when all its images exist (on a pod slice each host holds its own seeds').
    seeds = [s for s in job.seeds if not complete(s)]
    done = [s for s in job.seeds if s not in seeds]

    cfg, params = _load_model(job.weights)
    lat_root = jax.random.key(job.latent_seed)
    z_lat = np.concatenate(
        [
            np.asarray(
                truncated_noise(jax.random.fold_in(lat_root, j), 1, job.truncation, cfg.z_dim)
            )
            for j in range(job.latents)
        ]
    )
    z = np.concatenate([z_lat] * len(ids))
    y = np.repeat(y_cls, job.latents, axis=0)
    is_main = jax.process_index() == 0

    orig_dir = seed_dir(None)
    if is_main and not all((orig_dir / n).exists() for n in names):
        import jax.numpy as jnp

        from biggan_jax.model import generate

        imgs = np.asarray(
            generate(
                cfg,
                params,
                z,
                y,
                job.truncation,
                hf_compat=job.hf_compat,
                dtype=jnp.dtype(job.precision),
            )
        )
        for n, im in zip(names, imgs, strict=True):
            imio.save_image(orig_dir / n, im)

    manifest = {**settings, "rows": rows, "seeds_done": sorted(done)}
    bar = None
    if progress and is_main and seeds:
        from tqdm import tqdm

        bar = tqdm(total=len(seeds), unit="net", desc="sweep")
    if seeds:
        for got, imgs in sweep_chunks(
            cfg,
            params,
            seeds,
            z,
            y,
            job.truncation,
            root=jax.random.key(job.root_seed),
            perturbation=job.perturbation,
            dtype=job.precision,
            chunk_size=job.chunk_size,
            hf_compat=job.hf_compat,
        ):
            for s, per_seed in zip(got, imgs, strict=True):
                for n, im in zip(names, per_seed, strict=True):
                    imio.save_image(seed_dir(s) / n, im)
            manifest["seeds_done"] = sorted(set(manifest["seeds_done"]) | set(got))
            if is_main:
                _write_json(manifest_path, manifest)
            if bar is not None:
                bar.update(len(got))
    if bar is not None:
        bar.close()
    if is_main:
        present = [s for s in job.seeds if complete(s)]
        manifest["seeds_done"] = sorted(set(manifest["seeds_done"]) | set(present))
        _write_json(manifest_path, manifest)
        if len(present) < len(job.seeds):
            print(
                f"grid shows the {len(present)} of {len(job.seeds)} seeds whose images are on this "
                "host; gather all hosts' images into one directory and re-run the command to redraw it"
            )
        write_grids(out, present, names, rows, job.grid_columns)
    return manifest


def write_grids(
    out: pathlib.Path, seeds: Sequence[int], names: Sequence[str], rows, columns: int
) -> list[pathlib.Path]:
    """Figure layout: rows = (class, latent), columns = seeds, far right θ*.
    One page per ``columns`` seeds: grid.png, grid_001.png, ..."""
    from PIL import Image

    def read(d: pathlib.Path):
        return np.stack([np.asarray(Image.open(d / n).convert("RGB")) for n in names])

    orig = read(out / "images" / "original")
    pages = []
    for p, start in enumerate(range(0, len(seeds), columns)):
        page = list(seeds[start : start + columns])
        cols = [read(out / "images" / f"seed_{s:06d}") for s in page] + [orig]
        grid = np.stack(cols, axis=1)  # [rows, cols, H, W, 3]
        path = out / ("grid.png" if p == 0 else f"grid_{p:03d}.png")
        imio.save_grid(
            path,
            grid,
            row_labels=[f"{r['class_name']} z{r['latent']}" for r in rows],
            col_labels=[f"seed {s}" for s in page] + ["original"],
        )
        pages.append(path)
    return pages


def seeds_from(spec: str) -> tuple[int, ...]:
    return tuple(parse_seeds(spec))
