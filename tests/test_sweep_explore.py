"""Issue 13 wired into the sweep CLIs, on a tiny BigGAN (in process: a stored-BN
sweep, a ``--bn=recompute`` sweep and a ``--bn=recompute`` walk, all with the same
``--alpha_per_block``; CPU compiles are slow, so each sweep is a module-scoped fixture):
index.html + scores.json (checked in headless Chromium), the VGG departure hook
(``styletransfer.scores:vgg_departure`` on the tiny ``random:vgg16:8``), per-block α and BN
mode in manifests and regenerate commands, walk end points equal to the sweep's
images under the same settings; the DCGAN sweep and its ``--walk_between``."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from browser import CHROMIUM, dom
from cli_harness import assert_one_line_error, run_cli
from fixtures import TINY_VGG16
from PIL import Image
from procs import ROOT

WEIGHTS = "--weights=random:biggan-deep-128:4"
BLOCKS = "--alpha_per_block=B1:0,B2-B3:0.6"
COMMON = [WEIGHTS, "--classes=volcano", "--latents=1", "--truncation=0.5", BLOCKS]
VGG = ["--score_with=styletransfer.scores:vgg_departure", f"--score_weights={TINY_VGG16}"]
IMAGE = "r000_volcano_l0.png"
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")


def cli(module: str, *args: str, check: bool = True):
    """``python -m module *args`` in this process (run from the repository root)."""
    r = run_cli(module, list(args), cwd=ROOT)
    if check:
        assert r.code == 0, r.err[-3000:]
    return r


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "s"
    cli("biggan_jax", *COMMON, "--seeds=0-2", "--strategy=map", *VGG, f"--out_dir={out}")
    return out


@pytest.fixture(scope="module")
def recompute(tmp_path_factory):
    out = tmp_path_factory.mktemp("bn") / "s"
    cli("biggan_jax", *COMMON, "--seeds=0-1", "--strategy=map", "--bn=recompute", f"--out_dir={out}")
    return out


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.int16)


def image(sweep_dir, seed) -> np.ndarray:
    return pixels(sweep_dir / "images" / ("original" if seed is None else f"seed_{seed:06d}") / IMAGE)


def test_sweep_writes_scores_and_manifest(sweep):
    got = json.loads((sweep / "scores.json").read_text())
    assert sorted(got) == ["0", "1", "2"]
    assert {"departure", "colourfulness", "complexity", "diversity", "jpeg_ratio", "vgg_departure"} <= set(got["0"])
    assert all(got[s]["vgg_departure"] > 0 for s in got)
    man = json.loads((sweep / "manifest.json").read_text())
    assert man["plan"]["strategy"] == "map" and man["plan"]["group"] == 1
    assert man["perturbation"]["bn"] == "stored" and "bn_batch" not in man
    assert man["perturbation"]["alphas"] == {"B1": 0.0, "B2": 0.6, "B3": 0.6}
    assert sorted(p.name for p in (sweep / "thumbs").iterdir()) == [
        "original.jpg", "seed_000000.jpg", "seed_000001.jpg", "seed_000002.jpg"]


def test_settings_record_alpha_per_block_and_bn(tmp_path):
    from biggan_jax import experiment
    from biggan_jax.sharded import Perturbation

    job = experiment.SweepJob(weights="random:biggan-deep-128:4", classes=("volcano",), seeds=(0,),
                              out_dir=str(tmp_path),
                              perturbation=Perturbation(alphas=(("B1", 0.0), ("B5", 0.2)), bn="recompute"))  # fmt: skip
    s = experiment.settings(job, [980])
    assert s["perturbation"]["alphas"] == {"B1": 0.0, "B5": 0.2} and s["perturbation"]["bn"] == "recompute"
    assert s["bn_batch"] == 32
    assert json.loads(json.dumps(s)) == s  # a resume compares it with the manifest read back


def test_flags_checked_before_compute(tmp_path):
    out = tmp_path / "never"
    for extra, msg, code in [
        (["--alpha_per_block=B5-B13:0.2"], "unknown block 'B12'", 2),
        (["--mode=replace", "--blocks=B3"], "--blocks", 2),
        (["--score_with=styletransfer.scores:nope"], "--score_with='styletransfer.scores:nope': cannot import", 2),
        ([VGG[0], "--score_weights=random:vgg99"], "unknown config 'vgg99'", 2),
    ]:  # fmt: skip
        args = [a for a in COMMON if not a.startswith("--alpha_per_block")] + extra
        r = cli("biggan_jax", *args, "--seeds=0", f"--out_dir={out}", check=False)
        assert_one_line_error(r, (code,), msg)
        assert len(r.err.strip().splitlines()) == 1, r.err  # nothing but the error line
    assert not out.exists()  # nothing written: every check ran before the sweep


@needs_chromium
def test_gallery_in_chromium(sweep):
    url = (sweep / "index.html").as_uri()
    d = dom(url)
    assert re.findall(r'class="net[^"]*" data-seed="([^"]+)"', d) == ["original", "0", "1", "2"]
    assert d.count('src="thumbs/seed_') == 3 and "vgg_departure" in d
    d = dom(url + "#net=1")
    cmd = re.search(r'id="command">([^<]*)</pre>', d).group(1)
    assert cmd.startswith("python -m biggan_jax ") and WEIGHTS in cmd and "--seeds=1 " in cmd
    assert "--strategy=map" in cmd and "--out_dir=" in cmd and BLOCKS in cmd and " ".join(VGG) in cmd
    assert "images/seed_000001/r000_volcano_l0.png" in d and "<td>vgg_departure</td>" in d


def test_bn_recompute_sweep(sweep, recompute):
    man = json.loads((recompute / "manifest.json").read_text())
    assert man["perturbation"]["bn"] == "recompute" and man["bn_batch"] == 32
    assert man["perturbation"]["alphas"] == {"B1": 0.0, "B2": 0.6, "B3": 0.6}
    assert "--bn=recompute" in (recompute / "index.html").read_text()  # every regenerate command
    for s in (0, 1):  # the same networks (α > 0) under other BN statistics
        assert np.abs(image(recompute, s) - image(sweep, s)).max() > 8


def test_walk_honours_blocks_and_bn(sweep, recompute, tmp_path):
    out = tmp_path / "w"
    cli("biggan_jax", *COMMON, "--mode=walk", "--seeds=1", "--frames=3", "--walk_between=0:1",
        "--bn=recompute", *VGG, f"--out_dir={out}")  # fmt: skip
    frame = lambda name, f: pixels(out / "walks" / name / f"frame_{f:03d}.png")
    # frame 0 is α = 0 with BN re-estimated in the walk's program: θ*'s column of a recompute sweep
    assert np.abs(frame("seed_000001", 0) - image(recompute, None)).max() <= 1
    assert np.abs(frame("seed_000001", 2) - image(recompute, 1)).max() <= 1
    assert np.abs(frame("seed_0_to_1", 0) - image(recompute, 0)).max() <= 1
    assert np.abs(frame("seed_0_to_1", 2) - image(recompute, 1)).max() <= 1
    man = json.loads((out / "walks.json").read_text())
    assert man["settings"]["perturbation"]["bn"] == "recompute" and man["settings"]["bn_batch"] == 32
    assert man["settings"]["perturbation"]["alphas"] == {"B1": 0.0, "B2": 0.6, "B3": 0.6}
    seed, pair = man["walks"]["seed_000001"], man["walks"]["seed_0_to_1"]
    for w, which in ((seed, "--seeds=1 "), (pair, "--walk_between=0:1 ")):
        assert "--bn=recompute" in w["command"] and BLOCKS in w["command"] and which in w["command"]
        assert "--mode=walk" in w["command"] and "--frames=3" in w["command"]
    vgg = [s["vgg_departure"] for s in seed["scores"]]
    assert vgg[0] == 0.0 and 0.0 < vgg[1] < vgg[2], vgg  # θ* vs itself, then growing with t·α
    swept = json.loads((recompute / "scores.json").read_text())["1"]["departure"]
    np.testing.assert_allclose(seed["scores"][-1]["departure"], swept, rtol=1e-3)
    assert (out / "walks" / "seed_0_to_1" / "walk.gif").exists() and "seed_0_to_1" in (out / "index.html").read_text()


def test_dcgan_sweep_gallery_and_walk_between(tmp_path):
    """The DCGAN's sweep and walks under --blocks (eq. 2 on G's last two layers only): the
    walk's ends are the sweep's networks."""
    blocks = "--blocks=convt3-convt4"
    cli("dcgan.sweep", f"--out_dir={tmp_path}", "--seeds=0-1", "--latents=2", "--score_with=numpy:std", blocks)
    assert (tmp_path / "grid.png").exists() and (tmp_path / "index.html").exists()
    got = json.loads((tmp_path / "scores.json").read_text())
    assert sorted(got) == ["0", "1"] and "std" in got["0"]
    assert (tmp_path / "images" / "seed_000001" / "z1.png").exists()
    if CHROMIUM is not None:
        d = dom((tmp_path / "index.html").as_uri())
        assert re.findall(r'class="net[^"]*" data-seed="([^"]+)"', d) == ["original", "0", "1"]
    out = tmp_path / "w"
    cli("dcgan.sweep", "--mode=walk", "--walk_between=0:1", "--frames=3", "--latents=2", blocks, f"--out_dir={out}")
    man = json.loads((out / "walks.json").read_text())
    assert man["settings"]["alphas"] == {"bn0": 0.0, "bn1": 0.0, "bn2": 0.0, "bn3": 0.0, "convt0": 0.0,
                                         "convt1": 0.0, "convt2": 0.0, "convt3": 0.35, "convt4": 0.35}
    assert list(man["walks"]) == ["seed_0_to_1"]  # --walk_between without --seeds: that walk only
    w = 64
    for f, s in ((0, 0), (2, 1)):  # frames are the latents side by side
        strip = pixels(out / "walks" / "seed_0_to_1" / f"frame_{f:03d}.png")
        for z in (0, 1):
            want = pixels(tmp_path / "images" / f"seed_{s:06d}" / f"z{z}.png")
            assert np.abs(strip[:, z * w:(z + 1) * w] - want).max() <= 1
    assert "--walk_between=0:1" in man["walks"]["seed_0_to_1"]["command"] and blocks in man["walks"]["seed_0_to_1"]["command"]
