"""Image parameterisations: raw pixels and lucid's Fourier/decorrelated-colour image.

A :class:`Param` bundles everything :mod:`featvis.render` needs about *what*
is optimised:

* ``init(key) -> params``: the trainable pytree;
* ``image(params, frozen, key) -> [B, H, W, 3]`` RGB in [0, 1] (approximately:
  pixel params may leave it between projections, Despraz's generator is
  unconstrained); ``key`` is ``None`` for the clean, noise-free image;
* ``penalty(params, frozen) -> scalar`` added to the loss;
* ``project(params, step) -> params`` applied after each optimiser update
  (pixel clipping, blur every k steps); identity otherwise;
* ``frozen``: a pytree passed through jit as an argument (e.g. a pretrained
  generator), not trained.

Despraz's generator parameterisations live in :mod:`featvis.despraz`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Param(NamedTuple):
    init: Callable[[jax.Array], Any]
    image: Callable[[Any, Any, jax.Array | None], jax.Array]
    penalty: Callable[[Any, Any], jax.Array]
    project: Callable[[Any, jax.Array], Any]
    frozen: Any = None


def _no_penalty(params, frozen):
    del params, frozen
    return jnp.zeros((), jnp.float32)


def _no_project(params, step):
    del step
    return params


def tv_l1_mean(x: jax.Array) -> jax.Array:
    """Mean anisotropic L1 total variation of ``[B, H, W, C]`` images:
    ``mean |x[i+1,j] - x[i,j]| + mean |x[i,j+1] - x[i,j]|`` (``styletransfer.losses
    .total_variation`` is the *summed squared* differences, another formula)."""
    dy = jnp.abs(x[:, 1:] - x[:, :-1])
    dx = jnp.abs(x[:, :, 1:] - x[:, :, :-1])
    return jnp.mean(dy) + jnp.mean(dx)


def gaussian_blur(x: jax.Array, sigma: float) -> jax.Array:
    """Separable Gaussian blur of ``[B, H, W, C]`` (radius 2σ, edge-replicated)."""
    r = max(1, int(np.ceil(2 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k = jnp.asarray(k / k.sum(), x.dtype)
    xp = jnp.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode="edge")
    h, w = x.shape[1:3]
    y = sum(k[i] * xp[:, i : i + h, :, :] for i in range(2 * r + 1))
    return sum(k[i] * y[:, :, i : i + w, :] for i in range(2 * r + 1))


def pixel(
    h: int,
    w: int,
    batch: int = 1,
    *,
    init_sd: float = 0.01,
    l2: float = 0.0,
    tv: float = 0.0,
    blur_every: int = 0,
    blur_sigma: float = 0.5,
    clip: bool = True,
) -> Param:
    """Raw pixels (Simonyan et al. 2013; Yosinski et al. 2015 regularisers).

    params: ``[B, H, W, 3]`` image, initialised ``0.5 + init_sd * N(0, 1)``.
    penalty: ``l2 * mean((x - 0.5)**2) + tv * TV(x)`` (L2 decay towards grey;
    ``TV`` = :func:`tv_l1_mean`). project: clip to [0, 1] if ``clip``;
    every ``blur_every`` steps (after step k-1, 2k-1, ...) a Gaussian blur of
    ``blur_sigma`` pixels (Yosinski's "Gaussian blur" regulariser).
    """

    def init(key):
        return 0.5 + init_sd * jax.random.normal(key, (batch, h, w, 3), jnp.float32)

    def image(params, frozen, key):
        del frozen, key
        return params

    def penalty(params, frozen):
        del frozen
        out = jnp.zeros((), jnp.float32)
        if l2:
            out = out + l2 * jnp.mean(jnp.square(params - 0.5))
        if tv:
            out = out + tv * tv_l1_mean(params)
        return out

    def project(params, step):
        x = params
        if blur_every:
            x = jnp.where((step + 1) % blur_every == 0, gaussian_blur(x, blur_sigma), x)
        if clip:
            x = jnp.clip(x, 0.0, 1.0)
        return x

    return Param(init, image, penalty, project)


# lucid/lucent colour decorrelation (ImageNet colour covariance, square root of its SVD)
COLOR_CORRELATION_SVD_SQRT = np.asarray(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32
)
_MAX_NORM_SVD_SQRT = float(np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0)))


def decorrelate_color(t: jax.Array) -> jax.Array:
    """lucid ``_linear_decorrelate_color``: ``t @ (C / max_col_norm)^T`` over the channel axis."""
    c = jnp.asarray(COLOR_CORRELATION_SVD_SQRT / _MAX_NORM_SVD_SQRT)
    return t @ c.T


def rfft2d_freqs(h: int, w: int) -> np.ndarray:
    """Frequency magnitude of each rfft2 coefficient, ``[h, w//2 + 1]``."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fx * fx + fy * fy)


def fft(
    h: int,
    w: int,
    batch: int = 1,
    *,
    sd: float = 0.01,
    decay_power: float = 1.0,
    decorrelate: bool = True,
) -> Param:
    """lucid ``fft_image`` + ``to_valid_rgb(decorrelate=True, sigmoid=True)``.

    params: real/imag spectrum ``[2, B, 3, h, w//2+1]`` ~ N(0, sd²); the image is
    ``sigmoid(decorrelate(irfft2(spectrum * scale) / 4))`` with
    ``scale = sqrt(h*w) / max(f, 1/max(h, w))**decay_power`` (1/f amplitude).
    """
    freqs = rfft2d_freqs(h, w)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(w, h)) ** decay_power
    scale = jnp.asarray(scale * np.sqrt(w * h), jnp.float32)

    def init(key):
        return sd * jax.random.normal(key, (2, batch, 3) + freqs.shape, jnp.float32)

    def image(params, frozen, key):
        del frozen, key
        spec = jax.lax.complex(params[0], params[1]) * scale
        img = jnp.fft.irfft2(spec, s=(h, w), axes=(-2, -1))  # [B, 3, h, w]
        img = jnp.transpose(img, (0, 2, 3, 1)) / 4.0
        if decorrelate:
            img = decorrelate_color(img)
        return jax.nn.sigmoid(img)

    return Param(init, image, _no_penalty, _no_project)
