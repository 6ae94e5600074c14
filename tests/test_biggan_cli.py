"""The sweep CLI (python -m biggan_jax, run in-process by tests/cli_harness.py) end
to end: manifest, exact regeneration, resume, refusals, errors before compute."""

import json
import shutil

import numpy as np
import pytest
from cli_harness import assert_one_line_error, run_cli
from fixtures_biggan import BIGGAN_SWEEP_ARGV
from PIL import Image

from biggan_jax.sharded import Perturbation
from neural_art import images

SMOKE = ["--weights=random:biggan-deep-128:4", "--classes=volcano,espresso", "--latents=1"]


def test_cli_sweep_manifest_images_and_exact_regeneration(biggan_cli_sweep):
    out, r = biggan_cli_sweep
    assert "wrote 3 networks x 2 images" in r.out
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
        params, jax.random.fold_in(jax.random.key(manifest["root_seed"]), 2), hooks=biggan_jax.perturb.HOOKS
    )
    rows = manifest["rows"]  # both rows at once (a batch of 2, as the other BigGAN tests)
    z = jax.numpy.concatenate([biggan_jax.truncated_noise(
        jax.random.fold_in(jax.random.key(manifest["latent_seed"]), row["latent"]), 1, 0.5)
        for row in rows])  # fmt: skip
    img = biggan_jax.generate(cfg, theta, z, biggan_jax.class_vector([r["class_id"] for r in rows]), 0.5)
    for i, name in enumerate(("r000_volcano_l0.png", "r001_espresso_l0.png")):
        png = np.asarray(Image.open(out / "images" / "seed_000002" / name)).astype(np.float32)
        assert np.abs(images.to_uint8(np.asarray(img[i])) - png).max() <= 1


def test_cli_resume_skips_finished_seeds_and_refuses_other_settings(biggan_cli_sweep, tmp_path):
    out = tmp_path / "sweep"
    shutil.copytree(biggan_cli_sweep[0], out)  # copy2: modification times kept
    before = {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.png")}
    # Resume: existing seeds are skipped (files untouched), new ones added.
    r = run_cli("biggan_jax", [*BIGGAN_SWEEP_ARGV[:2], "--seeds=0-3", *BIGGAN_SWEEP_ARGV[3:],
                               f"--out_dir={out}"])  # fmt: skip
    assert r.code == 0, r.err[-3000:]
    assert "wrote 4 networks x 2 images" in r.out
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert json.loads((out / "manifest.json").read_text())["seeds_done"] == [0, 1, 2, 3]
    assert len(list((out / "images" / "seed_000003").glob("*.png"))) == 2

    # Other settings in the same directory: refused, nothing overwritten.
    manifest = (out / "manifest.json").read_bytes()
    r = run_cli("biggan_jax", [*SMOKE, "--seeds=0-3", f"--out_dir={out}", "--alpha=0.5",
                               "--truncation=0.5"])  # fmt: skip
    line = assert_one_line_error(r, (1,), "other settings")
    assert "perturbation" in line
    assert (out / "manifest.json").read_bytes() == manifest
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_cli_sets_its_own_compilation_cache_unless_one_is_configured(tmp_path, monkeypatch):
    """A re-run (resume) reuses compiled programs: the CLI points JAX's persistent
    cache at $NEURAL_ART_JAX_CACHE/xla, and leaves a cache the user configured alone."""
    import jax

    from neural_art import cli

    configured = jax.config.jax_compilation_cache_dir
    monkeypatch.setenv("NEURAL_ART_JAX_CACHE", str(tmp_path / "cache"))
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        cli.use_compilation_cache()
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "cache" / "xla")
        jax.config.update("jax_compilation_cache_dir", str(tmp_path / "mine"))
        cli.use_compilation_cache()
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "mine")
    finally:
        jax.config.update("jax_compilation_cache_dir", configured)


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
    r = run_cli("biggan_jax", [*SMOKE, "--seeds=0-1", f"--out_dir={tmp_path / 'o'}", *flags])
    assert_one_line_error(r, (2,), message)
    assert r.err.strip().startswith("error: ") and len(r.err.strip().splitlines()) == 1, r.err
    assert not (tmp_path / "o" / "images").exists()


def test_cli_out_dir_below_a_file(tmp_path):
    """The one check every CLI shares (``neural_art.cli.check_out_dir``): a bad flag, exit 2."""
    f = tmp_path / "file.txt"
    f.write_text("x")
    r = run_cli("biggan_jax", [*SMOKE, "--seeds=0", f"--out_dir={f / 'sub'}"])
    assert_one_line_error(r, (2,), f"{f} is a file, not a directory")
    assert f.read_text() == "x"


def test_out_dir_that_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    r = run_cli("biggan_jax", [*SMOKE, "--seeds=0", f"--out_dir={f}"])
    assert_one_line_error(r, (2,), "is a file")
    assert f.read_text() == "x"


def test_load_random_with_width_and_config_without_loading(tiny_biggan):
    import jax

    import biggan_jax
    from biggan_jax import hub

    cfg, params = tiny_biggan  # biggan_jax.load("random:biggan-deep-128:4")
    assert cfg == biggan_jax.BIGGAN_DEEP_128.replace(channel_width=4)
    assert hub.config_for("random:biggan-deep-128:4") == cfg
    assert hub.config_for("random:biggan-deep-128:8") == cfg.replace(channel_width=8)
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

    from neural_art.sweep.outputs import ImageWriter

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
    from neural_art.sweep.outputs import ImageWriter

    (tmp_path / "f").write_text("x")  # a file where a directory must go
    with pytest.raises(OSError):
        with ImageWriter(workers=1) as w:
            w.submit(0, [tmp_path / "f" / "a.png"], np.zeros((1, 4, 4, 3), np.float32))
            w.wait()
            w.finished()
