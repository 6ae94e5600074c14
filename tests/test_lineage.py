"""neural_art.lineage: networks named by their ancestry (grammar, ε as a pure
function of lineage and root key, N(0, 1) children and crosses, β's meaning)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neural_art import lineage as L
from neural_art import perturb
from neural_art.errors import UserError

ROOT = jax.random.key(5)
TREE = {"a": {"w": jnp.full((60_000,), 0.5)}, "b": {"w": jnp.ones((200, 300))}}  # two blocks


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def _eps(lin, breeding=L.Breeding()):
    e = L.epsilon(TREE, ROOT, lin, breeding)
    return np.asarray(e["a/w"]), np.asarray(e["b/w"]).ravel()


def test_lineage_strings_parse_and_print_back():
    cases = {
        "17": L.Root(17),
        "17.4": L.Child(L.Root(17), 4),
        "17.4x203": L.Cross(L.Child(L.Root(17), 4), L.Root(203)),
        "17.4x203.1": L.Child(L.Cross(L.Child(L.Root(17), 4), L.Root(203)), 1),
        "17x(203.4)": L.Cross(L.Root(17), L.Child(L.Root(203), 4)),
    }
    for text, want in cases.items():
        assert L.parse(text) == want and str(want) == text
    assert L.parse_list("17, 203.4,17") == [L.Root(17), L.Child(L.Root(203), 4)]
    for bad in ("", "17.", "x3", "17..4", "(17", "17x", "3-4", "2147483648", "1.-2", "17.4 x 3"):
        with pytest.raises(UserError, match="lineage"):
            L.parse(bad)
    with pytest.raises(UserError, match="beta"):
        L.Breeding(beta=1.5)
    with pytest.raises(UserError, match="cross"):
        L.Breeding(cross="genes")


def test_a_seed_is_the_sweeps_network_and_beta_zero_is_the_parent_exactly():
    seed = L.network(TREE, ROOT, "17", alpha=0.35)
    sweep = perturb.multiplicative(TREE, perturb.seed_key(ROOT, 17), alpha=0.35)
    for got, want in zip(_leaves(seed), _leaves(sweep), strict=True):
        np.testing.assert_array_equal(got, want)
    zero = L.Breeding(beta=0.0)  # β is one setting for every generation of a lineage
    for parent, child in (("17", "17.9"), ("17.2x203", "17.2x203.9")):
        got = L.network(TREE, ROOT, child, zero, alpha=0.35)
        for g, w in zip(_leaves(got), _leaves(L.network(TREE, ROOT, parent, zero, alpha=0.35)),
                        strict=True):  # fmt: skip
            np.testing.assert_array_equal(g, w, err_msg=child)
    moved = L.network(TREE, ROOT, "17.9", L.Breeding(beta=0.3), alpha=0.35)
    assert not np.array_equal(_leaves(moved)[0], _leaves(seed)[0])


def test_children_and_crosses_are_standard_normal_with_the_stated_correlations():
    """KS against N(0, 1) for a child, a grandchild, a cross of unrelated networks,
    a cross of siblings (correlated parents: the mixture is rescaled) and a
    block-wise cross; a child's correlation with its parent is cos(πβ/2)."""
    stats = pytest.importorskip("scipy.stats", reason="the KS test uses scipy.stats.kstest")
    beta = 0.3
    br = L.Breeding(beta=beta)
    cases = {
        "child": ("17.4", br),
        "grandchild": ("17.4.2", br),
        "cross": ("17.4x203", br),
        "siblings": ("17.1x(17.2)", br),
        "blocks": ("17.4x203", L.Breeding(beta=beta, cross="blocks")),
    }
    for name, (lin, b) in cases.items():
        x = np.concatenate(_eps(lin, b))
        assert stats.kstest(x, "norm").pvalue > 1e-3, name
        assert abs(x.std() - 1) < 0.01, (name, x.std())
    child, parent = np.concatenate(_eps("17.4", br)), np.concatenate(_eps("17"))
    rho = np.corrcoef(child, parent)[0, 1]
    assert abs(rho - np.cos(np.pi * beta / 2)) < 0.01, rho
    cross = np.concatenate(_eps("17.4x203"))
    for half in (_eps("17.4", br), _eps("203")):  # t = 1/2: cos(π/4) of each parent
        assert abs(np.corrcoef(cross, np.concatenate(half))[0, 1] - np.sqrt(0.5)) < 0.01


def test_a_blockwise_cross_takes_each_block_from_one_parent():
    a, b = _eps("17.4", L.Breeding()), _eps("203", L.Breeding())
    got = _eps("17.4x203", L.Breeding(cross="blocks"))
    for j in range(2):
        if not np.array_equal(got[j], a[j]):
            np.testing.assert_array_equal(got[j], b[j])
    # over BigGAN's 17 blocks both parents give some, each block all of its ε from one
    names = ["embeddings", "gen_z", *(f"B{i}" for i in range(1, 14)), "bn", "conv_to_rgb"]
    for lin in ("17.4x203", "3x7", "11x12"):
        t = L.terms(L.parse(lin), L.Breeding(cross="blocks"), names)
        coefs = np.stack(list(t.values()))  # [draws, blocks]
        assert np.allclose((coefs**2).sum(0), 1.0), lin
        owners = {tuple(np.flatnonzero(coefs[:, j])) for j in range(len(names))}
        assert len(owners) == 2, (lin, owners)


def test_per_block_alpha_is_honoured():
    theta = L.network(TREE, ROOT, "17.4x203.1", alpha=0.35, alphas={"a": 0.0})
    np.testing.assert_array_equal(np.asarray(theta["a"]["w"]), np.asarray(TREE["a"]["w"]))
    e = _eps("17.4x203.1")[1].reshape(200, 300)
    np.testing.assert_allclose(np.asarray(theta["b"]["w"]), 1 + 0.35 * e, rtol=1e-6)


def test_a_lineages_network_is_the_same_alone_or_in_a_batch():
    lins = [L.parse(s) for s in ("3", "3.1", "3.1x(8.2)", "3.1x(8.2).5")]
    br = L.Breeding(beta=0.4)
    names = perturb.block_names(TREE)
    keys, coefs = L.stack(ROOT, lins, br, names, width=6)
    batch = jax.jit(jax.vmap(lambda k, c: L.network_from(TREE, k, c, alpha=0.35)))(keys, coefs)
    for i, lin in enumerate(lins):
        alone = L.network(TREE, ROOT, lin, br, alpha=0.35)
        for got, want in zip(_leaves(jax.tree.map(lambda x: x[i], batch)), _leaves(alone), strict=True):
            np.testing.assert_array_equal(got, want, err_msg=str(lin))


def test_pixel_departure_from_the_parent_grows_with_beta(tiny_biggan):
    """Mean |image(child) − image(parent)| over three children of a cross, tiny
    BigGAN: 0 at β = 0, then strictly increasing over β = 0.1, 0.3, 1 (measured
    2026-12-04: 0, 0.015, 0.044, 0.085 of the [-1, 1] range)."""
    import biggan_jax

    cfg, params = tiny_biggan
    z = biggan_jax.truncated_noise(jax.random.key(2), 2, 0.5)
    y = biggan_jax.class_vector(["volcano", "stupa"])
    names = perturb.block_names(params)
    net = jax.jit(lambda k, c: L.network_from(params, k, c, alpha=0.35))
    draw = lambda lins, br: [np.asarray(biggan_jax.generate(cfg, net(k, jnp.asarray(c)), z, y, 0.5))
                             for k, c in zip(*L.stack(ROOT, lins, br, names, width=3), strict=True)]  # fmt: skip
    parent = draw([L.parse("3x7")], L.Breeding())[0]
    departure = []
    for beta in (0.0, 0.1, 0.3, 1.0):
        kids = draw([L.parse(f"3x7.{c}") for c in range(3)], L.Breeding(beta=beta))
        departure.append(float(np.mean([np.abs(k - parent).mean() for k in kids])))
    assert departure[0] == 0.0 and departure[1] < departure[2] < departure[3], departure
