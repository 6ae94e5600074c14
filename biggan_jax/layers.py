"""BigGAN-deep building blocks (Flax Linen), NHWC.

Parameters live in three collections, mirroring what the reference PyTorch
model (``pytorch_pretrained_biggan``) treats them as:

* ``params``      -- trainable: weights *before* spectral normalisation
  (``kernel``, the reference's ``weight_orig``), biases, embeddings, attention
  ``gamma``, final BN ``weight``/``bias``.
* ``spectral``    -- the stored spectral-norm singular vectors ``u`` (len = out)
  and ``v`` (shape = kernel.shape[:-1]); buffers ``weight_u``/``weight_v``.
* ``batch_stats`` -- the standing BN statistics ``running_means`` /
  ``running_vars``, ``[n_stats, C]``: one row per truncation 0, 0.02, ..., 1.

Spectral norm is evaluated at call time, exactly as the reference does in eval
mode: ``W = W_orig / (uᵀ W_orig v)`` (Miyato et al., arXiv:1802.05957), so a
perturbed ``kernel`` is normalised by its own σ estimate.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn


def sn_sigma(kernel: jax.Array, u: jax.Array, v: jax.Array) -> jax.Array:
    """σ ≈ uᵀ W v for a kernel ``[..., out]``, ``u: [out]``, ``v: kernel.shape[:-1]``."""
    w = kernel.reshape(-1, kernel.shape[-1]).astype(jnp.float32)
    return jnp.dot(v.reshape(-1).astype(jnp.float32), w @ u.astype(jnp.float32))


def l2_normalize(x: jax.Array, eps: float) -> jax.Array:
    """``torch.nn.functional.normalize(x, dim=0, eps=eps)``: x / max(‖x‖, eps)."""
    return x / jnp.maximum(jnp.linalg.norm(x), eps)


def power_iteration(kernel: jax.Array, u: jax.Array, *, n_iter: int = 1, eps: float = 1e-12):
    """Spectral-norm power iteration on ``kernel [..., out]`` from ``u [out]``.

    One iteration is what the reference's TF->PyTorch converter runs to derive
    ``v`` from TF-Hub's stored ``u0``: ``v = normalize(Wᵀu)``, ``u = normalize(W v)``
    with ``W`` the ``[out, fan_in]`` matrix. Returns ``(u, v)`` with ``v`` shaped
    ``kernel.shape[:-1]``.
    """
    w = kernel.reshape(-1, kernel.shape[-1]).astype(jnp.float32)  # [fan_in, out] = W^T
    u = u.astype(jnp.float32)
    v = None
    for _ in range(n_iter):
        v = l2_normalize(w @ u, eps)
        u = l2_normalize(v @ w, eps)
    return u, v.reshape(kernel.shape[:-1])


def _unit_init(key, shape, dtype=jnp.float32):
    x = jax.random.normal(key, shape, dtype)
    return x / jnp.linalg.norm(x.reshape(-1))


class SNParams(nn.Module):
    """Declares one spectrally normalised kernel (+ optional bias) and returns
    the normalised kernel ``W_orig / σ`` and the bias."""

    shape: tuple[int, ...]
    use_bias: bool = True

    @nn.compact
    def __call__(self):
        kernel = self.param("kernel", nn.initializers.lecun_normal(), self.shape)
        u = self.variable(
            "spectral", "u", lambda: _unit_init(self.make_rng("params"), self.shape[-1:])
        )
        v = self.variable(
            "spectral", "v", lambda: _unit_init(self.make_rng("params"), self.shape[:-1])
        )
        w = kernel / sn_sigma(kernel, u.value, v.value).astype(kernel.dtype)
        b = self.param("bias", nn.initializers.zeros, (self.shape[-1],)) if self.use_bias else None
        return w, b


def conv(x: jax.Array, w: jax.Array, b: jax.Array | None) -> jax.Array:
    """Stride-1 'same' convolution, NHWC x HWIO; 1x1 kernels as an einsum."""
    if w.shape[:2] == (1, 1):
        y = jnp.einsum("bhwi,io->bhwo", x, w[0, 0])
    else:
        y = jax.lax.conv_general_dilated(
            x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
    return y if b is None else y + b


def upsample2(x: jax.Array) -> jax.Array:
    """Nearest-neighbour 2x upsampling (``F.interpolate(scale_factor=2, mode='nearest')``)."""
    b, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c))
    return x.reshape(b, 2 * h, 2 * w, c)


def truncation_stat_selector(truncation, n_stats: int = 51, *, hf_compat: bool = False):
    """Which rows of the ``[n_stats, C]`` standing-statistics tables a truncation uses.

    Returns ``(i0, i1, w0, w1)``: statistics = ``w0 * table[i0] + w1 * table[i1]``.

    Rows are stored for truncation ``t = k / (n_stats - 1)``, k = 0..n_stats-1.

    * Default: linear interpolation, ``x = t·(n_stats-1)``, rows ``floor(x)`` and
      ``floor(x)+1`` weighted ``1-frac`` and ``frac``. Continuous in ``t`` and
      jit-traceable (``truncation`` may be a traced scalar).
    * ``hf_compat=True``: exactly what ``pytorch_pretrained_biggan``'s
      ``BigGANBatchNorm`` does: ``coef, k = math.modf(t / (1/(n_stats-1)))`` in
      float64, then ``stats[k]*coef + stats[k+1]*(1-coef)`` when ``coef != 0``.
      Its weights are reversed, and float rounding makes ``t/0.02`` land just
      above an integer at t = 0.14, 0.28, 0.56, 0.58, 0.94 so those pick row
      k+1 instead of k. Needs a concrete (Python/numpy) ``truncation``.
    """
    if hf_compat:
        try:
            t = float(truncation)
        except (TypeError, jax.errors.ConcretizationTypeError) as e:
            raise TypeError(
                "hf_compat=True reproduces the reference's float64 arithmetic and needs a concrete "
                "truncation (a Python float), not a traced value"
            ) from e
        import math

        coef, k = math.modf(t / (1.0 / (n_stats - 1)))
        k = int(k)
        if coef != 0.0:
            return (np.int32(k), np.int32(k + 1), np.float32(coef), np.float32(1 - coef))
        return (np.int32(k), np.int32(k), np.float32(1.0), np.float32(0.0))
    t = jnp.asarray(truncation, jnp.float32)
    x = t * (n_stats - 1)
    i0 = jnp.clip(jnp.floor(x), 0, n_stats - 2).astype(jnp.int32)
    frac = x - i0
    return (i0, i0 + 1, 1.0 - frac, frac)


def select_stats(table: jax.Array, sel) -> jax.Array:
    i0, i1, w0, w1 = sel
    table = jnp.asarray(table)
    return table[i0] * w0 + table[i1] * w1


class CondBatchNorm(nn.Module):
    """BigGAN's class-conditional BN, inference only (the reference never uses
    batch statistics): ``(x - μ_t) / sqrt(σ²_t + eps) * (1 + scale(cond)) + offset(cond)``,
    with ``scale``/``offset`` spectrally normalised linears of the condition vector."""

    features: int
    cond_dim: int
    n_stats: int
    eps: float

    @nn.compact
    def __call__(self, x, cond, sel):
        means = self.variable(
            "batch_stats", "running_means", jnp.zeros, (self.n_stats, self.features)
        )
        vars_ = self.variable(
            "batch_stats", "running_vars", jnp.ones, (self.n_stats, self.features)
        )
        ws, _ = SNParams((self.cond_dim, self.features), use_bias=False, name="scale")()
        wo, _ = SNParams((self.cond_dim, self.features), use_bias=False, name="offset")()
        mean = select_stats(means.value, sel).astype(x.dtype)
        var = select_stats(vars_.value, sel)
        inv = jax.lax.rsqrt(var + self.eps).astype(x.dtype)
        gain = (1 + cond @ ws)[:, None, None, :]
        bias = (cond @ wo)[:, None, None, :]
        return (x - mean) * inv * gain + bias


class BatchNorm(nn.Module):
    """The final, unconditional BN (``F.batch_norm(training=False)``) on standing stats."""

    features: int
    n_stats: int
    eps: float

    @nn.compact
    def __call__(self, x, sel):
        means = self.variable(
            "batch_stats", "running_means", jnp.zeros, (self.n_stats, self.features)
        )
        vars_ = self.variable(
            "batch_stats", "running_vars", jnp.ones, (self.n_stats, self.features)
        )
        weight = self.param("weight", nn.initializers.ones, (self.features,))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        mean = select_stats(means.value, sel).astype(x.dtype)
        inv = jax.lax.rsqrt(select_stats(vars_.value, sel) + self.eps).astype(x.dtype)
        return (x - mean) * (inv * weight) + bias


class GBlock(nn.Module):
    """BigGAN-deep residual block (reference ``GenBlock``): four conditional BNs,
    1x1 -> 3x3 -> 3x3 -> 1x1 bottleneck convs, optional nearest 2x upsampling
    before the first 3x3, shortcut keeping the first ``out_ch`` channels."""

    in_ch: int
    out_ch: int
    up: bool
    cond_dim: int
    n_stats: int
    eps: float

    @nn.compact
    def __call__(self, x, cond, sel):
        mid = self.in_ch // 4
        bn = lambda c, n: CondBatchNorm(c, self.cond_dim, self.n_stats, self.eps, name=n)
        h = nn.relu(bn(self.in_ch, "bn_0")(x, cond, sel))
        h = conv(h, *SNParams((1, 1, self.in_ch, mid), name="conv_0")())
        h = nn.relu(bn(mid, "bn_1")(h, cond, sel))
        if self.up:
            h = upsample2(h)
        h = conv(h, *SNParams((3, 3, mid, mid), name="conv_1")())
        h = nn.relu(bn(mid, "bn_2")(h, cond, sel))
        h = conv(h, *SNParams((3, 3, mid, mid), name="conv_2")())
        h = nn.relu(bn(mid, "bn_3")(h, cond, sel))
        h = conv(h, *SNParams((1, 1, mid, self.out_ch), name="conv_3")())
        x0 = x[..., : self.out_ch] if self.out_ch != self.in_ch else x
        if self.up:
            x0 = upsample2(x0)
        return h + x0


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al., arXiv:1805.08318) as in the reference
    ``SelfAttn``: θ, φ, g 1x1 convs (φ and g max-pooled 2x2), softmax over the
    pooled positions, o_conv back to C channels, ``x + γ·o``."""

    ch: int

    @nn.compact
    def __call__(self, x):
        b, h, w, c = x.shape
        wt, _ = SNParams((1, 1, c, c // 8), use_bias=False, name="snconv1x1_theta")()
        wp, _ = SNParams((1, 1, c, c // 8), use_bias=False, name="snconv1x1_phi")()
        wg, _ = SNParams((1, 1, c, c // 2), use_bias=False, name="snconv1x1_g")()
        wo, _ = SNParams((1, 1, c // 2, c), use_bias=False, name="snconv1x1_o_conv")()
        gamma = self.param("gamma", nn.initializers.zeros, (1,))
        pool = lambda t: nn.max_pool(t, (2, 2), (2, 2)).reshape(b, -1, t.shape[-1])
        theta = conv(x, wt, None).reshape(b, h * w, c // 8)
        phi = pool(conv(x, wp, None))
        g = pool(conv(x, wg, None))
        attn = jax.nn.softmax(jnp.einsum("bqc,bkc->bqk", theta, phi), axis=-1)
        o = jnp.einsum("bqk,bkc->bqc", attn, g).reshape(b, h, w, c // 2)
        return x + gamma.astype(x.dtype) * conv(o, wo, None)
