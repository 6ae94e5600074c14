"""Lineages in the compiled, chunked BigGAN sweep (biggan_jax.sharded): a lineage's
images are its network's (neural_art.lineage), in any chunk or company; seed k's
lineage "k" draws seed k's images."""

import jax
import numpy as np
import pytest

import biggan_jax
from biggan_jax.sharded import Perturbation, sweep
from neural_art import lineage as L
from neural_art import perturb
from neural_art.errors import UserError
from neural_art.images import to_uint8

BREED = L.Breeding(beta=0.3)


@pytest.fixture(scope="module")
def setup(tiny_biggan):
    cfg, params = tiny_biggan
    z = biggan_jax.truncated_noise(jax.random.key(1), 2, 0.5)
    y = biggan_jax.class_vector(["volcano", "stupa"])
    kw = dict(root=jax.random.key(42), perturbation=Perturbation(alpha=0.35), strategy="map")
    return cfg, params, z, y, kw


def test_a_lineage_sweep_draws_each_lineages_network_in_any_chunk(setup):
    """Chunks of 2 (one compiled program, four draws per network): the pixels of a
    lineage do not depend on its chunk, position or company, and are its network's
    (lineage.network_from, through generate; within one grey level)."""
    cfg, params, z, y, kw = setup
    lins = ["3", "3.1", "3.1x5", "3.1x5.2"]
    got = to_uint8(sweep(cfg, params, lins, z, y, 0.5, breeding=BREED, chunk_size=2, **kw))
    other = to_uint8(sweep(cfg, params, ["3.1x5.2", "3"], z, y, 0.5, breeding=BREED, chunk_size=2, **kw))
    np.testing.assert_array_equal(other, got[[3, 0]])  # other chunk and company, same pixels
    assert len({g.tobytes() for g in got}) == 4
    names = perturb.block_names(params)
    keys, coefs = L.stack(kw["root"], [L.parse(s) for s in lins], BREED, names)
    net = jax.jit(lambda k, c: L.network_from(params, k, c, alpha=0.35))
    for i in (0, 3):
        want = to_uint8(np.asarray(biggan_jax.generate(cfg, net(keys[i], coefs[i]), z, y, 0.5)))
        assert np.abs(got[i].astype(int) - want).max() <= 1, lins[i]


def test_lineages_need_eq2_and_a_valid_string(setup):
    cfg, params, z, y, kw = setup
    with pytest.raises(UserError, match="lineage '3.'"):
        sweep(cfg, params, ["3."], z, y, 0.5, **kw)
    with pytest.raises(UserError, match="mode multiplicative"):
        sweep(cfg, params, ["3.1"], z, y, 0.5, **{**kw, "perturbation": Perturbation(mode="replace")})
    assert L.parse_networks("0-2,17.4") == [L.Root(0), L.Root(1), L.Root(2), L.parse("17.4")]
    assert L.parse_networks("0-2,5") == [0, 1, 2, 5]
