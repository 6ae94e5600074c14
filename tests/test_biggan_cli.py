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
    # the CLI's own XLA cache (not the test run's shared one): the resume run reuses it
    cache = {"NEURAL_ART_JAX_CACHE": str(tmp_path / "cache"), "JAX_COMPILATION_CACHE_DIR": ""}
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

    cfg = biggan_jax.hub.config_for(manifest["weights"])
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
        (["--alpha=nan"], "--alpha must be finite"),
        (["--truncation=0"], "--truncation must be in (0, 1]"),
        (["--truncation=1.5"], "--truncation must be in (0, 1]"),
        (["--grid_columns=0"], "--grid_columns must be >= 1"),
        (["--seeds=0-9999999"], "at most"),
        (["--weights=random:biggan-deep-99"], "unknown config"),
        (["--weights=/no/such/file.bin"], "is not a release"),
        (["--classes=1000"], "out of range"),
    ],
)
def test_cli_bad_input_fails_before_compute(tmp_path, flags, message):
    args = [*SMOKE, "--seeds=0-1", f"--out_dir={tmp_path / 'o'}", *flags]
    r = _run(args)
    assert r.returncode == 2 and message in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and r.stderr.strip().startswith("error: ")
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "o" / "images").exists()


def test_cli_unwritable_out_dir(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    r = _run([*SMOKE, "--seeds=0", f"--out_dir={f / 'sub'}"])
    assert r.returncode != 0 and "not writable" in r.stderr


def test_out_dir_that_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    r = _run([*SMOKE, "--seeds=0", f"--out_dir={f}"])
    assert r.returncode != 0 and "is a file" in r.stderr and "Traceback" not in r.stderr


def test_load_random_with_width_and_config_without_loading():
    import jax

    import biggan_jax
    from biggan_jax import hub

    cfg, params = biggan_jax.load("random:biggan-deep-128:8")
    assert cfg == biggan_jax.BIGGAN_DEEP_128.replace(channel_width=8)
    assert hub.config_for("random:biggan-deep-128:8") == cfg
    again = biggan_jax.init_params(cfg, jax.random.key(0))  # seed=0 init
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert hub.config_for("random") == biggan_jax.BIGGAN_DEEP_256
    assert hub.config_for("biggan-deep-512") == biggan_jax.BIGGAN_DEEP_512
    assert hub.provenance("random:biggan-deep-128:8") == {
        "weights": "random:biggan-deep-128:8", "weights_sha256": None}
    rel = hub.provenance("biggan-deep-256")
    assert rel["weights_sha256"] == biggan_jax.RELEASES["biggan-deep-256"].weights.sha256


def test_config_json_beside_a_bin_is_found_once(tmp_path):
    from biggan_jax import hub

    cfg = hub.config_for("random:biggan-deep-128:8")
    fake = b"PK\x03\x04"  # a torch.save (zip) header: enough for the checkpoint sniff
    (tmp_path / "notes.bin").write_text("not weights")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        hub.config_for(tmp_path / "notes.bin")
    (tmp_path / "biggan-deep-128-pytorch_model.bin").write_bytes(fake)
    with pytest.raises(FileNotFoundError, match="no config.json beside it"):
        hub.config_for(tmp_path / "biggan-deep-128-pytorch_model.bin")
    (tmp_path / "biggan-deep-128-config.json").write_text(json.dumps(cfg.to_hf_dict()))
    got = hub.config_for(tmp_path / "biggan-deep-128-pytorch_model.bin")
    assert got.to_hf_dict() == cfg.to_hf_dict()
    d = tmp_path / "d"
    d.mkdir()
    (d / "pytorch_model.bin").write_bytes(fake)
    (d / "config.json").write_text(json.dumps(cfg.to_hf_dict()))
    assert hub.parse(d).kind == "file" and hub.config_for(d).to_hf_dict() == cfg.to_hf_dict()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither converted weights"):
        hub.parse(tmp_path / "empty")


def test_image_writer_reports_seeds_only_when_written_and_bounds_the_queue(tmp_path, monkeypatch):
    import threading

    from biggan_jax.experiment import ImageWriter

    gate = threading.Event()
    calls = []
    orig = images.save_image

    def slow(path, im):
        calls.append(path)
        gate.wait(10)
        return orig(path, im)

    img = np.zeros((2, 8, 8, 3), np.float32)
    monkeypatch.setattr(images, "save_image", slow)
    with ImageWriter(workers=2, max_pending=2) as w:
        w.submit(0, [tmp_path / "0" / "a.png", tmp_path / "0" / "b.png"], img)
        w.submit(1, [tmp_path / "1" / "a.png", tmp_path / "1" / "b.png"], img)
        blocked = threading.Thread(target=w.submit, args=(2, [tmp_path / "2" / "a.png"], img[:1]))
        blocked.start()
        blocked.join(0.3)
        assert blocked.is_alive()  # the queue is full: submit waits
        assert w.finished() == [] and not list(tmp_path.rglob("*.png"))
        gate.set()
        blocked.join(10)
        w.wait()
        assert sorted(w.finished()) == [0, 1, 2]
    assert len(list(tmp_path.rglob("*.png"))) == 5
    assert not list(tmp_path.rglob("*.tmp"))


def test_image_writer_raises_a_write_error(tmp_path):
    from biggan_jax.experiment import ImageWriter

    (tmp_path / "f").write_text("x")  # a file where a directory must go
    with pytest.raises(OSError):
        with ImageWriter(workers=1) as w:
            w.submit(0, [tmp_path / "f" / "a.png"], np.zeros((1, 4, 4, 3), np.float32))
            w.wait()
            w.finished()
