"""The sweep CLI (python -m biggan_jax) end to end: resume, regenerate, errors."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from biggan_jax.sharded import Perturbation
from neural_art import images

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", **kw.pop("env", {})}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=900, **kw
    )


SMOKE = [
    "-m",
    "biggan_jax",
    "--weights=random:biggan-deep-128:4",
    "--classes=volcano,espresso",
    "--latents=1",
]


def test_cli_end_to_end_resume_and_regenerate(tmp_path):
    out = tmp_path / "sweep"
    cache = {
        "NEURAL_ART_JAX_CACHE": str(tmp_path / "cache")
    }  # the CLI's XLA cache: the resume run reuses it
    r = _run(
        [*SMOKE, "--seeds=0-2", f"--out_dir={out}", "--chunk_size=2", "--truncation=0.5"], env=cache
    )
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seeds_done"] == [0, 1, 2] and len(manifest["rows"]) == 2
    assert (
        manifest["perturbation"]["alpha"] == 0.35
        and manifest["weights"] == "random:biggan-deep-128:4"
    )
    files = sorted(p.relative_to(out).as_posix() for p in (out / "images").rglob("*.png"))
    assert len(files) == 8 and "images/original/r000_volcano_l0.png" in files
    grid = np.asarray(Image.open(out / "grid.png"))
    assert grid.shape[1] > 4 * 128 and grid.shape[0] > 2 * 128  # 2 rows x (3 seeds + original)

    # Regenerate one image exactly from the manifest.
    import jax

    import biggan_jax
    from biggan_jax.experiment import _config_for

    cfg = _config_for(manifest["weights"])
    params = biggan_jax.init_params(cfg, jax.random.key(0))
    theta = Perturbation(**{**manifest["perturbation"], "include": ()}).apply(
        params, jax.random.fold_in(jax.random.key(manifest["root_seed"]), 2)
    )
    row = manifest["rows"][1]
    z = biggan_jax.truncated_noise(
        jax.random.fold_in(jax.random.key(manifest["latent_seed"]), row["latent"]), 1, 0.5
    )
    img = biggan_jax.generate(cfg, theta, z, biggan_jax.class_vector([row["class_id"]]), 0.5)
    png = np.asarray(Image.open(out / "images" / "seed_000002" / "r001_espresso_l0.png")).astype(
        np.float32
    )
    assert np.abs(images.to_uint8(np.asarray(img[0])) - png).max() <= 1

    # Resume: existing seeds are skipped (files untouched), new ones added.
    before = (out / "images/seed_000001/r000_volcano_l0.png").stat().st_mtime_ns
    r = _run(
        [*SMOKE, "--seeds=0-3", f"--out_dir={out}", "--chunk_size=2", "--truncation=0.5"], env=cache
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert list((tmp_path / "cache" / "xla").iterdir())
    assert (out / "images/seed_000001/r000_volcano_l0.png").stat().st_mtime_ns == before
    assert json.loads((out / "manifest.json").read_text())["seeds_done"] == [0, 1, 2, 3]

    # Other settings in the same directory: refused, nothing overwritten.
    r = _run([*SMOKE, "--seeds=0-3", f"--out_dir={out}", "--alpha=0.5", "--truncation=0.5"])
    assert r.returncode != 0 and "other settings" in r.stderr and "perturbation" in r.stderr


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--classes=volcano,espreso"], "unknown ImageNet class 'espreso'"),
        (["--seeds=0-x"], "malformed seed range"),
        (["--alpha=-0.2"], "alpha must be"),
        (["--mode=replace", "--block=B42"], "unknown block 'B42'"),
    ],
)
def test_cli_bad_input_fails_before_compute(tmp_path, flags, message):
    args = [*SMOKE, "--seeds=0-1", f"--out_dir={tmp_path / 'o'}", *flags]
    r = _run(args)
    assert r.returncode != 0 and message in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / "o" / "images").exists()


def test_cli_unwritable_out_dir(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    r = _run([*SMOKE, "--seeds=0", f"--out_dir={f / 'sub'}"])
    assert r.returncode != 0 and "not writable" in r.stderr
