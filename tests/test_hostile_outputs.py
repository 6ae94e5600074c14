"""Shared outputs under hostile input: every user-derived string on a sweep's
gallery page is shown as text and never runs as markup (headless Chromium), a
non-finite score does not blank the page, and every regenerate command pastes
into a shell as the argv it stands for (``shlex.split`` round trips)."""

from __future__ import annotations

import json
import math
import os
import re
import shlex

import numpy as np
import pytest
from browser import CHROMIUM, Browser
from cli_harness import run_cli
from fixtures_biggan import BIGGAN_SWEEP_ARGV

from biggan_jax import experiment
from neural_art import gallery, images, walk

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")

# markup that runs script if inserted as HTML, quotes, an entity, a comment, the
# page template's own placeholders, and shell syntax
HOSTILE = ("<img src=x onerror=\"window.PWNED=1\"></script><script>window.PWNED=2</script>"
           "<!-- ' \" &amp; %DATA% %TITLE% $(echo PWNED) `echo PWNED`; echo PWNED #")  # fmt: skip
# the same in a file name (no "/"), with URL syntax: # ? %
FILE = "<img src=x onerror=window.PWNED=3> ' \" &amp; #top ?q=1 %41"
SCORES = {HOSTILE: 1.5, "nan_score": math.nan, "inf_score": math.inf, "plain": 2.0}


def _hostile_gallery(tmp_path):
    rng = np.random.default_rng(0)
    nets = []
    for seed in (None, 0, 1):
        name = f"{FILE} {seed}"
        imgs = [rng.integers(0, 256, (16, 16, 3), np.uint8) for _ in range(2)]
        rels = [images.save_image(tmp_path / "images" / name / f"{FILE}{r}.png", im).relative_to(tmp_path).as_posix()
                for r, im in enumerate(imgs)]  # fmt: skip
        nets.append({"seed": seed, "thumb": gallery.thumbnail(tmp_path, name, imgs), "images": rels,
                     "scores": {} if seed is None else dict(SCORES), "command": HOSTILE})  # fmt: skip
    settings = {HOSTILE: HOSTILE, "weights": HOSTILE, "nested": {"k": [HOSTILE, math.nan]}}
    return gallery.write(tmp_path, title=HOSTILE, settings=settings, networks=nets,
                         row_labels=[HOSTILE, "plain"])  # fmt: skip


_TEXTS = "[...document.querySelectorAll('%s')].map(e => e.textContent)"
_NO_SCRIPT_RAN = "[typeof window.PWNED, document.querySelectorAll('[onerror]').length, document.scripts.length]"
_IMAGES = "Promise.all([...document.images].map(i => i.decode().then(() => i.naturalWidth)))"


@needs_chromium
def test_gallery_shows_hostile_strings_as_text_and_runs_none(tmp_path):
    url = _hostile_gallery(tmp_path).as_uri()
    with Browser() as b:
        b.load(url)
        assert b.evaluate(_NO_SCRIPT_RAN) == ["undefined", 0, 2]  # the data block and the page's script
        assert b.evaluate("[document.title, document.getElementById('title').textContent]") == [HOSTILE] * 2
        card = f"{HOSTILE} 1.50 · nan_score n/a · inf_score n/a · plain 2"
        assert b.evaluate(_TEXTS % ".net .sc") == ["", card, card]  # θ* has no scores
        assert b.evaluate(_TEXTS % "#sort option") == ["seed", HOSTILE, "nan_score", "inf_score", "plain"]
        assert all(w > 0 for w in b.evaluate(_IMAGES, await_promise=True))  # thumbnails found
        for net in ("0", "original"):
            b.load(url + "#net=" + net)
            assert b.evaluate(_NO_SCRIPT_RAN) == ["undefined", 0, 2]
            assert b.evaluate("document.getElementById('command').textContent") == HOSTILE
            cells = b.evaluate(_TEXTS % "#detail td")
            nested = json.dumps({"k": [HOSTILE, None]}, separators=(",", ":"))  # as JSON.stringify
            settings = [HOSTILE, HOSTILE, "weights", HOSTILE, "nested", nested]
            scores = [HOSTILE, "1.50", "nan_score", "n/a", "inf_score", "n/a", "plain", "2"] if net == "0" else []
            assert cells == scores + settings
            assert b.evaluate(_TEXTS % "#detail > div") == [HOSTILE, "plain"]  # row labels
            widths = b.evaluate(_IMAGES, await_promise=True)
            assert len(widths) == 2 and all(w == 16 for w in widths)  # the files, URL-encoded right


def _page_data(page: str):
    """The gallery's data block, parsed as strict JSON (``JSON.parse`` refuses NaN)."""
    blob = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1)
    assert not set("<>&") & set(blob)
    return json.loads(blob, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_page_data_is_strict_json_that_cannot_leave_its_element(tmp_path):
    page = _hostile_gallery(tmp_path).read_text()
    data = _page_data(page)
    assert data["title"] == HOSTILE and data["networks"][1]["scores"] == {**SCORES, "nan_score": None, "inf_score": None}
    assert data["settings"]["nested"] == {"k": [HOSTILE, None]}
    head = page[: page.index("<style>")]
    assert "%DATA%" in head and "%TITLE%" in head and '"networks"' not in head  # placeholders filled once


def test_regenerate_commands_round_trip_through_a_shell(tmp_path):
    """The BigGAN CLI's gallery commands (a class with an apostrophe, an out_dir with
    shell syntax) split back into the argv they stand for."""
    out = tmp_path / "it's a $(dir); echo INJECTED `x` \"q\""
    argv = [a if not a.startswith("--classes=") else "--classes=jack-o'-lantern,volcano" for a in BIGGAN_SWEEP_ARGV]
    old = os.umask(0o022)  # and the files are readable by others, as plain open() would make them
    try:
        r = run_cli("biggan_jax", [*argv, f"--out_dir={out}"])
    finally:
        os.umask(old)
    assert r.code == 0, r.err[-3000:]
    assert {oct(p.stat().st_mode & 0o777) for p in out.rglob("*")} == {"0o644", "0o755"}
    data = _page_data((out / "index.html").read_text())
    cmds = {n["seed"]: n["command"] for n in data["networks"]}
    assert sorted(cmds, key=str) == [0, 1, 2, None]
    for seed, cmd in cmds.items():
        got = shlex.split(cmd, comments=True)
        assert got[:3] == ["python", "-m", "biggan_jax"] and "--classes=jack-o'-lantern,volcano" in got
        tail = ["--seeds=0", f"--out_dir={out}_more"] if seed is None else [f"--seeds={seed}", f"--out_dir={out}_seed{seed}"]
        assert got[-2:] == tail and not any("INJECTED" in t and not t.startswith("--out_dir=") for t in got)
        assert sorted(got[3:-2]) == sorted(a for a in argv if not a.startswith("--seeds="))


@pytest.mark.parametrize("seed", [None, 7])
def test_commands_built_from_parts_are_quoted(seed):
    job = experiment.SweepJob(weights="/w/it's $(x)", classes=("volcano",), seeds=(1,), out_dir="/o/a b;c/")
    got = shlex.split(experiment.regenerate_command(job, seed), comments=True)
    assert got[:4] == ["python", "-m", "biggan_jax", "--weights=/w/it's $(x)"]
    assert got[4:] == (["--seeds=0", "--out_dir=/o/a b;c_more"] if seed is None else ["--seeds=7", "--out_dir=/o/a b;c_seed7"])
    base = shlex.join(["python", "-m", "dcgan.sweep", "--weights=a b'c"])
    for w, which in ((walk.Walk(3, 17), "--walk_between=3:17"), (walk.Walk(4), "--seeds=4")):
        assert shlex.split(walk.command(base, w, "/o/x'y z/")) == [
            "python", "-m", "dcgan.sweep", "--weights=a b'c", which, f"--out_dir=/o/x'y z_{w.name}"]  # fmt: skip


def broken_score(images):
    """A score hook that fails as hooks do: NaN for one network, inf for the next."""
    return np.nan if float(np.mean(images)) < 0 else np.inf


def test_a_non_finite_score_is_recorded_as_null_with_a_warning(tmp_path, caplog):
    from neural_art.curate import Curator

    imgs = np.stack([-np.ones((1, 8, 8, 3)), np.ones((1, 8, 8, 3))]).astype(np.float32)
    files = lambda s: [images.save_image(tmp_path / f"{s}.png", np.zeros((8, 8, 3), np.uint8))]
    cur = Curator(tmp_path, title="t", settings={}, row_labels=["r"], original=np.zeros((1, 8, 8, 3)),
                  files=files, command=str, score_with="test_hostile_outputs:broken_score")  # fmt: skip
    with caplog.at_level("WARNING"):
        cur.add([0, 1], imgs)
    assert "broken_score" in caplog.text and "recorded as null" in caplog.text
    got = json.loads((tmp_path / "scores.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert got["0"]["broken_score"] is None and got["1"]["broken_score"] is None
    assert all(isinstance(got["0"][k], float) for k in got["0"] if k != "broken_score")
    data = _page_data(cur.write([0, 1], running=False).read_text())
    assert [n["scores"].get("broken_score") for n in data["networks"]] == [None, None, None]


def test_converter_and_autoencoder_outputs_are_readable_by_others_under_umask_022(tmp_path):
    """The writers the golden runs do not reach: a converted-weights directory
    (neural_art.store: weights_convert.*, dcgan.export) and the autoencoder's
    decoder.npz get the modes a plain open()/mkdir() would under umask 022."""
    import jax
    from PIL import Image

    from styletransfer import vgg
    from styletransfer.vggnet import at_width
    from weights_convert import vgg as conv

    cfg = at_width(vgg.VGG19, 8).replace(preprocessing=vgg.CAFFE)
    src = conv.save(tmp_path / "src", cfg, vgg.init_params(cfg, jax.random.key(0), head=True),
                    source="test", source_sha256="ab" * 32)  # fmt: skip
    imgs = tmp_path / "imgs" / "train" / "x"
    imgs.mkdir(parents=True)
    for i in range(2):
        Image.fromarray(np.full((36, 40, 3), 60 * i, np.uint8)).save(imgs / f"{i}.png")
    norm, ae = tmp_path / "norm", tmp_path / "ae"
    old = os.umask(0o022)
    try:
        r = run_cli("weights_convert.vgg", [f"--src={src}", f"--normalise={imgs}", f"--out_dir={norm}",
                                            "--normalise_size=32"])  # fmt: skip
        assert r.code == 0, r.err[-3000:]
        r = run_cli("featvis.train_autoencoder", [f"--images={tmp_path / 'imgs'}", "--steps=1", "--batch=2",
                                                  "--width=0.0625", f"--out_dir={ae}"])  # fmt: skip
        assert r.code == 0, r.err[-3000:]
    finally:
        os.umask(old)
    for out in (norm, ae):
        private = {str(p.relative_to(out)): oct(p.stat().st_mode & 0o777) for p in out.rglob("*")
                   if p.stat().st_mode & 0o044 != 0o044}  # fmt: skip
        assert not private, f"under umask 022 others cannot read: {private}"
    assert (norm / "metadata.json").is_file() and (ae / "decoder.npz").is_file()
