"""Ctrl-C ends each long-running CLI with one line and exit 130, the files finished
before it kept whole (in process: SIGINT raised right after the first image is
written, with Python's default handler, as a new process has it). The BigGAN
sweep's SIGINT and SIGTERM tests, with resume, are in test_sweep_faults.py; DCGAN
training's (a checkpoint at the next step, then exit 0) in test_dcgan_train.py."""

from __future__ import annotations

import pathlib
import signal

import pytest
from cli_harness import assert_one_line_error, run_cli
from PIL import Image
from test_golden import CASES, ROOT, _pictures

import dcgan.grids
from neural_art import images

LONG_RUNNING = ("style", "featvis_vgg", "dcgan_sweep")  # the golden cases' tiny runs


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_sigint_after_the_first_image_keeps_it(name, tmp_path, monkeypatch):
    module, argv = CASES[name]
    pics, out = _pictures(tmp_path), tmp_path / name
    written, save = [], images.save_image

    def save_then_interrupt(path, *a, **kw):
        got = save(path, *a, **kw)
        written.append(pathlib.Path(path))
        if len(written) == 1:
            signal.raise_signal(signal.SIGINT)
        return got

    monkeypatch.setattr(images, "save_image", save_then_interrupt)
    monkeypatch.setattr(dcgan.grids, "save_image", save_then_interrupt)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        r = run_cli(module, [a.format(out=out, pics=pics) for a in argv],
                    env={"NEURAL_ART_JAX_CACHE": str(tmp_path / "cache")}, cwd=ROOT)  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, old)
    line = assert_one_line_error(r, (130,), "interrupted (SIGINT); finished files are kept")
    assert "resume" not in line  # these tools cannot resume: no promise
    assert written and written[0].is_relative_to(out)
    Image.open(written[0]).load()  # whole
    assert not list(out.rglob("*.tmp"))
