"""neural_art.gallery / neural_art.scores: the page in headless Chromium from
file:// (one thumbnail per network, sorting, the detail view's regenerate command,
a non-blank screenshot), and the scores' formulas on images with known answers."""

from __future__ import annotations

import re

import jax.numpy as jnp
import numpy as np
import pytest
from browser import CHROMIUM, Browser
from PIL import Image

from neural_art import gallery, images, scores

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")


def _sweep_dir(tmp_path, n=6):
    rng = np.random.default_rng(0)
    nets = []
    for seed in [None, *range(n)]:
        name = "original" if seed is None else f"seed_{seed:06d}"
        imgs = [rng.integers(0, 256, (32, 32, 3), np.uint8) // (1 + (seed or 0)) for _ in range(2)]
        rels = [images.save_image(tmp_path / "images" / name / f"r{r}.png", im).relative_to(tmp_path).as_posix()
                for r, im in enumerate(imgs)]  # fmt: skip
        nets.append({"seed": seed, "thumb": gallery.thumbnail(tmp_path, name, imgs), "images": rels,
                     "scores": {"colourfulness": float((7 * (seed or 0)) % 5), "departure": float(seed or 0)},
                     "command": f"python -m biggan_jax --seeds={seed} --out_dir=x"})  # fmt: skip
    return gallery.write(tmp_path, title="test sweep", settings={"alpha": 0.35}, networks=nets,
                         row_labels=["volcano z0", "volcano z1"])  # fmt: skip


@needs_chromium
def test_page_lists_sorts_and_details(tmp_path):
    page = _sweep_dir(tmp_path)
    url = page.as_uri()
    with Browser() as b:  # one browser start; each page below is a fresh load
        _check_pages(b, url, tmp_path)


def _check_pages(b, url, tmp_path):
    d = b.dom(url)
    seeds = re.findall(r'class="net[^"]*" data-seed="([^"]+)"', d)
    assert seeds == ["original", "0", "1", "2", "3", "4", "5"]  # one per network, θ* first
    assert d.count('src="thumbs/seed_') == 6 and d.count('src="thumbs/original.jpg"') == 1
    d = b.dom(url + "#sort=colourfulness&desc=1")
    cols = {s: (7 * s) % 5 for s in range(6)}
    want = ["original"] + [str(s) for s in sorted(range(6), key=lambda s: (-cols[s], s))]
    assert re.findall(r'data-seed="([^"]+)"', d) == want
    d = b.dom(url + "#fkey=departure&fmin=2&fmax=4")
    assert re.findall(r'data-seed="([^"]+)"', d) == ["original", "2", "3", "4"]
    d = b.dom(url + "#net=3")
    assert 'id="command">python -m biggan_jax --seeds=3 --out_dir=x</pre>' in d
    assert "images/seed_000003/r0.png" in d and "images/seed_000003/r1.png" in d
    shot = tmp_path / "shot.png"
    b.screenshot(url, shot)
    px = np.asarray(Image.open(shot).convert("L"), np.float32)
    assert px.std() > 5  # not blank


def test_scores_on_known_images():
    grey = jnp.zeros((2, 8, 8, 3))  # mid grey in [-1, 1]
    red = jnp.concatenate([jnp.ones((2, 8, 8, 1)), -jnp.ones((2, 8, 8, 2))], -1)
    assert float(scores.colourfulness(grey)) == 0.0
    # pure red: rg = 255, yb = 127.5, no spread: M = 0.3 * sqrt(255² + 127.5²)
    np.testing.assert_allclose(float(scores.colourfulness(red)), 0.3 * np.hypot(255, 127.5), rtol=1e-5)
    assert float(scores.complexity(grey)) == 0.0
    stripes = jnp.tile(jnp.asarray([-1.0, 1.0]), 4)[None, None, :, None] * jnp.ones((1, 8, 8, 3))
    np.testing.assert_allclose(float(scores.complexity(stripes)), 1.0, rtol=1e-5)  # |∂x| = 1 everywhere
    assert float(scores.departure(grey, grey)) == 0.0
    np.testing.assert_allclose(float(scores.departure(red, grey)), 0.5, rtol=1e-5)
    assert float(scores.diversity(grey[:1])) == 0.0
    np.testing.assert_allclose(float(scores.diversity(jnp.stack([grey[0], red[0]]))), 0.5, rtol=1e-5)
    assert scores.jpeg_ratio(np.zeros((64, 64, 3), np.uint8)) < scores.jpeg_ratio(
        np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8))


def test_score_with_hook():
    name, fn = scores.load_score_fn("numpy:mean")
    assert name == "mean" and fn is np.mean
    for bad in ("numpy", "nope_module_zz:f", "numpy:pi"):
        with pytest.raises(ValueError, match="--score_with"):
            scores.load_score_fn(bad)
