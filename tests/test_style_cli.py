"""``python -m styletransfer`` end to end on tiny sizes, and bad input handling
(neural_art.images, styletransfer.pipeline, the flag checks)."""

import json
import logging
import os

import numpy as np
import pytest
from cli_harness import assert_one_line_error, run_cli
from fixtures import TINY_VGG19
from PIL import Image
from procs import run_python

from neural_art import cli
from neural_art import images as imageio
from styletransfer import Settings, optim, pipeline, settings


@pytest.fixture(scope="module")
def pics(tmp_path_factory):
    d = tmp_path_factory.mktemp("pics")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 30, 3), np.uint8)).save(d / "content.png")
    Image.fromarray(rng.integers(0, 256, (24, 24), np.uint8), "L").save(d / "grey.png")
    Image.fromarray(rng.integers(0, 256, (20, 20, 4), np.uint8), "RGBA").save(d / "rgba.png")
    Image.fromarray(rng.integers(0, 256, (300, 200, 3), np.uint8)).save(d / "big.jpg")
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    data = (d / "content.png").read_bytes()
    (d / "truncated.png").write_bytes(data[: len(data) // 2])
    return d


def test_bad_images_give_clear_errors(pics):
    with pytest.raises(imageio.ImageError, match="image not found: .*missing.png"):
        imageio.load_image(pics / "missing.png")
    with pytest.raises(imageio.ImageError, match="corrupt.png: not a readable image"):
        imageio.load_image(pics / "corrupt.png")
    with pytest.raises(imageio.ImageError, match="truncated.png: not a readable image"):
        imageio.load_image(pics / "truncated.png")
    with pytest.raises(imageio.ImageError, match="is a directory"):
        imageio.load_image(pics)


def test_grey_rgba_converted_with_note_and_oversize_resized(pics, caplog):
    with caplog.at_level(logging.INFO):
        g = imageio.load_image(pics / "grey.png")
        a = imageio.load_image(pics / "rgba.png")
        b = imageio.load_image(pics / "big.jpg", max_size=64)
    assert g.shape == (24, 24, 3) and np.array_equal(g[..., 0], g[..., 2])
    assert a.shape == (20, 20, 3) and a.dtype == np.float32 and 0 <= a.min() <= a.max() <= 1
    assert b.shape == (64, 43, 3)
    text = caplog.text
    assert "grey.png: L image converted to RGB" in text
    assert "rgba.png: RGBA image; alpha composited onto white" in text
    assert "larger than max_size=64" in text
    # explicit --size: the longer side becomes it
    assert imageio.load_image(pics / "content.png", size=20).shape == (20, 15, 3)


def test_option_errors(pics):
    with pytest.raises(ValueError, match="needs a content image"):
        pipeline.run(Settings(style=(str(pics / "grey.png"),), weights=TINY_VGG19))
    with pytest.raises(ValueError, match="needs at least one style image"):
        pipeline.run(Settings(content=str(pics / "content.png"), weights=TINY_VGG19))
    with pytest.raises(imageio.ImageError, match="corrupt"):
        pipeline.run(
            Settings(
                content=str(pics / "content.png"), style=(str(pics / "corrupt.png"),),
                weights=TINY_VGG19, out_dir=str(pics / "o"),
            )
        )  # fmt: skip


def test_cli_end_to_end(pics, tmp_path):
    out = tmp_path / "out"
    argv = [
        f"--weights={TINY_VGG19}", f"--content={pics / 'content.png'}",
        f"--style={pics / 'grey.png'},{pics / 'rgba.png'}", "--style_blend=2,1", "--size=32",
        "--steps=4", "--snapshot_every=2", "--optimizer=adam", "--init=noise",
        "--style_layers=conv1_1,conv2_1,conv3_1", "--content_layers=conv3_2", f"--out_dir={out}",
        "--noprogress",
    ]  # fmt: skip
    r = run_cli("styletransfer", argv)
    assert r.code == 0, r.err[-3000:]
    assert "result:" in r.out
    res = np.asarray(Image.open(out / "result.png"))
    assert res.shape == (32, 24, 3)
    assert sorted(os.listdir(out / "snapshots")) == ["step_00002.png", "step_00004.png"]
    assert (out / "losses.png").stat().st_size > 1000
    trace = json.loads((out / "losses.json").read_text())["total_per_step"]
    assert len(trace) == 5 and trace[-1] < trace[0]
    assert json.loads((out / "settings.json").read_text())["style_blend"] == [2.0, 1.0]
    # a missing input: exit 1 with a clear message, nothing else
    r = run_cli("styletransfer", [argv[0], f"--content={pics / 'nope.png'}", *argv[2:]])
    assert_one_line_error(r, (1,), "image not found")
    assert r.err.strip().count("\n") == 0 and not r.out, r.err  # one line, no traceback
    # bad values: exit 2, one line naming the flag, before any compute
    for bad, says in [("--learning_rate=-1", "--learning_rate"), ("--weights=nope", "nope")]:
        r = run_cli("styletransfer", [*argv, bad])
        assert_one_line_error(r, (2,), says)
        assert r.err.startswith("error: ") and r.err.strip().count("\n") == 0, r.err
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    r = run_cli("styletransfer", [*argv, f"--out_dir={blocker}"])
    assert_one_line_error(r, (2,), "not a directory")  # a bad flag value


def test_settings_checks_name_the_flag(pics):
    ok = Settings(content=str(pics / "content.png"), style=(str(pics / "grey.png"),))
    settings.check(ok)
    for bad, says in [(dict(steps=0), "--steps"), (dict(style_blend=(1.0, 2.0)), "--style_blend"),
                      (dict(ratios=(float("nan"),)), "--ratios"), (dict(size=0), "--size"),
                      (dict(style_weight=-1.0), "--style_weight"),
                      (dict(mode="nope"), "--mode")]:  # fmt: skip
        with pytest.raises(ValueError, match=says):
            settings.check(ok.replace(**bad))
    with pytest.raises(ValueError, match="--tv_weight must be finite"):
        settings.check_finite_weights(ok.replace(tv_weight=float("inf")))
    with pytest.raises(cli.UsageError, match="--out_dir.*is a file"):
        cli.check_out_dir(pics / "content.png")
    cli.check_out_dir(pics / "new" / "deeper")  # creatable: fine
    assert not (pics / "new").exists()  # and nothing created


def test_sweep_and_nan_through_pipeline(pics, tmp_path):
    common = dict(
        content=str(pics / "content.png"), style=(str(pics / "grey.png"),), weights=TINY_VGG19,
        size=32, optimizer="adam", style_layers=("conv1_1", "conv2_1"),
        content_layers=("conv2_2",), progress=False,
    )  # fmt: skip
    written = pipeline.run(
        Settings(**common, mode="sweep", ratios=(1e-3, 1.0), steps=3,
                         out_dir=str(tmp_path / "sw"))
    )  # fmt: skip
    grid = np.asarray(Image.open(written["grid"]))
    assert grid.shape[1] > 2 * 24 and (tmp_path / "sw" / "result_ratio_0.001.png").exists()
    with pytest.raises(optim.NonFiniteLossError, match="step 0") as e:
        pipeline.run(
            Settings(**common, style_weight=float("inf"), steps=3,
                             out_dir=str(tmp_path / "nan"))
        )  # fmt: skip
    # the last finite image (here: the init) is kept, and the message says where
    saved = tmp_path / "nan" / "last_finite_step_00000.png"
    assert e.value.saved == str(saved) and str(saved) in str(e.value)
    assert np.asarray(Image.open(saved)).shape == (32, 24, 3)  # the content's size


def test_import_needs_no_torch_or_tensorflow():
    code = (
        "import sys, styletransfer, styletransfer.main, styletransfer.pipeline\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow')]\n"
        "assert not bad, bad\n"
    )
    p = run_python(["-c", code], timeout=120)  # a fresh interpreter: the point of the test
    assert p.returncode == 0, p.stderr[-2000:]
