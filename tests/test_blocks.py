"""neural_art.blocks: per-block α for eq. (2); uniform α equals plain eq. (2)."""

import jax
import numpy as np
import pytest

from neural_art import blocks, perturb

NAMES = ["B1", "B2", "B3", "B10", "gen_z"]


def _params():
    ks = jax.random.split(jax.random.key(0), len(NAMES))
    return {"params": {n: {"kernel": jax.random.normal(k, (4, 8))} for n, k in zip(NAMES, ks, strict=True)},
            "batch_stats": {"B1": {"mean": jax.numpy.ones(3)}}}  # fmt: skip


def test_parse_and_expand():
    assert blocks.parse_alphas("B1:0, B2-B3:0.5,gen_z:1", NAMES) == {"B1": 0.0, "B2": 0.5, "B3": 0.5, "gen_z": 1.0}
    assert blocks.expand("B2-10", ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10"])[-1] == "B10"
    assert blocks.only("B2,gen_z", NAMES, 0.3) == {"B1": 0.0, "B2": 0.3, "B3": 0.0, "B10": 0.0, "gen_z": 0.3}
    for bad, msg in [("B1", "use BLOCK"), ("B1:-1", "ALPHA >= 0"), ("B1:inf", "ALPHA >= 0"),
                     ("B9:0.1", "unknown block 'B9'"), ("B3-B1:0.1", "end 1 < start 3")]:  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            blocks.parse_alphas(bad, NAMES)


def test_per_block_scales():
    p, key = _params(), jax.random.key(5)
    uniform = blocks.multiplicative(p, key, {}, alpha=0.35)
    jax.tree.map(np.testing.assert_array_equal, uniform, perturb.multiplicative(p, key, alpha=0.35))
    got = blocks.multiplicative(p, key, {"B1": 0.0, "B2": 0.7}, alpha=0.35)
    np.testing.assert_array_equal(got["params"]["B1"]["kernel"], p["params"]["B1"]["kernel"])
    full = perturb.multiplicative(p, key, alpha=0.7)
    np.testing.assert_allclose(got["params"]["B2"]["kernel"], full["params"]["B2"]["kernel"], rtol=1e-6)
    np.testing.assert_array_equal(got["params"]["B3"]["kernel"], uniform["params"]["B3"]["kernel"])
    np.testing.assert_array_equal(got["batch_stats"]["B1"]["mean"], p["batch_stats"]["B1"]["mean"])
