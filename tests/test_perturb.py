"""biggan_jax.perturb: eq. (2) and eq. (3) of Janik on any params pytree."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import biggan_jax
from biggan_jax import perturb
from biggan_jax.layers import power_iteration, sn_sigma
from neural_art import perturb as core

CFG = biggan_jax.BIGGAN_DEEP_128.replace(channel_width=32)


@pytest.fixture(scope="module")
def params():
    p = biggan_jax.init_params(CFG, jax.random.key(0))
    # nonzero everywhere (init has zero biases / gamma), so θ/θ* is defined for every entry
    rng = np.random.default_rng(0)
    p["params"] = jax.tree.map(
        lambda x: np.asarray(x) + rng.normal(0, 0.05, x.shape).astype(np.float32), p["params"]
    )
    return p


def _flat(tree):
    return {
        core.path_str(k): np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(tree)
    }


def test_eq2_statistics_and_untouched_leaves(params):
    alpha = 0.35
    new = jax.jit(lambda p, k: perturb.multiplicative(p, k, alpha=alpha))(
        params, core.seed_key(jax.random.key(0), 7)
    )
    a, b = _flat(params), _flat(new)
    ratios = np.concatenate(
        [((b[k] / a[k] - 1) / alpha).ravel() for k in a if k.startswith("params/")]
    )
    assert ratios.size == sum(np.size(x) for x in jax.tree.leaves(params["params"]))
    assert abs(ratios.mean()) < 0.01 and abs(ratios.std() - 1) < 0.01
    for k in a:
        if not k.startswith("params/"):  # standing statistics and spectral vectors
            np.testing.assert_array_equal(b[k], a[k], err_msg=k)


def test_alpha_zero_reproduces_the_unperturbed_images(tiny_biggan):
    small, p = tiny_biggan  # width 4: the generator program test_biggan_model compiles too
    same = perturb.multiplicative(p, jax.random.key(3), alpha=0.0)
    z = biggan_jax.truncated_noise(jax.random.key(2), 2, 0.5)
    y = biggan_jax.class_vector(["volcano", "stupa"])
    np.testing.assert_array_equal(
        np.asarray(biggan_jax.generate(small, same, z, y, 0.5)),
        np.asarray(biggan_jax.generate(small, p, z, y, 0.5)),
    )


def test_a_leaf_draw_does_not_depend_on_the_selection(params):
    key = jax.random.key(11)
    everything = _flat(perturb.multiplicative(params, key))
    only_b2 = _flat(perturb.multiplicative(params, key, where=core.match("params/B2/*")))
    orig = _flat(params)
    for k, v in only_b2.items():
        if k.startswith("params/B2/"):
            np.testing.assert_array_equal(v, everything[k], err_msg=k)
        else:
            np.testing.assert_array_equal(v, orig[k], err_msg=k)


def test_seeds_differ_and_repeat(params):
    root = jax.random.key(0)
    a = _flat(perturb.multiplicative(params, core.seed_key(root, 1)))
    a2 = _flat(perturb.multiplicative(params, core.seed_key(root, 1)))
    b = _flat(perturb.multiplicative(params, core.seed_key(root, 2)))
    k = "params/B5/conv_1/kernel"
    np.testing.assert_array_equal(a[k], a2[k])
    assert not np.allclose(a[k], b[k])


def test_options_include_statistics_and_effective_weights(params):
    key = jax.random.key(5)
    with_stats = _flat(
        perturb.multiplicative(
            params, key, where=core.match("*", collections=("params", "batch_stats"))
        )
    )
    orig = _flat(params)
    assert not np.allclose(
        with_stats["batch_stats/B1/bn_0/running_vars"], orig["batch_stats/B1/bn_0/running_vars"]
    )
    np.testing.assert_array_equal(with_stats["spectral/B1/conv_1/u"], orig["spectral/B1/conv_1/u"])
    eff = perturb.multiplicative(params, key, effective=True)
    for mod in (("B3", "conv_1"), ("gen_z",), ("B2", "bn_0", "scale")):
        k0, s0, k1, s1 = params["params"], params["spectral"], eff["params"], eff["spectral"]
        for m in mod:
            k0, s0, k1, s1 = k0[m], s0[m], k1[m], s1[m]
        np.testing.assert_allclose(
            float(sn_sigma(k1["kernel"], s1["u"], s1["v"])),
            float(sn_sigma(k0["kernel"], s0["u"], s0["v"])),
            rtol=1e-4,
        )


def test_eq3_replaces_only_the_block_with_matching_statistics(params):
    new = core.replace_block(params, jax.random.key(9), "B2", after=perturb.rederive_spectral)
    a, b = _flat(params), _flat(new)
    changed = {k for k in a if not np.array_equal(a[k], b[k])}
    assert changed and all(k.startswith(("params/B2/", "spectral/B2/")) for k in changed), sorted(
        changed
    )[:5]
    assert {k for k in a if k.startswith("params/B2/")} <= changed
    # conv kernels: per kernel position (footnote 6)
    old, rep = a["params/B2/conv_1/kernel"], b["params/B2/conv_1/kernel"]
    n = old.shape[2] * old.shape[3]
    for h in range(3):
        for w in range(3):
            o, r = old[h, w], rep[h, w]
            assert abs(r.mean() - o.mean()) < 5 * o.std() / np.sqrt(n)
            assert abs(r.std() / o.std() - 1) < 5 / np.sqrt(2 * n)
    # other tensors: per tensor
    o, r = a["params/B2/bn_1/scale/kernel"], b["params/B2/bn_1/scale/kernel"]
    assert (
        abs(r.mean() - o.mean()) < 5 * o.std() / np.sqrt(o.size)
        and abs(r.std() / o.std() - 1) < 0.05
    )
    # spectral vectors re-derived: σ is the new kernel's top singular value
    k = b["params/B2/conv_1/kernel"]
    top = np.linalg.svd(k.reshape(-1, k.shape[-1]), compute_uv=False)[0]
    sigma = float(sn_sigma(k, b["spectral/B2/conv_1/u"], b["spectral/B2/conv_1/v"]))
    np.testing.assert_allclose(sigma, top, rtol=0.05)
    u, v = power_iteration(k, b["spectral/B2/conv_1/u"], n_iter=100)
    np.testing.assert_allclose(float(sn_sigma(k, u, v)), top, rtol=1e-3)


def test_readme_eq3_example_draws_the_clis_replace_network(tiny_biggan, tmp_path):
    """README's ``perturb.replace_block(params, seed_key(key(0), 7), "B2",
    after=bp.rederive_spectral)`` is seed 7 of ``--mode=replace --block=B2``: the
    same params as the sweep's Perturbation, the same PNGs as the CLI writes."""
    from cli_harness import run_cli
    from fixtures import TINY_BIGGAN
    from PIL import Image

    from biggan_jax.perturb import Perturbation
    from neural_art.images import to_uint8

    cfg, params = tiny_biggan
    key = core.seed_key(jax.random.key(0), 7)
    theta = core.replace_block(params, key, "B2", after=perturb.rederive_spectral)  # README
    sweep_theta = Perturbation(mode="replace", block="B2").apply(params, key, hooks=perturb.HOOKS)
    for k, v in _flat(sweep_theta).items():
        np.testing.assert_array_equal(_flat(theta)[k], v, err_msg=k)
    out = tmp_path / "rep"
    r = run_cli("biggan_jax", [f"--weights={TINY_BIGGAN}", "--mode=replace", "--block=B2",
                               "--seeds=7", "--classes=volcano", "--truncation=0.5",
                               "--gallery=false", f"--out_dir={out}"])  # fmt: skip
    assert r.code == 0, r.err[-3000:]
    z = biggan_jax.truncated_noise(jax.random.fold_in(jax.random.key(0), 0), 1, 0.5)
    y = biggan_jax.class_vector(["volcano"])
    png = np.asarray(Image.open(out / "images" / "seed_000007" / "r000_volcano_l0.png"))
    mine = to_uint8(np.asarray(biggan_jax.generate(cfg, theta, z, y, 0.5))[0])
    assert np.abs(mine.astype(int) - png).max() <= 1
    stale = core.replace_block(params, key, "B2")  # without the hook: σ from the old vectors
    other = to_uint8(np.asarray(biggan_jax.generate(cfg, stale, z, y, 0.5))[0])
    assert np.abs(other.astype(int) - png).max() > 1


def test_works_on_any_pytree():
    tree = {"dense": {"w": jnp.ones((4, 3)), "b": jnp.ones(3)}, "step": jnp.array(3)}
    out = perturb.multiplicative(tree, jax.random.key(0), alpha=0.5)
    assert not np.allclose(out["dense"]["w"], 1.0) and int(out["step"]) == 3  # ints untouched
    rep = core.replace(tree, jax.random.key(0), where=core.match("dense/w"),
                       after=perturb.rederive_spectral)  # no spectral collection: the hook keeps it
    np.testing.assert_array_equal(rep["dense"]["b"], tree["dense"]["b"])


def test_non_finite_alpha_is_refused_as_the_cli_refuses_it():
    tree = {"w": jnp.ones((2, 2))}
    for alpha in (float("nan"), float("inf"), np.float32("nan")):
        with pytest.raises(ValueError, match="alpha must be finite"):
            core.multiplicative(tree, jax.random.key(0), alpha=alpha)
    jax.jit(lambda a: core.multiplicative(tree, jax.random.key(0), alpha=a))(0.5)  # traced: not read


def test_bad_block_name(params):
    with pytest.raises(ValueError, match=r"unknown block 'B99'.*B1, B2"):
        core.replace_block(params, jax.random.key(0), "B99")


def _ks_statistic(x: np.ndarray) -> float:
    """Two-sided Kolmogorov–Smirnov statistic of ``x`` against N(0, 1) (no scipy needed)."""
    from math import erf, sqrt

    x = np.sort(np.asarray(x, np.float64))
    cdf = 0.5 * (1 + np.vectorize(erf)(x / sqrt(2)))
    n = x.size
    return float(max((np.arange(1, n + 1) / n - cdf).max(), (cdf - np.arange(n) / n).max()))


def test_noise_is_standard_normal_and_independent():
    """ε: KS against N(0, 1), moments, tails; uncorrelated between leaves, seeds and neighbours."""
    shapes = [(3, 3, 64, 64), (256, 1024), (17,)]
    paths = ["params/B1/conv_1/kernel", "params/gen_z/kernel", "params/B1/conv_1/bias"]
    a, b, c = (np.asarray(e).ravel() for e in core.normals(jax.random.key(0), paths, shapes))
    b2 = np.asarray(core.normals(jax.random.key(1), paths[1:2], shapes[1:2])[0]).ravel()
    n = 30_000
    crit = 1.95 / np.sqrt(n)  # KS critical value at p = 0.001
    assert _ks_statistic(b[:n]) < crit and _ks_statistic(a[:n]) < crit
    try:
        from scipy import stats
    except ImportError:
        pass
    else:
        assert stats.kstest(b, "norm").pvalue > 1e-3
    assert abs(b.mean()) < 5 / np.sqrt(b.size) and abs(b.std() - 1) < 5 / np.sqrt(2 * b.size)
    assert abs(np.mean(np.abs(b) > 3) - 0.0027) < 5 * np.sqrt(0.0027 / b.size)
    assert np.abs(b).max() < 5.5 and c.dtype == np.float32
    m = min(a.size, b.size)
    for u, v in ((a[:m], b[:m]), (b, b2), (b[:-1], b[1:]), (b[:-1024], b[1024:])):
        assert abs(np.corrcoef(u, v)[0, 1]) < 5 / np.sqrt(u.size)


def test_noise_is_the_documented_function_of_key_path_and_index():
    key = jax.random.key(7)
    (e,) = core.normals(key, ["params/B3/conv_2/kernel"], [(3, 3, 8, 8)])
    a, c = core.leaf_words(key, "params/B3/conv_2/kernel")
    i = jnp.arange(e.size, dtype=jnp.uint32)
    np.testing.assert_array_equal(
        np.asarray(core.bits_to_normal(core.entry_bits(a, c, i))).reshape(e.shape), np.asarray(e)
    )
