"""biggan_jax.bn: BN statistics re-estimated on the perturbed network itself."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

import biggan_jax as b
from biggan_jax import bn
from biggan_jax.layers import CondBatchNorm, truncation_stat_selector
from biggan_jax.model import BigGANDeep

CFG = b.get_config("biggan-deep-128").replace(channel_width=4)
BATCH = 8


@pytest.fixture(scope="module")
def setup(tiny_biggan):
    cfg, p = tiny_biggan  # init_params(CFG, key(0))
    assert cfg == CFG
    z = b.truncated_noise(jax.random.key(1), BATCH, 0.5)
    y = jnp.asarray(b.class_vector([i % 7 for i in range(BATCH)]))
    sel = tuple(jnp.asarray(x) for x in truncation_stat_selector(0.5, CFG.n_stats))
    return p, z, y, sel


@jax.jit
def _bn_outputs(params, z, y, sel):
    """Every conditional BN's output with recomputed statistics, by module path."""
    with nn.intercept_methods(bn._batch_stats_interceptor):
        _, st = BigGANDeep(CFG).apply(
            params,
            z,
            y,
            sel,
            mutable=["batch_stats", "intermediates"],
            capture_intermediates=lambda m, _: isinstance(m, CondBatchNorm),
        )
    return st["intermediates"]


_generate = jax.jit(lambda q, z, y: b.generate(CFG, q, z, y, 0.5))
_recompute = jax.jit(lambda q, z, y, sel: bn.with_bn("recompute", CFG, q, z, y, sel))


def test_recompute_normalises_a_rescaled_layer(setup):
    p, z, y, sel = setup
    # Scale B2's conv_1 by 2 as the network sees it: σ = uᵀWv halves when u halves
    # (scaling the stored kernel itself would be undone by spectral normalisation).
    scaled = jax.tree.map(lambda x: x, p)
    scaled["spectral"]["B2"]["conv_1"]["u"] = p["spectral"]["B2"]["conv_1"]["u"] * 0.5
    ref, got = _bn_outputs(p, z, y, sel), _bn_outputs(scaled, z, y, sel)
    a, c = ref["B2"]["bn_2"]["__call__"][0], got["B2"]["bn_2"]["__call__"][0]
    assert float(jnp.abs(_generate(scaled, z, y) - _generate(p, z, y)).max()) > 1e-3
    for stat in (jnp.mean, jnp.std):
        np.testing.assert_allclose(
            stat(c, axis=(0, 1, 2)), stat(a, axis=(0, 1, 2)), rtol=0.05, atol=1e-3
        )


def test_noop_at_alpha_zero_on_recomputed_statistics(setup):
    p, z, y, sel = setup
    p2 = _recompute(p, z, y, sel)
    assert (
        p2["batch_stats"]["bn"]["running_means"].shape
        == p["batch_stats"]["bn"]["running_means"].shape
    )
    again = _recompute(b.perturb.multiplicative(p2, jax.random.key(3), alpha=0.0), z, y, sel)
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=1e-5), again, p2)
    np.testing.assert_allclose(_generate(again, z, y), _generate(p2, z, y), atol=1e-5)
    assert bn.with_bn("stored", CFG, p, z, y, sel) is p
    with pytest.raises(ValueError, match="bn mode"):
        bn.with_bn("nope", CFG, p, z, y, sel)
