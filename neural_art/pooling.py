r"""2x2, stride-2 pooling over ``[B, H, W, C]`` (NHWC), as ``torch.nn.MaxPool2d(2, 2)``
and ``AvgPool2d(2, 2)``: windows never overlap, an odd last row/column is dropped.

Written as a reshape to ``[B, H/2, 2, W/2, 2, C]`` and a reduction over the two window
axes rather than ``lax.reduce_window``: the values are the same (max exactly; the mean
of four up to rounding), but the gradients are elementwise. On XLA:CPU the max pool's
``reduce_window`` gradient is a variadic reduce-window over four materialised int32
iota arrays — VGG-16, 64², batch 8, forward + gradient w.r.t. the image, 15
interleaved runs: median 567 ms with ``reduce_window``, 475 ms with this (see
BENCHMARKS.md for the loops' ratios).

The max pool's gradient goes, as PyTorch's and ``select_and_scatter``'s do, to the
*first* maximum of each window in row-major order (ties are common in flat or clipped
image regions, where neighbouring activations are bit-identical); plain ``jnp.max``
would split it among the tied entries.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _windows(x: jax.Array) -> jax.Array:
    """``[B, H, W, C]`` -> ``[B, H//2, 2, W//2, 2, C]`` (an odd last row/column dropped)."""
    b, h, w, c = x.shape
    h2, w2 = h // 2, w // 2
    return x[:, : 2 * h2, : 2 * w2].reshape(b, h2, 2, w2, 2, c)


@jax.custom_vjp
def max_pool_2x2(x: jax.Array) -> jax.Array:
    """``[B, H, W, C]`` -> ``[B, H//2, W//2, C]``: the max of each 2x2 window."""
    return jnp.max(_windows(x), axis=(2, 4))


def _max_fwd(x):
    y = max_pool_2x2(x)
    return y, (x, y)


def _max_bwd(res, g):
    x, y = res
    win, zero = _windows(x), jnp.zeros((), g.dtype)
    taken = jnp.zeros(y.shape, bool)
    rows = []
    for i in range(2):  # row-major: (0, 0), (0, 1), (1, 0), (1, 1)
        cols = []
        for j in range(2):
            first = (win[:, :, i, :, j] == y) & ~taken if (i, j) != (1, 1) else ~taken
            taken = taken | first
            cols.append(jnp.where(first, g, zero))
        rows.append(jnp.stack(cols, axis=3))  # [B, H2, W2, 2, C]
    dx = jnp.stack(rows, axis=2).reshape(win.shape[0], 2 * y.shape[1], 2 * y.shape[2], -1)
    odd_h, odd_w = x.shape[1] - dx.shape[1], x.shape[2] - dx.shape[2]  # a dropped row/column
    return (jnp.pad(dx, ((0, 0), (0, odd_h), (0, odd_w), (0, 0))),)


max_pool_2x2.defvjp(_max_fwd, _max_bwd)


def avg_pool_2x2(x: jax.Array) -> jax.Array:
    """``[B, H, W, C]`` -> ``[B, H//2, W//2, C]``: the mean of each 2x2 window."""
    return jnp.sum(_windows(x), axis=(2, 4)) * jnp.asarray(0.25, x.dtype)
