"""DCGAN analyses (seed Figs. 4-6): slerp / wrap-around interpolation invariants,
vector arithmetic, deconvnet + guided-backprop rules and receptive-field support,
and the CLI writing its labelled figures from the embedded model (in this process,
sharing the compiled figure functions with the library tests)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cli_harness import assert_one_line_error, run_cli
from PIL import Image

import dcgan
from dcgan import figures as A
from dcgan import layers as L
from dcgan import model as M

TINY = M.DCGANConfig(nz=6, ngf=4, ndf=4, nc=3, resolution=32)


@pytest.fixture(scope="module")
def embedded():
    return dcgan.load()


# ---------------------------------------------------------------- interpolation


def test_slerp_endpoints_norms_and_linear_fallback():
    a, b = jax.random.normal(jax.random.key(0), (2, 100))
    b = b * jnp.linalg.norm(a) / jnp.linalg.norm(b)  # same norm
    t = jnp.linspace(0, 1, 9)
    path = A.slerp(jnp.broadcast_to(a, (9, 100)), jnp.broadcast_to(b, (9, 100)), t)
    np.testing.assert_allclose(path[0], a, atol=1e-5)
    np.testing.assert_allclose(path[-1], b, atol=1e-5)
    # on the great circle: the norm stays |a| (a linear path would dip in the middle)
    np.testing.assert_allclose(jnp.linalg.norm(path, axis=-1), jnp.linalg.norm(a), rtol=1e-5)
    mid_linear = jnp.linalg.norm((a + b) / 2)
    assert float(mid_linear) < 0.9 * float(jnp.linalg.norm(a))  # random 100-d: nearly orthogonal
    # equal angular steps
    cos = jnp.sum(path[1:] * path[:-1], -1) / jnp.linalg.norm(a) ** 2
    np.testing.assert_allclose(cos, cos[0], rtol=1e-4)
    # parallel inputs: falls back to linear interpolation, no NaN
    p = A.slerp(a, 2 * a, jnp.asarray(0.5))
    np.testing.assert_allclose(p, 1.5 * a, rtol=1e-5)


@pytest.mark.parametrize("mode", ["linear", "slerp"])
def test_interpolation_latents_wrap_around(mode):
    zs = jax.random.normal(jax.random.key(1), (12, 5))
    lat = A.interpolation_latents(zs, 8, mode)
    assert lat.shape == (12, 8, 5)
    np.testing.assert_allclose(lat[:, 0], zs, atol=1e-6)  # row i starts at z_i
    # the step after each row's last column is the next row's start; the last row wraps to z_0
    t_next = 1.0
    nxt = np.roll(np.asarray(zs), -1, axis=0)
    if mode == "linear":
        extrap = lat[:, -1] + (lat[:, -1] - lat[:, -2]) * t_next
        np.testing.assert_allclose(extrap, nxt, atol=1e-5)
    else:
        np.testing.assert_allclose(A.slerp(zs, nxt, jnp.ones(12)), nxt, atol=1e-5)
        d_last = jnp.linalg.norm(lat[:, -1] - nxt, axis=-1)
        d_first = jnp.linalg.norm(lat[:, 0] - nxt, axis=-1)
        assert bool(jnp.all(d_last < d_first))
    np.testing.assert_allclose(nxt[-1], zs[0])
    with pytest.raises(ValueError, match="mode"):
        A.interpolation_latents(zs, 8, "cubic")


def test_interpolation_figure_rows_join_up(embedded, tmp_path):
    cfg, params = embedded
    g = params["generator"]
    path, imgs = A.interpolation(
        cfg, g, tmp_path / "i.png", key=jax.random.key(3), n_points=12, steps=4
    )
    assert imgs.shape == (12, 4, cfg.resolution, cfg.resolution, cfg.nc)
    zs = M.sample_latents(jax.random.key(3), 12, cfg.nz)
    starts = A.generate_chunked(cfg, g, zs)
    np.testing.assert_allclose(imgs[:, 0], starts, atol=1e-5)  # row i starts at G(z_i)
    # the last column of the last row is on the way back to G(z_0): closer to it than row 11's start
    assert np.abs(imgs[-1, -1] - starts[0]).mean() < np.abs(imgs[-1, 0] - starts[0]).mean()
    assert path.exists()


# ---------------------------------------------------------------- vector arithmetic


def test_vector_arithmetic_averages_three_exemplars(embedded, tmp_path):
    cfg, params = embedded
    g = params["generator"]
    z1, z2 = A.pick_exemplars(
        cfg, g, jax.random.key(4), concept="colorfulness", n_candidates=16, k=3
    )
    assert z1.shape == z2.shape == (3, cfg.nz)
    s1 = A.colorfulness(A.generate_chunked(cfg, g, z1))
    s2 = A.colorfulness(A.generate_chunked(cfg, g, z2))
    assert s1.min() >= s2.max()  # the 3 most vs the 3 least colourful candidates
    z3 = M.sample_latents(jax.random.key(5), 2, cfg.nz)
    path, grid = A.vector_arithmetic(cfg, g, tmp_path / "v.png", z1, z2, z3)
    assert grid.shape == (2, 4, cfg.resolution, cfg.resolution, cfg.nc)
    want = A.generate_chunked(cfg, g, z1.mean(0) - z2.mean(0) + z3)
    np.testing.assert_allclose(grid[:, 3], want, atol=1e-5)
    np.testing.assert_allclose(grid[:, 0], np.broadcast_to(A.generate_chunked(cfg, g, z1.mean(0)[None]), grid[:, 0].shape), atol=1e-5)  # fmt: skip
    # z1 == z2 -> the arithmetic returns G(z3)
    _, same = A.vector_arithmetic(cfg, g, tmp_path / "s.png", z1, z1, z3)
    np.testing.assert_allclose(same[:, 3], same[:, 2], atol=1e-5)
    assert path.exists()


# ---------------------------------------------------------------- deconvnet / guided backprop


def test_backward_rules_documented_leaky_relu():
    x = jnp.array([-2.0, -0.5, 0.5, 2.0, -1.0, 1.0])
    r = jnp.array([1.0, 1.0, 1.0, 1.0, -1.0, -1.0])
    back = {
        m: jax.vjp(A.backward_rule(m, 0.2), x)[1](r)[0] for m in ("deconvnet", "guided", "gradient")
    }
    # deconvnet: the rectifier applied to the signal, ignoring the forward input
    np.testing.assert_allclose(back["deconvnet"], [1, 1, 1, 1, -0.2, -0.2])
    # guided: true LeakyReLU derivative times the positive part of the signal
    np.testing.assert_allclose(back["guided"], [0.2, 0.2, 1, 1, 0, 0])
    np.testing.assert_allclose(back["gradient"], [0.2, 0.2, 1, 1, -0.2, -1])
    # forward unchanged
    np.testing.assert_allclose(A.backward_rule("guided", 0.2)(x), L.leaky_relu(x, 0.2))
    with pytest.raises(ValueError):
        A.backward_rule("lrp")


def _rf(layer_idx, r, size):
    """Input rows seen by output row ``r`` of conv ``layer_idx`` (4x4, s2, p1 per layer)."""
    lo = hi = r
    for _ in range(layer_idx + 1):
        lo, hi = 2 * lo - 1, 2 * hi + 2
    return max(lo, 0), min(hi, size - 1)


@pytest.mark.parametrize("method", ["deconvnet", "guided"])
@pytest.mark.parametrize("layer", [0, 1, 2])
def test_projection_support_is_the_receptive_field(method, layer):
    d = M.init_discriminator(TINY, jax.random.key(0))
    img = jax.random.uniform(jax.random.key(1), (32, 32, 3), minval=-1, maxval=1)
    chans = A.top_channels(TINY, d, img, f"conv{layer}", k=3)
    rec = np.asarray(A.project(TINY, d, img, f"conv{layer}", chans, method=method))
    assert rec.shape == (3, 32, 32, 3)
    acts = M.Discriminator(TINY).apply(d, img[None], train=False)[1][f"conv{layer}"][0]
    for c, r in zip(chans, rec, strict=True):
        i, j = np.unravel_index(int(jnp.argmax(acts[:, :, c])), acts.shape[:2])
        (y0, y1), (x0, x1) = _rf(layer, i, 32), _rf(layer, j, 32)
        inside = np.zeros((32, 32), bool)
        inside[y0 : y1 + 1, x0 : x1 + 1] = True
        mag = np.abs(r).sum(-1)
        assert mag[inside].max() > 0, "projection is empty"
        assert np.all(mag[~inside] == 0), "signal outside the unit's receptive field"


def test_deconvnet_equals_gradient_for_linear_units():
    """With slope 1 the rectifier is the identity: both rules reduce to the plain gradient."""
    cfg = TINY.replace(leak=1.0)
    d = M.init_discriminator(cfg, jax.random.key(2))
    img = jax.random.uniform(jax.random.key(3), (32, 32, 3), minval=-1, maxval=1)
    ch = jnp.array([0, 1])
    dec = A.project(cfg, d, img, "conv1", ch, method="deconvnet", select="map")
    grad = A.project(cfg, d, img, "conv1", ch, method="gradient", select="map")
    np.testing.assert_allclose(dec, grad, atol=1e-6)

    def f(x, c):  # d/dx of 1/2 sum(a_c^2) = the vjp with cotangent a_c (select="map")
        a = M.Discriminator(cfg).apply(d, x[None], train=False)[1]["conv1"][0, :, :, c]
        return 0.5 * jnp.sum(a**2)

    np.testing.assert_allclose(grad[1], jax.grad(f)(img, 1), atol=1e-5)


def test_deconv_figure_shape(embedded, tmp_path):
    cfg, params = embedded
    d = params["discriminator"]
    img = A.example_image(cfg)
    assert img.shape == (cfg.resolution, cfg.resolution, cfg.nc)
    path, grid = A.deconv_figure(cfg, d, img, tmp_path / "d.png", n_filters=4)
    assert grid.shape == (cfg.n_up, 5, cfg.resolution, cfg.resolution, cfg.nc)
    np.testing.assert_array_equal(grid[:, 0], np.broadcast_to(img, grid[:, 0].shape))
    assert np.all(np.abs(grid[:, 1:]) <= 1 + 1e-6)
    assert np.all(
        np.abs(grid[:, 1:]).reshape(cfg.n_up * 4, -1).max(1) > 0.99
    )  # normalised, non-empty
    # conv0 units see a 4x4 patch: each projection is nonzero on at most 4x4 pixels
    assert np.all((np.abs(grid[0, 1:]).sum(-1) > 0).reshape(4, -1).sum(1) <= 16)


# ---------------------------------------------------------------- CLI on the embedded model


def test_cli_writes_labelled_figures_from_embedded_model(tmp_path, optimized):
    out = tmp_path / "fig"
    r = run_cli("dcgan.analysis", ["--what=all", f"--out_dir={out}"], cwd=tmp_path)
    assert r.code == 0, r.err[-3000:]
    cfg = dcgan.load()[0]
    res, pad = cfg.resolution, 2
    expect = {  # (rows, cols) of image cells
        "interpolation_linear.png": (12, 8),
        "interpolation_slerp.png": (12, 8),
        "vector_arithmetic_colorfulness.png": (4, 4),
        "deconvnet.png": (cfg.n_up, 17),
        "guided_backprop.png": (cfg.n_up, 17),
    }
    assert sorted(p.name for p in out.iterdir()) == sorted(expect)
    for name, (rows, cols) in expect.items():
        w, h = Image.open(out / name).size
        # image cells plus a left margin (row labels) and a top margin (title + column labels)
        assert w > cols * (res + pad) + pad and h > rows * (res + pad) + pad, name
        assert h - (rows * (res + pad) + pad) >= 24, f"{name}: no title/column-label margin"
        assert str(out / name) in r.out
    bad = run_cli("dcgan.analysis", ["--what=bogus", f"--out_dir={tmp_path / 'bad'}"], cwd=tmp_path)
    assert_one_line_error(bad, (2,), "unknown analyses")
    assert not (tmp_path / "bad").exists()
