"""featvis.param and featvis.transform: shapes, ranges, penalties, projections, keys."""

import jax
import jax.numpy as jnp
import numpy as np

from featvis import param as P
from featvis import transform as T


def test_pixel_penalty_and_project():
    prm = P.pixel(9, 11, batch=2, l2=2.0, tv=3.0, blur_every=3, blur_sigma=1.0)
    x = prm.init(jax.random.key(0))
    assert x.shape == (2, 9, 11, 3)
    np.testing.assert_allclose(float(jnp.mean(x)), 0.5, atol=0.01)
    xn = np.asarray(x)
    tv = np.abs(np.diff(xn, axis=1)).mean() + np.abs(np.diff(xn, axis=2)).mean()
    np.testing.assert_allclose(
        prm.penalty(x, None), 2 * np.mean((xn - 0.5) ** 2) + 3 * tv, rtol=1e-5
    )
    big = x * 3 - 1
    assert float(prm.project(big, jnp.asarray(0)).max()) <= 1.0
    assert float(prm.project(big, jnp.asarray(0)).min()) >= 0.0
    # blur only after steps 2, 5, ... : it lowers the variance
    v0 = float(jnp.var(prm.project(x, jnp.asarray(0))))
    v2 = float(jnp.var(prm.project(x, jnp.asarray(2))))
    assert v2 < 0.5 * v0


def test_gaussian_blur_preserves_constant_and_mean():
    x = jnp.full((1, 8, 8, 3), 0.3)
    np.testing.assert_allclose(P.gaussian_blur(x, 1.0), x, rtol=1e-6)


def test_fft_image_shapes_range_and_spectrum():
    for h, w in [(16, 16), (15, 21)]:
        prm = P.fft(h, w, batch=3)
        p = prm.init(jax.random.key(1))
        img = jax.jit(lambda q, prm=prm: prm.image(q, None, None))(p)  # one compile, not one per op
        assert img.shape == (3, h, w, 3)
        assert float(img.min()) > 0 and float(img.max()) < 1
    # zero spectrum -> sigmoid(0) = 0.5 everywhere; 1/f scaling: the DC term is weighted most
    prm = P.fft(16, 16)
    np.testing.assert_allclose(
        prm.image(jnp.zeros_like(prm.init(jax.random.key(0))), None, None), 0.5
    )
    f = P.rfft2d_freqs(16, 16)
    assert f.shape == (16, 9) and f[0, 0] == 0


def test_decorrelate_color_matches_lucid_matrix():
    c = P.COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(P.COLOR_CORRELATION_SVD_SQRT, axis=0))
    t = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(P.decorrelate_color(jnp.asarray(t)), t @ c.T, rtol=1e-5, atol=1e-6)


def test_transforms_shapes_and_keys():
    x = jax.random.uniform(jax.random.key(0), (2, 20, 22, 3))
    k = jax.random.key(5)
    assert T.pad(3)(k, x).shape == (2, 26, 28, 3)
    assert T.jitter(4)(k, x).shape == (2, 16, 18, 3)
    assert T.random_scale([0.9, 1.1])(k, x).shape == x.shape
    assert T.random_rotate([-10, 10])(k, x).shape == x.shape
    std = T.compose(T.standard())
    y1, y2, y3 = std(k, x), std(k, x), std(jax.random.key(6), x)
    assert y1.shape == (2, 20 + 24 - 12, 22 + 24 - 12, 3)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(y1, y3)
    # identity warps are exact; a 90° rotation of a square image permutes pixels
    np.testing.assert_allclose(T.affine(x, 1.0, 0.0), x, atol=1e-6)
    sq = x[:, :20, :20]
    rot = T.affine(sq, 1.0, jnp.pi / 2)
    np.testing.assert_allclose(
        np.sort(np.asarray(rot).ravel()), np.sort(np.asarray(sq).ravel()), atol=1e-5
    )
    # jitter is a crop at a random offset
    j = np.asarray(T.jitter(4)(k, x))
    found = [
        (a, b)
        for a in range(5)
        for b in range(5)
        if np.array_equal(np.asarray(x)[:, a : a + 16, b : b + 18], j)
    ]
    assert len(found) == 1
