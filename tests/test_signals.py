"""Ctrl-C ends each long-running CLI with one line and exit 130, the files finished
before it kept whole (in process: SIGINT raised right after the first image is
written, with Python's default handler, as a new process has it): style transfer
(one image and --mode=sweep), featvis; the featvis autoencoder
trainer as its first step starts (no decoder.npz); weights_convert.vgg --normalise
after its first batch (no --out_dir); a BigGAN walk after its first frame. None of
these resume, so none says it does.
The sweeps' SIGINT and SIGTERM tests (BigGAN's and the DCGAN's: one engine), with
resume, are in test_sweep_faults.py; DCGAN training's (a checkpoint at the next step, then exit 0)
in test_dcgan_train.py."""

from __future__ import annotations

import pathlib
import signal

import pytest
from cli_harness import assert_one_line_error, run_cli
from PIL import Image
from test_golden import CASES, ROOT, _pictures

from neural_art import curate, images

LONG_RUNNING = ("style", "featvis_vgg")  # the golden cases' tiny runs


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_sigint_after_the_first_image_keeps_it(name, tmp_path, monkeypatch):
    module, argv = CASES[name]
    pics, out = _pictures(tmp_path), tmp_path / name
    written = _interrupt_after_first_image(monkeypatch, images)
    r = _interrupted(module, [a.format(out=out, pics=pics) for a in argv], tmp_path)
    line = assert_one_line_error(r, (130,), "interrupted (SIGINT); finished files are kept")
    assert "resume" not in line  # these tools cannot resume: no promise
    assert written and written[0].is_relative_to(out)
    Image.open(written[0]).load()  # whole
    assert not list(out.rglob("*.tmp"))


def _interrupt_after_first_image(monkeypatch, *modules) -> list[pathlib.Path]:
    """Each module's ``save_image`` raises SIGINT right after the first image is
    written whole; returns the list of images written."""
    written, save = [], images.save_image

    def save_then_interrupt(path, *a, **kw):
        got = save(path, *a, **kw)
        written.append(pathlib.Path(path))
        if len(written) == 1:
            signal.raise_signal(signal.SIGINT)
        return got

    for m in modules:
        monkeypatch.setattr(m, "save_image", save_then_interrupt)
    return written


def _interrupted(module, argv, tmp_path):
    """Runs ``module argv`` in process with Python's default SIGINT handler."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run_cli(module, argv, env={"NEURAL_ART_JAX_CACHE": str(tmp_path / "cache")}, cwd=ROOT)
    finally:
        signal.signal(signal.SIGINT, old)


def test_sigint_in_a_style_sweep_keeps_the_first_image(tmp_path, monkeypatch):
    """--mode=sweep writes its files one by one (atomically) after the vmapped run."""
    pics, out = _pictures(tmp_path), tmp_path / "sweep"
    written = _interrupt_after_first_image(monkeypatch, images)
    r = _interrupted("styletransfer", [
        "--weights=random:vgg19:8", f"--content={pics}/content.png", f"--style={pics}/style.png",
        "--mode=sweep", "--ratios=1e-3,1e-1", "--size=32", "--steps=2", "--optimizer=adam",
        "--style_layers=conv1_1", "--content_layers=conv2_2", f"--out_dir={out}", "--noprogress",
    ], tmp_path)  # fmt: skip
    line = assert_one_line_error(r, (130,), "interrupted (SIGINT); finished files are kept")
    assert "resume" not in line
    assert len(written) == 1 and written[0].is_relative_to(out)
    Image.open(written[0]).load()
    assert not list(out.rglob("*.tmp"))


def test_sigint_while_training_the_featvis_autoencoder(tmp_path, monkeypatch):
    """Interrupted as the first training step starts (after the data pipeline is
    up; before its compilation, to keep the test short): exit 130, no decoder.npz
    (none was finished), nothing resumable promised."""
    import numpy as np

    from featvis import autoencoder

    root = tmp_path / "imgs"
    for label in ("dog", "cat"):
        (root / "train" / label).mkdir(parents=True)
        for i in range(2):
            rgb = np.random.default_rng(i).integers(0, 256, (40, 48, 3), np.uint8)
            Image.fromarray(rgb).save(root / "train" / label / f"{i}.png")
    calls, step = [], autoencoder.train_step

    def step_then_interrupt(*a, **kw):
        calls.append(1)
        signal.raise_signal(signal.SIGINT)
        return step(*a, **kw)

    monkeypatch.setattr(autoencoder, "train_step", step_then_interrupt)
    out = tmp_path / "ae"
    r = _interrupted("featvis.train_autoencoder", [
        f"--images={root}", "--steps=3", "--batch=2", "--width=0.0625", f"--out_dir={out}"], tmp_path)
    line = assert_one_line_error(r, (130,), "interrupted (SIGINT); finished files are kept")
    assert "resume" not in line and len(calls) == 1
    assert not (out / "decoder.npz").exists()


def test_sigint_while_normalising_a_vgg_leaves_no_directory(tmp_path, monkeypatch):
    """weights_convert.vgg --normalise interrupted after its first batch of images:
    exit 130 and no --out_dir (store.save_params writes the directory whole, last)."""
    import jax
    import numpy as np

    from styletransfer import vgg
    from styletransfer.vggnet import at_width
    from weights_convert import vgg as conv
    from weights_convert import vgg_normalise

    cfg = at_width(vgg.VGG19, 8).replace(preprocessing=vgg.CAFFE)
    src = conv.save(tmp_path / "src", cfg, vgg.init_params(cfg, jax.random.key(0), head=True),
                    source="test", source_sha256="ab" * 32)  # fmt: skip
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(4):
        rgb = np.random.default_rng(i).integers(0, 256, (36, 40, 3), np.uint8)
        Image.fromarray(rgb).save(imgs / f"{i}.png")
    batches, served = vgg_normalise.batches, []

    def batches_then_interrupt(*a, **kw):
        for b in batches(*a, **kw):
            served.append(b)
            if len(served) == 2:
                signal.raise_signal(signal.SIGINT)
            yield b

    monkeypatch.setattr(vgg_normalise, "batches", batches_then_interrupt)
    out = tmp_path / "norm"
    r = _interrupted("weights_convert.vgg", [
        f"--src={src}", f"--normalise={imgs}", f"--out_dir={out}", "--normalise_size=32",
        "--chunk_size=2"], tmp_path)  # fmt: skip
    line = assert_one_line_error(r, (130,), "interrupted (SIGINT); finished files are kept")
    assert "resume" not in line and len(served) == 2
    assert not out.exists()
    assert {p.name for p in tmp_path.iterdir()} <= {"cache", "imgs", "src"}  # nothing elsewhere


@pytest.mark.parametrize(("resume", "tail"), [
    ("", "finished files are kept"), ("re-run the same command to resume", "kept; re-run the same command to resume"),
    (lambda: "", "finished files are kept"), (lambda: "re-run it", "kept; re-run it"),
])  # fmt: skip
def test_the_resume_hint_is_given_only_where_a_command_resumes(resume, tail, capsys):
    """cli.run's ``resume``: a string, or asked at the interrupt (a CLI of which only
    some modes resume, as --mode=walk of the BigGAN CLI does not)."""
    from neural_art import cli

    def main(argv):
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as e:
        cli.run(main, ["prog"], resume=resume)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 130 and err.startswith("error: interrupted (SIGINT)") and err.endswith(tail), err
    assert ("resume" in err or "re-run" in err) == bool(resume() if callable(resume) else resume)


def test_sigint_in_a_biggan_walk_keeps_the_first_frame(tmp_path, monkeypatch):
    """Walks recompute every frame (no resume), so the line promises none."""
    out = tmp_path / "walk"
    written = _interrupt_after_first_image(monkeypatch, curate)
    r = _interrupted("biggan_jax", [
        "--weights=random:biggan-deep-128:4", "--classes=volcano", "--latents=1", "--truncation=0.5",
        "--mode=walk", "--seeds=1", "--frames=2", f"--out_dir={out}",
    ], tmp_path)  # fmt: skip
    line = assert_one_line_error(r, (130,), "interrupted (SIGINT); finished files are kept")
    assert "resume" not in line
    assert len(written) == 1 and written[0].is_relative_to(out)
    Image.open(written[0]).load()
    assert not list(out.rglob("*.tmp"))
