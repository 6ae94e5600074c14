"""Issue 13 wired into the sweep CLIs: a tiny BigGAN sweep writes index.html +
scores.json (checked in headless Chromium: one thumbnail per network, the
detail view's regenerate command), its manifest records the plan, per-block α
and BN mode; a walk's frame 0 is θ*'s image and its last frame the sweep's image
of that seed; the DCGAN sweep writes its gallery too. One sweep output is shared
(module-scoped fixture): CPU compiles are slow."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from browser import CHROMIUM, dom
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
WEIGHTS = "--weights=random:biggan-deep-128:4"
COMMON = [WEIGHTS, "--classes=volcano", "--latents=1", "--truncation=0.5"]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")


def cli(module: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)  # fmt: skip
    if check:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "s"
    cli("biggan_jax", *COMMON, "--seeds=0-2", "--strategy=map", "--score_with=numpy:std",
        f"--out_dir={out}")  # fmt: skip
    return out


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.int16)


def test_sweep_writes_scores_and_manifest(sweep):
    got = json.loads((sweep / "scores.json").read_text())
    assert sorted(got) == ["0", "1", "2"]
    assert {"departure", "colourfulness", "complexity", "diversity", "jpeg_ratio", "std"} <= set(got["0"])
    man = json.loads((sweep / "manifest.json").read_text())
    assert man["plan"]["strategy"] == "map" and man["plan"]["group"] == 1
    assert man["perturbation"]["bn"] == "stored" and man["perturbation"]["alphas"] == {}
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


def test_block_flags_checked_before_compute(tmp_path):
    r = cli("biggan_jax", *COMMON, "--seeds=0", "--alpha_per_block=B5-B13:0.2", f"--out_dir={tmp_path}",
            check=False)  # fmt: skip
    assert r.returncode == 2 and "unknown block 'B12'" in r.stderr.strip().splitlines()[-1]
    r = cli("biggan_jax", *COMMON, "--seeds=0", "--mode=replace", "--blocks=B3", f"--out_dir={tmp_path}",
            check=False)  # fmt: skip
    assert r.returncode == 2 and "--blocks" in r.stderr


@needs_chromium
def test_gallery_in_chromium(sweep):
    url = (sweep / "index.html").as_uri()
    d = dom(url)
    assert re.findall(r'class="net[^"]*" data-seed="([^"]+)"', d) == ["original", "0", "1", "2"]
    assert d.count('src="thumbs/seed_') == 3
    d = dom(url + "#net=1")
    cmd = re.search(r'id="command">([^<]*)</pre>', d).group(1)
    assert cmd.startswith("python -m biggan_jax ") and WEIGHTS in cmd and "--seeds=1 " in cmd
    assert "--strategy=map" in cmd and "--out_dir=" in cmd
    assert "images/seed_000001/r000_volcano_l0.png" in d


def test_walk_end_points_match_sweep(sweep, tmp_path):
    out = tmp_path / "w"
    cli("biggan_jax", *COMMON, "--mode=walk", "--seeds=1", "--frames=2", "--walk_between=0:2",
        f"--out_dir={out}")  # fmt: skip
    walk = out / "walks" / "seed_000001"
    first, last = pixels(walk / "frame_000.png"), pixels(walk / "frame_001.png")
    orig = pixels(sweep / "images" / "original" / "r000_volcano_l0.png")
    net = pixels(sweep / "images" / "seed_000001" / "r000_volcano_l0.png")
    assert np.abs(first - orig).max() <= 1  # vmapped frames vs the sweep's lax.map: within 1 grey level
    assert np.abs(last - net).max() <= 1
    assert (walk / "walk.gif").exists() and (out / "walks" / "seed_0_to_2" / "walk.gif").exists()
    between = pixels(out / "walks" / "seed_0_to_2" / "frame_001.png")
    assert np.abs(between - pixels(sweep / "images" / "seed_000002" / "r000_volcano_l0.png")).max() <= 1
    assert (out / "index.html").exists() and "seed_0_to_2" in (out / "index.html").read_text()


def test_dcgan_sweep_gallery(tmp_path):
    cli("dcgan.sweep", f"--out_dir={tmp_path}", "--seeds=0-1", "--latents=2")
    assert (tmp_path / "grid.png").exists() and (tmp_path / "index.html").exists()
    assert sorted(json.loads((tmp_path / "scores.json").read_text())) == ["0", "1"]
    assert (tmp_path / "images" / "seed_000001" / "z1.png").exists()
    if CHROMIUM is not None:
        d = dom((tmp_path / "index.html").as_uri())
        assert re.findall(r'class="net[^"]*" data-seed="([^"]+)"', d) == ["original", "0", "1"]
