"""DCGAN layers with PyTorch's numerics (NHWC, HWIO kernels; :mod:`dcgan.model`
builds the networks from them).

* ``ConvTranspose2d(k, s, p)`` is a stride-1 convolution of the input dilated by
  ``s`` with the spatially flipped kernel and padding ``k - 1 - p`` per side;
  ``impl="subpixel"`` computes the same thing as ``s*s`` phase convolutions +
  depth-to-space (no multiplications by inserted zeros).
* :class:`BatchNorm` normalises with the biased batch variance in training
  mode and updates running statistics with PyTorch's ``momentum`` and the
  *unbiased* variance.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def conv_transpose(
    x: jax.Array, kernel: jax.Array, stride: int, padding: int, impl: str = "dilated"
):
    """PyTorch ``ConvTranspose2d`` on NHWC ``x`` with kernel ``[kh, kw, in, out]``.

    ``kernel[a, b, i, o]`` is torch's ``weight[i, o, a, b]``. Output side:
    ``(H - 1) * stride - 2 * padding + k``.
    """
    k = kernel.shape[0]
    if impl == "subpixel" and stride > 1 and k % stride == 0:
        return _conv_transpose_subpixel(x, kernel, stride, padding)
    q = k - 1 - padding
    return jax.lax.conv_general_dilated(
        x,
        kernel[::-1, ::-1],
        window_strides=(1, 1),
        padding=((q, q), (q, q)),
        lhs_dilation=(stride, stride),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=jax.lax.Precision.HIGHEST,
    )


def _conv_transpose_subpixel(x, kernel, s, p):
    """Same as the dilated form, as ``s*s`` dense phase convolutions + depth-to-space.

    Output pixel ``y = s*m + r`` receives ``x[i] * w[a]`` with ``s*i + a - p = y``,
    i.e. ``a = r + p - s*(i - m)``: for phase ``r`` only taps ``a = (r + p) mod s
    + s*t`` contribute, with input offset ``i = m + ((r + p) // s) - t``.
    """
    k = kernel.shape[0]
    n, h, w, _ = x.shape
    kk = k // s  # taps per phase
    out_h, out_w = (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k
    mh, mw = -(-out_h // s), -(-out_w // s)
    phases = []
    for rh in range(s):
        row = []
        for rw in range(s):
            ah0, aw0 = (rh + p) % s, (rw + p) % s
            dh, dw = (rh + p) // s, (rw + p) // s
            # taps t = 0..kk-1 read x[m + d - t]: correlation with reversed taps
            sub = kernel[ah0::s][:kk][::-1][:, aw0::s][:, :kk][:, ::-1]
            # y[m] = sum_t x[m + d - t] w[t] = sum_u x[m + d - kk + 1 + u] sub[u]
            lo_h, lo_w = kk - 1 - dh, kk - 1 - dw
            hi_h = mh + dh - h  # pad so that m runs over 0..mh-1
            hi_w = mw + dw - w
            y = jax.lax.conv_general_dilated(
                x,
                sub,
                (1, 1),
                ((lo_h, hi_h), (lo_w, hi_w)),
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
                precision=jax.lax.Precision.HIGHEST,
            )
            row.append(y)
        phases.append(jnp.stack(row, axis=3))  # [n, mh, mw, s_w, c]
    y = jnp.stack(phases, axis=2)  # [n, mh, s_h, mw, s_w, c]
    y = y.reshape(n, mh * s, mw * s, -1)
    return y[:, :out_h, :out_w]


def conv(x: jax.Array, kernel: jax.Array, stride: int, padding: int):
    """PyTorch ``Conv2d`` (cross-correlation) on NHWC with HWIO kernel."""
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        (stride, stride),
        ((padding, padding), (padding, padding)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=jax.lax.Precision.HIGHEST,
    )


class ConvT(nn.Module):
    features: int
    stride: int
    padding: int
    kernel_init: Callable
    impl: str = "dilated"
    k: int = 4

    @nn.compact
    def __call__(self, x):
        kernel = self.param(
            "kernel", self.kernel_init, (self.k, self.k, x.shape[-1], self.features)
        )
        return conv_transpose(x, kernel, self.stride, self.padding, self.impl)


class Conv(nn.Module):
    features: int
    stride: int
    padding: int
    kernel_init: Callable
    k: int = 4

    @nn.compact
    def __call__(self, x):
        kernel = self.param(
            "kernel", self.kernel_init, (self.k, self.k, x.shape[-1], self.features)
        )
        return conv(x, kernel, self.stride, self.padding)


class BatchNorm(nn.Module):
    """PyTorch ``BatchNorm2d`` semantics (see module docstring). Params ``scale``,
    ``bias``; stats ``mean``, ``var`` in collection ``batch_stats``."""

    eps: float = 1e-5
    momentum: float = 0.1
    scale_init: Callable = nn.initializers.ones

    @nn.compact
    def __call__(self, x, train: bool):
        c = x.shape[-1]
        scale = self.param("scale", self.scale_init, (c,))
        bias = self.param("bias", nn.initializers.zeros, (c,))
        ra_mean = self.variable("batch_stats", "mean", jnp.zeros, (c,))
        ra_var = self.variable("batch_stats", "var", jnp.ones, (c,))
        if train:
            axes = tuple(range(x.ndim - 1))
            mean = jnp.mean(x, axes)
            var = jnp.mean(jnp.square(x - mean), axes)
            if not self.is_initializing():
                n = np.prod([x.shape[a] for a in axes])
                m = self.momentum
                ra_mean.value = (1 - m) * ra_mean.value + m * jax.lax.stop_gradient(mean)
                ra_var.value = (1 - m) * ra_var.value + m * jax.lax.stop_gradient(var) * (
                    n / max(n - 1, 1)
                )
        else:
            mean, var = ra_mean.value, ra_var.value
        return (x - mean) * jax.lax.rsqrt(var + self.eps) * scale + bias


def leaky_relu(x, slope: float = 0.2):
    return jnp.where(x >= 0, x, slope * x)
