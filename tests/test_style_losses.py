"""styletransfer.losses: Gatys eqs. (1), (3)-(5), (7) against an independent
PyTorch implementation on the same features, and analytic invariants."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from styletransfer import losses

torch = pytest.importorskip("torch", reason="the reference implementation is PyTorch")

SHAPES = {
    "conv1_1": (32, 24, 8),
    "conv2_1": (16, 12, 16),
    "conv4_2": (4, 3, 32),
    "conv5_1": (2, 2, 32),
}


def _feats(seed, relu=False):
    rng = np.random.default_rng(seed)
    out = {}
    for k, s in SHAPES.items():
        f = rng.normal(size=(1, *s)).astype(np.float32) * (1 + 3 * rng.uniform())
        out[k] = np.maximum(f, 0) if relu else f
    return out


def torch_gram(f_nchw):
    """Gatys: F^l as an N x M matrix, G = F F^T."""
    n, m = f_nchw.shape[1], f_nchw.shape[2] * f_nchw.shape[3]
    f = f_nchw.reshape(n, m)
    return f @ f.t(), n, m


def torch_reference(x, content, style, alpha, beta, c_layers, s_layers, w):
    t = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
    lc = sum(0.5 * ((t(x[n]) - t(content[n])) ** 2).sum() for n in c_layers)
    e = {}
    for n in s_layers:
        g, nn_, m = torch_gram(t(x[n]))
        a, _, _ = torch_gram(t(style[n]))
        e[n] = ((g - a) ** 2).sum() / (4 * nn_**2 * m**2)
    ls = sum(wl * e[n] for wl, n in zip(w, s_layers, strict=True))
    return lc, e, ls, alpha * lc + beta * ls


def test_losses_match_pytorch_reference():
    x, content, style = _feats(0, relu=True), _feats(1, relu=True), _feats(2, relu=True)
    s_layers = ("conv1_1", "conv2_1", "conv5_1")
    w = (0.2, 0.5, 0.3)
    alpha, beta = 1.0, 1e3
    lc, e, ls, total = torch_reference(x, content, style, alpha, beta, ("conv4_2",), s_layers, w)
    a = losses.style_targets(style, s_layers)
    loss = losses.gatys(content, a, alpha=alpha, beta=beta, style_layers=s_layers, style_weights=w)
    got_total, parts = jax.jit(loss)(x)
    rel = lambda ours, ref: abs(float(ours) - float(ref)) / abs(float(ref))
    assert rel(parts["content"], lc) <= 1e-5
    for n in s_layers:
        assert rel(parts[f"style/{n}"], e[n]) <= 1e-5, n
    assert rel(parts["style"], ls) <= 1e-5
    assert rel(got_total, total) <= 1e-5
    # the individual factories agree with the combined one
    assert rel(losses.content_loss(content)(x), lc) <= 1e-5
    assert rel(losses.style_loss(a, s_layers, w)(x), ls) <= 1e-5


def test_gradients_match_pytorch_reference():
    x, content, style = _feats(3), _feats(4), _feats(5)
    s_layers = losses.STYLE_LAYERS[:2]
    a = losses.style_targets(style, s_layers)
    loss = losses.gatys(content, a, alpha=2.0, beta=50.0, style_layers=s_layers)
    g = jax.grad(lambda f: loss(f)[0])(x)
    xt = {
        k: torch.from_numpy(v).permute(0, 3, 1, 2).contiguous().requires_grad_()
        for k, v in x.items()
    }
    tn = lambda d: {k: v.permute(0, 2, 3, 1) for k, v in d.items()}
    lc = 0.5 * ((tn(xt)["conv4_2"] - torch.from_numpy(content["conv4_2"])) ** 2).sum()
    ls = 0  # w_l = 1/2 (default 1/len(layers))
    for n in s_layers:
        gx, nn_, m = torch_gram(xt[n])
        ga, _, _ = torch_gram(torch.from_numpy(style[n]).permute(0, 3, 1, 2))
        ls = ls + 0.5 * ((gx - ga) ** 2).sum() / (4 * nn_**2 * m**2)
    (2.0 * lc + 50.0 * ls).backward()
    for n in ("conv4_2", *s_layers):
        ref = xt[n].grad.permute(0, 2, 3, 1).numpy()
        np.testing.assert_allclose(g[n], ref, rtol=1e-4, atol=1e-6 * np.abs(ref).max())


def test_content_gradient_is_residual():
    """Paper, below eq. (1): dL/dF = F - P."""
    f, p = _feats(6)["conv4_2"], _feats(7)["conv4_2"]
    g = jax.grad(losses.content_layer_loss)(jnp.asarray(f), jnp.asarray(p))
    np.testing.assert_allclose(g, f - p, rtol=1e-6)


def test_gram_invariants():
    f = jnp.asarray(_feats(8)["conv2_1"])
    g = losses.gram(f)[0]
    np.testing.assert_allclose(g, g.T, rtol=1e-6)
    assert np.all(np.linalg.eigvalsh(np.asarray(g, np.float64)) > -1e-3)
    # spatial permutation invariance: the style representation ignores arrangement
    perm = np.random.default_rng(0).permutation(16 * 12)
    fp = f.reshape(1, -1, 16)[:, perm].reshape(f.shape)
    np.testing.assert_allclose(losses.gram(fp), losses.gram(f), rtol=1e-5, atol=1e-3)
    # identical features: zero style and content loss
    a = losses.style_targets({"conv2_1": f}, ["conv2_1"])
    assert float(losses.style_loss(a, ["conv2_1"])({"conv2_1": f})) == 0.0


def test_style_representation_vector():
    feats = _feats(9)
    layers = ("conv1_1", "conv5_1")
    v = losses.style_representation(feats, layers)
    assert v.shape == (1, 8 * 8 + 32 * 32)
    g0 = np.asarray(losses.gram(feats["conv1_1"])[0]) / (32 * 24)
    np.testing.assert_allclose(v[0, :64], g0.reshape(-1), rtol=1e-6)  # rows appended in order
    raw = losses.style_representation(feats, layers, normalize=False)
    np.testing.assert_allclose(
        raw[0, 64:], np.asarray(losses.gram(feats["conv5_1"])[0]).ravel(), rtol=1e-6
    )
    # a 2x2-tiled image has the same normalised representation (size-independent)
    tiled = {k: jnp.tile(f, (1, 2, 2, 1)) for k, f in feats.items()}
    np.testing.assert_allclose(losses.style_representation(tiled, layers), v, rtol=1e-5, atol=1e-6)


def test_blend_and_rescale():
    s1, s2 = _feats(10), _feats(11)
    a = losses.style_targets([s1, s2], ["conv2_1"], blend=[3.0, 1.0])
    g1, g2 = losses.gram(s1["conv2_1"][0]), losses.gram(s2["conv2_1"][0])
    np.testing.assert_allclose(a["conv2_1"], 0.75 * g1 + 0.25 * g2, rtol=1e-5)
    m = 16 * 12
    scaled = losses.style_targets(s1, ["conv2_1"], num_positions={"conv2_1": 4 * m})
    np.testing.assert_allclose(scaled["conv2_1"], 4 * g1, rtol=1e-6)
    with pytest.raises(ValueError, match="blend weights"):
        losses.style_targets([s1, s2], ["conv2_1"], blend=[1.0])


def test_total_variation_and_weights():
    img = jnp.zeros((1, 4, 5, 3)).at[0, 2, 3, 1].set(1.0)
    assert float(losses.total_variation(img)) == pytest.approx(4.0)
    f = _feats(12)
    loss = losses.gatys(None, None, tv_weight=0.5)
    total, parts = loss(f, img)
    assert float(total) == pytest.approx(2.0) and float(parts["content"]) == 0.0
    assert losses.required_layers(("conv4_2",), ("conv1_1", "conv4_2")) == ("conv4_2", "conv1_1")
    with pytest.raises(ValueError, match="2 weights for 3 layers"):
        losses.style_loss({}, ("a", "b", "c"), (1.0, 2.0))
