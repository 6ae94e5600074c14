"""neural_art.walk: end points are θ* and eq. (2) exactly; the spherical walk
between two seeds keeps ‖ε‖ within 1% of one draw's; frames vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neural_art import perturb, walk


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


def test_frames_needs_two():
    with pytest.raises(ValueError, match="at least 2 frames"):
        walk.frames(1)
