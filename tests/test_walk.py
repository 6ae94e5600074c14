"""neural_art.walk: end points are θ* and eq. (2) exactly, with or without per-block α;
the spherical walk between two seeds keeps ‖ε‖ within 1% of one draw's; frames vmap;
every walk (toward a seed or between two) renders with one compiled program."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neural_art import blocks, perturb, walk


def _params():
    k = jax.random.split(jax.random.key(0), 3)
    return {"params": {"a": {"kernel": jax.random.normal(k[0], (64, 300))},
                       "b": {"bias": jax.random.normal(k[1], (777,))}},
            "batch_stats": {"mean": jax.random.normal(k[2], (5,))}}  # fmt: skip


def test_toward_end_points():
    p, key = _params(), jax.random.key(7)
    f0 = walk.toward(p, key, jnp.float32(0.0))
    jax.tree.map(np.testing.assert_array_equal, f0, p)
    f1 = walk.toward(p, key, jnp.float32(1.0), alpha=0.35)
    jax.tree.map(np.testing.assert_array_equal, f1, perturb.multiplicative(p, key, alpha=0.35))


def test_between_end_points_norm_and_vmap():
    p, ka, kb = _params(), jax.random.key(3), jax.random.key(17)
    for t, k in ((0.0, ka), (1.0, kb)):
        got = walk.between(p, ka, kb, jnp.float32(t))
        want = perturb.multiplicative(p, k, alpha=0.35)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6), got, want)
    ts = walk.frames(9)
    norms = jax.vmap(lambda t: jnp.sqrt(sum(jnp.sum(e**2) for e in walk.mixed_noise(p, ka, kb, t).values())))(ts)
    one = float(norms[0])
    assert np.all(np.abs(np.asarray(norms) / one - 1) < 0.01), norms
    frames = jax.jit(jax.vmap(lambda t: walk.between(p, ka, kb, t)))(ts)
    assert frames["params"]["a"]["kernel"].shape == (9, 64, 300)
    np.testing.assert_array_equal(frames["batch_stats"]["mean"], np.broadcast_to(p["batch_stats"]["mean"], (9, 5)))


def test_per_block_alpha_end_points_are_the_sweeps():
    p, ka, kb, alphas = _params(), jax.random.key(3), jax.random.key(17), {"a": 0.0, "b": 0.6}
    sweep_a = blocks.multiplicative(p, ka, alphas, alpha=0.35)  # what the sweep's seed a is
    jax.tree.map(np.testing.assert_array_equal, walk.toward(p, ka, jnp.float32(1.0), alphas=alphas), sweep_a)
    jax.tree.map(np.testing.assert_array_equal, walk.between(p, ka, kb, jnp.float32(0.0), alphas=alphas), sweep_a)
    mid = walk.between(p, ka, kb, jnp.float32(0.5), alphas=alphas)
    np.testing.assert_array_equal(mid["params"]["a"]["kernel"], p["params"]["a"]["kernel"])  # α_a = 0
    assert not np.allclose(mid["params"]["b"]["bias"], p["params"]["b"]["bias"])


def test_renderer_one_program_for_every_walk():
    p, root, ts = _params(), jax.random.key(0), walk.frames(3)
    net = lambda q: q["params"]["b"]["bias"] * 2.0
    render = walk.renderer(net, alpha=0.35)
    to, mid = render(p, walk.Walk(4), root, ts), render(p, walk.Walk(4, 9), root, ts)
    assert render.program._cache_size() == 1
    k4, k9 = perturb.seed_key(root, 4), perturb.seed_key(root, 9)
    for i, t in enumerate(ts):
        np.testing.assert_allclose(to[i], net(walk.toward(p, k4, t)), rtol=1e-6)
        np.testing.assert_allclose(mid[i], net(walk.between(p, k4, k9, t)), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(to[0], net(p))


def test_pairs_and_plan():
    assert walk.parse_pairs(["3:17", " 0:2"]) == ((3, 17), (0, 2))
    with pytest.raises(ValueError, match="use SEED:SEED"):
        walk.parse_pairs(["3-17"])
    with pytest.raises(ValueError, match="needs --mode=walk"):
        walk.parse_pairs(["3:17"], walk_mode=False)
    assert [w.name for w in walk.plan([7], [(3, 17)])] == ["seed_000007", "seed_3_to_17"]
    assert walk.command("python -m x --a=1", walk.Walk(3, 17), "out/w/") == (
        "python -m x --a=1 --walk_between=3:17 --out_dir=out/w_seed_3_to_17")


def test_frames_needs_two():
    with pytest.raises(ValueError, match="at least 2 frames"):
        walk.frames(1)
