"""--color=histogram (Gatys et al. 2016, arXiv:1606.05897, sec. 2.2): the style
images and every scale's result take the content's colour mean and covariance.

Tiny random VGG-19 (width 8) on scikit-image photographs at 48 px, Adam.
"""

import numpy as np
import pytest

from styletransfer import Settings, color, transfer

skimage = pytest.importorskip("skimage", reason="test images come from scikit-image")
from skimage import data  # noqa: E402
from skimage import transform as sktf  # noqa: E402


def _rgb(im, n):
    return np.clip(sktf.resize(im, (n, n), anti_aliasing=True), 0, 1).astype(np.float32)


def _close(a, b, rel):
    (ma, ca), (mb, cb) = color.mean_cov(a), color.mean_cov(b)
    assert np.abs(np.asarray(ma) - mb).max() <= rel * np.abs(mb).max(), (ma, mb)
    assert np.abs(np.asarray(ca) - cb).max() <= rel * np.abs(cb).max(), (ca, cb)


def test_match_histogram_moves_mean_and_covariance():
    rng = np.random.default_rng(0)
    src = _rgb(data.coffee(), 64) * 0.6 + 0.2
    x = rng.uniform(0.2, 0.8, (64, 64, 3)).astype(np.float32)
    _close(color.match_histogram(x, src), src, 1e-3)


def test_histogram_color_result_matches_content_per_scale(tiny_vgg19_net):
    content = _rgb(data.coffee(), 48) * 0.8 + 0.1  # no channel at 0 or 1: clipping stays rare
    style = _rgb(data.astronaut(), 40)
    s = Settings(optimizer="adam", steps=3, color="histogram", scales=(32, 48))
    seen = []
    r = transfer._run(tiny_vgg19_net, s, content, [style], None, None, content.shape[:2],
                      on_scale=lambda k, im: seen.append(im))  # fmt: skip
    _close(r.image, content, 0.01)
    assert len(seen) == 1 and seen[0].shape == (32, 32, 3)
    _close(seen[0], color.resize(content, (32, 32)), 0.01)
