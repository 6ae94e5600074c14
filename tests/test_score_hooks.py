"""--score_with hooks (neural_art.scores.load_score): a score of one or two arguments,
a factory read with --score_weights, clear errors; styletransfer.scores.vgg_departure
(VGG-16 feature distance to θ*'s images) on random weights at channel width 8
(tests/fixtures.py's TINY_VGG16): 0 against itself,
growing with the perturbation, θ*'s features computed once."""

import numpy as np
import pytest
from fixtures import TINY_VGG16

from neural_art import scores

VGG = "styletransfer.scores:vgg_departure"


def test_hook_kinds_and_errors():
    s = scores.load_score("numpy:std")
    assert (s.name, s.reference) == ("std", False)
    d = scores.load_score("neural_art.scores:departure")  # two arguments: gets θ*'s images
    a, b = -np.ones((1, 4, 4, 3), np.float32), np.ones((1, 4, 4, 3), np.float32)
    assert d.reference and float(d(a, b)) == 1.0 and float(s(a, b)) == 0.0
    for spec, weights, msg in [
        ("numpy:std", "random:vgg16", "needs a factory hook"),
        ("", "random:vgg16", "needs --score_with"),
        ("numpy:pi", "", "is not callable"),
        (VGG, "random:vgg99", "unknown config 'vgg99'"),
        ("numpy:put", "", "a score takes \\(images\\) or \\(images, reference\\)"),
    ]:  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            scores.load_score(spec, weights)


def test_vgg_departure():
    s = scores.load_score(VGG, TINY_VGG16)
    assert (s.name, s.reference) == ("vgg_departure", True)
    assert scores.load_score(VGG, TINY_VGG16) is s  # the factory ran once
    rng = np.random.default_rng(0)
    ref = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    noise = rng.normal(size=ref.shape).astype(np.float32)
    assert float(s(ref.copy(), ref)) == 0.0
    got = [float(s(np.clip(ref + a * noise, -1, 1), ref)) for a in (0.02, 0.1, 0.5)]
    assert 0 < got[0] < got[1] < got[2] <= 20.0, got  # 5 layers, each term in [0, 4]
    with pytest.raises(ValueError, match="no layer 'relu9_9'"):
        from styletransfer.scores import vgg_departure

        vgg_departure(TINY_VGG16, layers=("relu9_9",))
