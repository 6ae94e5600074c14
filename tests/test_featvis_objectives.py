"""featvis.objectives: values and gradients equal direct computations; arithmetic; redirect."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from featvis import objectives as O
from neural_art.errors import UserError


def _feats(key=0, b=2):
    k = jax.random.split(jax.random.key(key), 3)
    conv = jax.random.normal(k[0], (b, 5, 7, 6))
    return {
        "conv4_2": conv,
        "relu4_2": jax.nn.relu(conv),
        "fc8": jax.random.normal(k[1], (b, 1000)) * 3,
        "fc7": jax.random.normal(k[2], (b, 12)),
        "relu7": jax.nn.relu(jax.random.normal(k[2], (b, 12))),
    }


def test_channel_value_and_grad():
    f = _feats()
    obj = O.channel("relu4_2", 3)
    x = np.asarray(f["relu4_2"])
    np.testing.assert_allclose(obj(f), x[..., 3].mean(), rtol=1e-6)
    g = jax.grad(lambda a: obj({"relu4_2": a}))(f["relu4_2"])
    want = np.zeros_like(x)
    want[..., 3] = 1.0 / (x.shape[0] * x.shape[1] * x.shape[2])
    np.testing.assert_allclose(g, want, rtol=1e-6)


def test_neuron_value_and_grad():
    f = _feats()
    obj = O.neuron("conv4_2", 2, x=1, y=4)
    x = np.asarray(f["conv4_2"])
    np.testing.assert_allclose(obj(f), x[:, 4, 1, 2].mean(), rtol=1e-6)
    g = np.asarray(jax.grad(lambda a: obj({"conv4_2": a}))(f["conv4_2"]))
    assert g[:, 4, 1, 2] == pytest.approx([0.5, 0.5]) and np.count_nonzero(g) == 2
    centre = O.neuron("conv4_2", 0)(f)
    np.testing.assert_allclose(centre, x[:, 2, 3, 0].mean(), rtol=1e-6)


def test_layer_and_class_logit():
    f = _feats()
    np.testing.assert_allclose(
        O.layer("conv4_2")(f), np.mean(np.asarray(f["conv4_2"]) ** 2), rtol=1e-6
    )
    np.testing.assert_allclose(O.class_logit(17)(f), np.asarray(f["fc8"])[:, 17].mean(), rtol=1e-6)
    g = jax.grad(lambda z: O.layer("x")({"x": z}))(f["conv4_2"])
    np.testing.assert_allclose(g, 2 * f["conv4_2"] / f["conv4_2"].size, rtol=1e-6)


def test_despraz_class_eq2_value_and_grad():
    f = _feats()
    z = np.asarray(f["fc8"], np.float64)
    a = np.maximum(z, 0)
    i = 668
    want = np.mean(a[:, i] - 0.01 * (a.sum(1) - a[:, i]))
    np.testing.assert_allclose(O.despraz_class(i)(f), want, rtol=1e-5)
    g = np.asarray(jax.grad(lambda l: O.despraz_class(i)({"fc8": l}))(f["fc8"]))
    want_g = np.where(z > 0, -0.01, 0.0) / 2
    want_g[:, i] = np.where(z[:, i] > 0, 1.0, 0.0) / 2
    np.testing.assert_allclose(g, want_g, rtol=1e-6)


def test_despraz_compound_weights_and_traced_targets():
    w = np.asarray(O.despraz_class_weights(jnp.asarray([3, 7]), 10))
    assert w[3] == w[7] == 1.0 and np.allclose(np.delete(w, [3, 7]), -0.01)
    f = _feats()
    vals = jax.vmap(lambda n: O.despraz_class(n)(f))(jnp.arange(4))
    np.testing.assert_allclose(vals, [O.despraz_class(n)(f) for n in range(4)], rtol=1e-6)
    two = O.despraz_classes([3, 7])(f)
    a = np.maximum(np.asarray(f["fc8"]), 0)
    want = np.mean(a[:, 3] + a[:, 7] - 0.01 * (a.sum(1) - a[:, 3] - a[:, 7]))
    np.testing.assert_allclose(two, want, rtol=1e-5)


def test_arithmetic():
    f = _feats()
    a, b = O.channel("relu4_2", 1), O.channel("relu4_2", 2)
    np.testing.assert_allclose((a + 2 * b - 1)(f), a(f) + 2 * b(f) - 1, rtol=1e-6)
    np.testing.assert_allclose((-a / 4)(f), -a(f) / 4, rtol=1e-6)
    np.testing.assert_allclose((3 - a * b)(f), 3 - a(f) * b(f), rtol=1e-6)


def test_diversity():
    f = _feats(b=3)
    a = np.asarray(f["relu4_2"]).reshape(3, -1, 6)
    g = np.einsum("bpi,bpj->bij", a, a).reshape(3, -1)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    s = g @ g.T
    want = -(s.sum() - np.trace(s)) / 6
    np.testing.assert_allclose(O.diversity("relu4_2")(f), want, rtol=1e-5)


def test_redirected_relu_gradient():
    x = jnp.asarray([-1.0, 2.0, -3.0])
    for active, want in [(True, [1.0, 1.0, 1.0]), (False, [0.0, 1.0, 0.0])]:
        g = jax.grad(lambda v, act=active: jnp.sum(O.redirected_relu(v, jnp.asarray(act))))(x)
        np.testing.assert_array_equal(g, want)
    np.testing.assert_array_equal(O.redirected_relu(x, jnp.asarray(True)), [0, 2, 0])
    # objective with redirect: dead units get gradient only while step < redirect_steps
    f = {"conv4_2": -jnp.ones((1, 2, 2, 3))}
    obj = O.channel("relu4_2", 1, redirect=True, redirect_steps=4)
    for step, nz in [(0, True), (3, True), (4, False)]:
        g = jax.grad(lambda c, s=step: obj({"conv4_2": c, O.STEP_KEY: jnp.asarray(s)}))(
            f["conv4_2"]
        )
        assert bool(jnp.any(g != 0)) == nz
    with pytest.raises(ValueError):
        O.channel("conv4_2", 0, redirect=True)(f)
    with pytest.raises(UserError, match="relu9"):
        O.channel("relu9", 0)(f)


def test_gradients_match_torch_autograd():
    """class logit, Despraz compound (eq. 2, two classes), diversity and a
    composite: jax.grad equals PyTorch autograd of the same formula."""
    torch = pytest.importorskip("torch")
    f = _feats(b=3)
    fc8, relu = np.asarray(f["fc8"]), np.asarray(f["relu4_2"])
    obj = (
        O.class_logit(5)
        + 0.5 * O.despraz_classes([3, 7])
        - 2.0 * O.diversity("relu4_2")
        + O.channel("relu4_2", 1) / 3
    )
    gj = jax.grad(lambda a, b: obj({"fc8": a, "relu4_2": b}), argnums=(0, 1))(
        f["fc8"], f["relu4_2"]
    )
    a = torch.tensor(fc8, dtype=torch.float64, requires_grad=True)
    r = torch.tensor(relu, dtype=torch.float64, requires_grad=True)
    w = torch.full((1000,), -0.01, dtype=torch.float64)
    w[[3, 7]] = 1.0
    flat = r.reshape(3, -1, 6)
    grams = torch.einsum("bpi,bpj->bij", flat, flat).reshape(3, -1)
    grams = grams / (grams.norm(dim=-1, keepdim=True) + 1e-12)
    sims = grams @ grams.T
    div = -(sims.sum() - torch.trace(sims)) / 6
    val = a[:, 5].mean() + 0.5 * (torch.relu(a) * w).sum(-1).mean() - 2 * div + r[..., 1].mean() / 3
    val.backward()
    np.testing.assert_allclose(float(obj(f)), val.detach().item(), rtol=1e-5)
    np.testing.assert_allclose(gj[0], a.grad.numpy(), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(gj[1], r.grad.numpy(), rtol=1e-4, atol=1e-6)
