"""DCGAN layers with PyTorch's numerics (NHWC, HWIO kernels; :mod:`dcgan.model`
builds the networks from them).

* ``ConvTranspose2d(k, s, p)`` is a stride-1 convolution of the input dilated by
  ``s`` with the spatially flipped kernel and padding ``k - 1 - p`` per side;
  ``impl="subpixel"`` computes the same thing as ``s*s`` phase convolutions +
  depth-to-space (no multiplications by inserted zeros).
* Every dense convolution (D's ``Conv2d``, the ConvT phases) is lowered either
  to XLA's convolution (``conv_impl="xla"``) or to an im2col matrix product
  (``"im2col"``: ``k*k`` strided slices concatenated on channels, one
  ``[N*Ho*Wo, k*k*C] @ [k*k*C, O]`` dot, whose gradients are dots too);
  ``"auto"`` takes im2col on CPU where it pays (see :func:`uses_im2col`).
* :class:`BatchNorm` normalises with the biased batch variance in training
  mode and updates running statistics with PyTorch's ``momentum`` and the
  *unbiased* variance.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from neural_art.errors import UserError

CONV_IMPLS = ("auto", "xla", "im2col")
_HIGHEST = jax.lax.Precision.HIGHEST
_DIMS = ("NHWC", "HWIO", "NHWC")


def uses_im2col(kernel_shape, conv_impl: str = "auto") -> bool:
    """Whether a dense convolution with HWIO ``kernel_shape`` is lowered to im2col.

    ``"auto"``: on the CPU backend for inputs of >= 64 channels whose im2col
    matrix is at most 16x the output (``kh*kw*C <= 16*O``). Measured on XLA:CPU,
    2 cores, batch 32 (fwd + both gradients, ms, XLA conv -> im2col): D's convs
    455 -> 376, 421 -> 256, 398 -> 211; G's ConvT phases 333 -> 260,
    311 -> 266, 485 -> 327; but G's last layer (512 columns for 3 outputs)
    125 -> 340, and D's 3-channel first conv gains nothing alone and in the
    train step made XLA write the gradient above it channel-major (2 x 300 ms).
    Narrower layers gain nothing and compile slower (the quick config's train
    step: 24 -> 31 s). Elsewhere XLA's convolutions (cuDNN, TPU) are kept.
    """
    if conv_impl not in CONV_IMPLS:
        raise UserError(f"conv_impl must be one of {CONV_IMPLS}, got {conv_impl!r}")
    if conv_impl != "auto":
        return conv_impl == "im2col"
    kh, kw, c, o = kernel_shape
    return jax.default_backend() == "cpu" and c >= 64 and kh * kw * c <= 16 * o


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def _im2col(x, kh: int, kw: int, stride: int, padding):
    """``[N, Ho, Wo, kh*kw*C]`` patches of NHWC ``x``, tap-major (the order of an
    HWIO kernel reshaped to ``[kh*kw*C, O]``); ``padding`` ``((lo, hi), (lo, hi))``
    may be negative (a crop). Its gradient is :func:`_col2im`."""
    (lh, hh), (lw, hw) = padding
    xp = jax.lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (lh, hh, 0), (lw, hw, 0), (0, 0, 0)))
    n, h, w, c = xp.shape
    ho, wo = (h - kh) // stride + 1, (w - kw) // stride + 1
    cols = [
        jax.lax.slice(
            xp, (0, a, b, 0), (n, a + stride * (ho - 1) + 1, b + stride * (wo - 1) + 1, c),
            (1, stride, stride, 1),
        )
        for a in range(kh)
        for b in range(kw)
    ]  # fmt: skip
    return jnp.concatenate(cols, axis=-1)


def _col2im(kh, kw, s, padding, x_shape, dcol):
    """Transpose of :func:`_im2col`: tap ``(a, b)`` of ``dcol`` lands on stride
    phase ``(a % s, b % s)`` of the padded input, shifted by ``(a // s, b // s)``;
    per phase the taps are summed as shifted (unstrided) pads, and the ``s*s``
    phases interleave by a reshape. (Autodiff's transpose sums ``kh*kw``
    interior-padded full-size copies, which XLA:CPU wrote channel-major: 290 ms
    for D's second layer at batch 32.)"""
    n, ho, wo, _ = dcol.shape
    c = x_shape[-1]
    (lh, hh), (lw, hw) = padding
    hp, wp = x_shape[1] + lh + hh, x_shape[2] + lw + hw
    mh, mw = ho + (kh - 1) // s, wo + (kw - 1) // s  # phase grid covering the taps read
    dcol = dcol.reshape(n, ho, wo, kh, kw, c)
    zero = jnp.zeros((), dcol.dtype)
    rows = []
    for ra in range(s):
        row = []
        for rb in range(s):
            acc = jnp.zeros((n, mh, mw, c), dcol.dtype)
            for a in range(ra, kh, s):
                for b in range(rb, kw, s):
                    qa, qb = a // s, b // s
                    pad = ((0, 0, 0), (qa, mh - ho - qa, 0), (qb, mw - wo - qb, 0), (0, 0, 0))
                    acc = acc + jax.lax.pad(dcol[:, :, :, a, b], zero, pad)
            row.append(acc)
        rows.append(jnp.stack(row, axis=3))  # [n, mh, mw, s_w, c]
    full = jnp.stack(rows, axis=2).reshape(n, mh * s, mw * s, c)
    # crop/extend to the padded input, then undo the padding
    fit = ((0, 0, 0), (0, hp - mh * s, 0), (0, wp - mw * s, 0), (0, 0, 0))
    dxp = jax.lax.pad(full, zero, fit)
    unpad = ((0, 0, 0), (-lh, -hh, 0), (-lw, -hw, 0), (0, 0, 0))
    return jax.lax.pad(dxp, zero, unpad)


def _im2col_fwd(x, kh, kw, stride, padding):
    return _im2col(x, kh, kw, stride, padding), x.shape


def _im2col_bwd(kh, kw, stride, padding, x_shape, dcol):
    return (_col2im(kh, kw, stride, padding, x_shape, dcol),)


_im2col.defvjp(_im2col_fwd, _im2col_bwd)


def dense_conv(x, kernel, stride: int, padding, conv_impl: str = "auto"):
    """Cross-correlation of NHWC ``x`` with HWIO ``kernel`` (no dilation);
    ``padding`` ``((lo, hi), (lo, hi))``. Lowered as :func:`uses_im2col` says."""
    if uses_im2col(kernel.shape, conv_impl):
        kh, kw, c, o = kernel.shape
        col = _im2col(x, kh, kw, stride, padding)
        return jnp.einsum("nhwk,ko->nhwo", col, kernel.reshape(kh * kw * c, o), precision=_HIGHEST)
    return jax.lax.conv_general_dilated(
        x, kernel, (stride, stride), padding, dimension_numbers=_DIMS, precision=_HIGHEST
    )


def conv_transpose(
    x: jax.Array,
    kernel: jax.Array,
    stride: int,
    padding: int,
    impl: str = "dilated",
    conv_impl: str = "auto",
):
    """PyTorch ``ConvTranspose2d`` on NHWC ``x`` with kernel ``[kh, kw, in, out]``.

    ``kernel[a, b, i, o]`` is torch's ``weight[i, o, a, b]``. Output side:
    ``(H - 1) * stride - 2 * padding + k``. A 1x1 input without padding (G's
    first layer) is one matrix product: ``y[n, a, b] = x[n] @ kernel[a, b]``.
    """
    k = kernel.shape[0]
    if x.shape[1] == x.shape[2] == 1 and padding == 0:
        return jnp.einsum("nc,abco->nabo", x[:, 0, 0], kernel, precision=_HIGHEST)
    if impl == "subpixel" and stride > 1 and k % stride == 0:
        return _conv_transpose_subpixel(x, kernel, stride, padding, conv_impl)
    q = k - 1 - padding
    if stride == 1:
        return dense_conv(x, kernel[::-1, ::-1], 1, ((q, q), (q, q)), conv_impl)
    return jax.lax.conv_general_dilated(
        x,
        kernel[::-1, ::-1],
        window_strides=(1, 1),
        padding=((q, q), (q, q)),
        lhs_dilation=(stride, stride),
        dimension_numbers=_DIMS,
        precision=_HIGHEST,
    )


def _conv_transpose_subpixel(x, kernel, s, p, conv_impl):
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
            row.append(dense_conv(x, sub, 1, ((lo_h, hi_h), (lo_w, hi_w)), conv_impl))
        phases.append(jnp.stack(row, axis=3))  # [n, mh, mw, s_w, c]
    y = jnp.stack(phases, axis=2)  # [n, mh, s_h, mw, s_w, c]
    y = y.reshape(n, mh * s, mw * s, -1)
    return y[:, :out_h, :out_w]


def conv(x: jax.Array, kernel: jax.Array, stride: int, padding: int, conv_impl: str = "auto"):
    """PyTorch ``Conv2d`` (cross-correlation) on NHWC with HWIO kernel."""
    return dense_conv(x, kernel, stride, ((padding, padding), (padding, padding)), conv_impl)


class ConvT(nn.Module):
    features: int
    stride: int
    padding: int
    kernel_init: Callable
    impl: str = "dilated"
    k: int = 4
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x):
        kernel = self.param(
            "kernel", self.kernel_init, (self.k, self.k, x.shape[-1], self.features)
        )
        return conv_transpose(x, kernel, self.stride, self.padding, self.impl, self.conv_impl)


class Conv(nn.Module):
    features: int
    stride: int
    padding: int
    kernel_init: Callable
    k: int = 4
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x):
        kernel = self.param(
            "kernel", self.kernel_init, (self.k, self.k, x.shape[-1], self.features)
        )
        return conv(x, kernel, self.stride, self.padding, self.conv_impl)


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
