"""featvis.despraz: Table 1 counts, Table 2 shapes, PyTorch parity of G and of eq. (2)-(4)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from featvis import despraz as D
from featvis import objectives as O


def test_trainable_variable_counts_match_table1():
    # eval_shape: shapes only, no 5M random draws on a shared CPU
    p = jax.eval_shape(D.scratch().init, jax.random.key(0))
    assert D.count_params(p) == 5_240_841  # Table 1, no pretraining
    assert p["alpha"].shape == (3200,)
    dec = jax.eval_shape(lambda k: D.init_generator(k, D.DECODER), jax.random.key(1))
    pre = D.pretrained(dec)
    assert D.count_params(pre.init(jax.random.key(2))) == 3_200  # Table 1, with pretraining
    assert D.count_params(dec) == 5_346_889


def test_shapes_follow_table2():
    sizes = []
    # trace spatial sizes through the layer list
    s = 5
    for layer in D.SCRATCH:
        if layer == D.UP:
            s *= 2
        elif layer.padding == "VALID":
            s -= layer.kernel - 1
        sizes.append(s)
    assert sizes[-1] == 224 and 113 in sizes and 9 in sizes
    for arch in (D.SCRATCH, D.DECODER):
        g = jax.eval_shape(lambda k, a=arch: D.init_generator(k, a), jax.random.key(0))
        out = jax.eval_shape(
            lambda g, f, a=arch: D.apply_generator(g, f, a), g, jnp.ones((2, 3200))
        )
        assert out.shape == (2, 224, 224, 3)


def test_alpha_init_and_noise_modes():
    # a small G (5 -> 10 -> 9 -> 18 -> 18): α and the noise do not depend on the layers after
    prm = D.scratch(width=1 / 16, arch=(D.UP, D.Conv(512, 2, "VALID"), D.UP, D.Conv(3, 3, "SAME")))
    p = prm.init(jax.random.key(0))
    img = jax.jit(prm.image, static_argnums=1)
    lim = np.sqrt(6 / (2 * np.sqrt(3200)))
    assert float(jnp.abs(p["alpha"]).max()) <= lim and float(jnp.abs(p["alpha"]).max()) > 0.9 * lim
    clean = img(p, None, None)
    np.testing.assert_array_equal(clean, img(p, None, None))
    assert not np.allclose(clean, img(p, None, jax.random.key(1)))


def test_pretrained_f0_zero_is_a_dead_start():
    """Table 1's 'f = 0' read as f0 = 0 gives f = 0 and a zero gradient (see despraz docstring)."""
    # a small decoder (5 -> 10 -> 9 -> 18 -> 18 -> 18): the dead start is the code's, not G's
    arch = (D.UP, D.Conv(512, 2, "VALID"), D.UP, D.Conv(64, 3, "SAME"), D.Conv(3, 3, "SAME"))
    dec = D.init_generator(jax.random.key(1), arch, width=1 / 16)

    def grad_norm(f0):
        prm = D.pretrained(dec, f0=f0, arch=arch)
        p = prm.init(jax.random.key(0))
        loss = lambda q: jnp.mean(prm.image(q, dec, jax.random.key(3))[..., 0])
        return float(jnp.linalg.norm(jax.jit(jax.grad(loss))(p)["alpha"]))

    assert grad_norm(0.0) == 0.0
    assert grad_norm(1.0) > 0.0


def _torch_generator(torch, params, arch, f):
    """An independent PyTorch (NCHW) implementation of G on the same weights."""
    F = torch.nn.functional
    x = torch.tensor(np.asarray(f)).reshape(f.shape[0], 128, 5, 5)
    i = 0
    for layer in arch:
        if layer == D.UP:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            continue
        w = torch.tensor(np.asarray(params[f"conv{i}"]["kernel"])).permute(3, 2, 0, 1)
        b = torch.tensor(np.asarray(params[f"conv{i}"]["bias"]))
        if layer.padding == "SAME":
            k = layer.kernel
            lo = (k - 1) // 2
            x = F.pad(x, (lo, k - 1 - lo, lo, k - 1 - lo))
        x = F.conv2d(x, w, b)
        if layer.relu:
            x = F.relu(x)
        bn = params[f"bn{i}"]
        x = F.batch_norm(
            x, None, None, torch.tensor(np.asarray(bn["scale"])), torch.tensor(np.asarray(bn["bias"])),
            training=True, eps=1e-3,
        )  # fmt: skip
        i += 1
    return x.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("arch", ["SCRATCH", "DECODER"])
def test_generator_matches_pytorch(arch):
    torch = pytest.importorskip("torch")
    a = getattr(D, arch)
    g = D.init_generator(jax.random.key(4), a, width=1 / 16)
    # non-trivial BN params
    g = jax.tree.map(lambda v: v + 0.1 * jax.random.normal(jax.random.key(9), v.shape), g)
    f = jax.random.normal(jax.random.key(5), (1, 3200))
    ours = np.asarray(jax.jit(lambda g, f: D.apply_generator(g, f, a))(g, f))
    ref = _torch_generator(torch, g, a, f)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=2e-4)


def test_losses_eq2_to_eq4_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, 1000)).astype(np.float32) * 4
    alpha = rng.normal(size=(3200,)).astype(np.float32)
    gamma = rng.normal(size=(3,)).astype(np.float32)
    i = 668
    # PyTorch: eq. (2) with lambda = 0.01 on ReLU'd logits; eq. (3); eq. (4)
    a = torch.relu(torch.tensor(logits))
    mask = torch.ones(1000, dtype=torch.bool)
    mask[i] = False
    eq2 = (-a[0, i] + 0.01 * a[0, mask].sum()).item()
    eq3 = (0.01 * torch.tensor(gamma).abs().sum()).item()
    eq4 = (0.1 * torch.sqrt((torch.tensor(alpha) ** 2).sum() / 3200)).item()
    ours2 = float(-O.despraz_class(i)({"fc8": jnp.asarray(logits)}))
    g = D.init_generator(jax.random.key(0), D.SCRATCH, width=1 / 16)
    g[f"bn{len(g) // 2 - 1}"]["scale"] = jnp.asarray(gamma)
    ours3 = float(D.gamma_l1(g))
    ours4 = float(D.alpha_rms(jnp.asarray(alpha)))
    np.testing.assert_allclose([ours2, ours3, ours4], [eq2, eq3, eq4], rtol=1e-5)
    # and the loss render minimises for the pretrained mode is eq. (2) + eq. (4)
    prm = D.pretrained(g, alpha_reg="paper")
    np.testing.assert_allclose(float(prm.penalty({"alpha": jnp.asarray(alpha)}, g)), eq4, rtol=1e-5)
    np.testing.assert_allclose(
        float(D.alpha_l2_code(jnp.asarray(alpha))),
        0.1 * float((alpha.astype(np.float64) ** 2).sum()),
        rtol=1e-5,
    )


def test_optimizers_follow_table1():
    p = {"w": jnp.asarray([1.0, -2.0])}
    g = {"w": jnp.asarray([0.5, 0.25])}
    opt = D.pretrained_optimizer()
    s = opt.init(p)
    # Keras-1 Nesterov SGD: v = m v - lr g ; p += m v - lr g
    v = np.zeros(2)
    pk = np.asarray(p["w"])
    for _ in range(3):
        u, s = opt.update(g, s, p)
        p = {"w": p["w"] + u["w"]}
        v = 0.1 * v - 0.01 * np.asarray(g["w"])
        pk = pk + 0.1 * v - 0.01 * np.asarray(g["w"])
    np.testing.assert_allclose(p["w"], pk, rtol=1e-6)
