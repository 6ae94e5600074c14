"""neural_art.pooling: values and gradients of the 2x2 pools equal
``lax.reduce_window``'s and PyTorch's, ties included (the first maximum of a
window takes the gradient), on odd sizes, under vmap and in bfloat16."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neural_art.pooling import avg_pool_2x2, max_pool_2x2


def _window(x, init, op):
    return jax.lax.reduce_window(x, init, op, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def reference_max(x):
    return _window(x, -jnp.inf, jax.lax.max)


def reference_avg(x):
    return _window(x, 0.0, jax.lax.add) / 4.0


def tied(shape, seed=0):
    """Values on a coarse grid: most windows hold tied maxima, as flat image regions do."""
    return jnp.round(jax.random.normal(jax.random.key(seed), shape) * 1.5) / 2


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (1, 7, 9, 4), (3, 2, 2, 1)])
@pytest.mark.parametrize(
    "pool,ref", [(max_pool_2x2, reference_max), (avg_pool_2x2, reference_avg)], ids=["max", "avg"]
)
def test_values_and_gradients_equal_reduce_window(shape, pool, ref):
    x = tied(shape)
    y, vjp = jax.vjp(pool, x)
    y_ref, vjp_ref = jax.vjp(ref, x)
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, rtol=0, atol=1e-7)
    g = jax.random.normal(jax.random.key(1), y.shape)
    np.testing.assert_array_equal(vjp(g)[0], vjp_ref(g)[0])


def test_max_gradient_goes_to_first_maximum_only():
    x = jnp.ones((1, 2, 2, 1))  # all four tied
    (dx,) = jax.grad(lambda x: max_pool_2x2(x).sum(), argnums=(0,))(x)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1.0, 0.0], [0.0, 0.0]])
    x = jnp.asarray([[0.0, 2.0], [2.0, 1.0]]).reshape(1, 2, 2, 1)  # (0, 1) and (1, 0) tied
    dx = jax.grad(lambda x: max_pool_2x2(x).sum())(x)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0.0, 1.0], [0.0, 0.0]])


def test_vmap_jit_and_bfloat16():
    x = tied((4, 2, 6, 6, 8))
    f = jax.jit(jax.vmap(jax.grad(lambda x: (max_pool_2x2(x) ** 2).sum())))
    g = f(x)
    g_ref = jax.vmap(jax.grad(lambda x: (reference_max(x) ** 2).sum()))(x)
    np.testing.assert_array_equal(g, g_ref)
    xb = x[0].astype(jnp.bfloat16)
    for pool, ref in [(max_pool_2x2, reference_max), (avg_pool_2x2, reference_avg)]:
        y = pool(xb)
        assert y.dtype == jnp.bfloat16
        np.testing.assert_array_equal(y.astype(jnp.float32), ref(xb).astype(jnp.float32))
        assert jax.grad(lambda x: pool(x).astype(jnp.float32).sum())(xb).dtype == jnp.bfloat16


def test_matches_torch_pools():
    torch = pytest.importorskip("torch", reason="PyTorch parity needs torch")
    x = tied((2, 7, 9, 5), seed=3)
    for pool, tpool in [
        (max_pool_2x2, torch.nn.functional.max_pool2d),
        (avg_pool_2x2, torch.nn.functional.avg_pool2d),
    ]:
        xt = torch.tensor(np.asarray(x)).permute(0, 3, 1, 2).requires_grad_()
        yt = tpool(xt, 2, 2)
        gt = torch.randn_like(yt, generator=torch.Generator().manual_seed(0))
        yt.backward(gt)
        y, vjp = jax.vjp(pool, x)
        np.testing.assert_allclose(y, yt.detach().permute(0, 2, 3, 1).numpy(), rtol=0, atol=1e-7)
        dx = vjp(jnp.asarray(gt.permute(0, 2, 3, 1).numpy()))[0]
        np.testing.assert_allclose(dx, xt.grad.permute(0, 2, 3, 1).numpy(), rtol=0, atol=1e-7)
