"""Colour and size helpers of style transfer: YIQ, luminance-only transfer
(Gatys et al. 2016, "Preserving color in neural artistic style transfer"),
resizing, colour histogram matching (ibid., sec. 2.2). Images are ``[H, W, 3]``
float in [0, 1]."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    np.float32,
)


def rgb_to_yiq(image):
    return jnp.asarray(image) @ _YIQ.T


def yiq_to_rgb(image):
    return jnp.asarray(image) @ np.linalg.inv(_YIQ).T.astype(np.float32)


def luminance(image):
    """Y of YIQ replicated to 3 channels."""
    y = rgb_to_yiq(image)[..., :1]
    return jnp.repeat(y, 3, axis=-1)


def match_luminance(style, content):
    """Style luminance with its mean/std matched to the content's (Gatys et al. 2016, eq. 1)."""
    ys, yc = rgb_to_yiq(style)[..., 0], rgb_to_yiq(content)[..., 0]
    y = (ys - ys.mean()) * (yc.std() / (ys.std() + 1e-8)) + yc.mean()
    return jnp.repeat(jnp.clip(y, 0, 1)[..., None], 3, axis=-1)


def with_colors_of(luma_image, color_source):
    """Y from ``luma_image`` (its mean channel), I and Q from ``color_source``."""
    yiq = rgb_to_yiq(color_source)
    y = jnp.mean(luma_image, axis=-1)
    return jnp.clip(yiq_to_rgb(jnp.stack([y, yiq[..., 1], yiq[..., 2]], -1)), 0.0, 1.0)


def resize(image, hw: tuple[int, int]):
    """Antialiased bilinear resize to ``hw`` (identity at that size), clipped to [0, 1]."""
    image = jnp.asarray(image)
    if image.shape[:2] == tuple(hw):
        return image
    return jnp.clip(jax.image.resize(image, (*hw, image.shape[-1]), "linear", antialias=True), 0, 1)


def scale_sizes(hw: tuple[int, int], scales) -> list[tuple[int, int]]:
    """``hw`` rescaled so its longer side is each of ``scales`` (empty: ``[hw]``)."""
    if not scales:
        return [tuple(hw)]
    longer = max(hw)
    return [(max(1, round(hw[0] * k / longer)), max(1, round(hw[1] * k / longer))) for k in scales]


def _sqrtm(cov, inverse: bool = False):
    """Symmetric (inverse) square root of a 3x3 covariance (eigenvalues floored at 1e-8)."""
    w, v = jnp.linalg.eigh(cov)
    w = jnp.maximum(w, 1e-8) ** (-0.5 if inverse else 0.5)
    return (v * w) @ v.T


def mean_cov(image):
    """Per-channel mean ``[3]`` and covariance ``[3, 3]`` of an ``[H, W, 3]`` image's colours."""
    x = jnp.asarray(image, jnp.float32).reshape(-1, 3)
    mu = x.mean(0)
    d = x - mu
    return mu, d.T @ d / x.shape[0]


def match_histogram(image, color_source, rounds: int = 3):
    """``image``'s colours moved to ``color_source``'s mean and covariance (Gatys et al.
    2016, arXiv:1606.05897, sec. 2.2 "colour histogram matching"): ``x' = Σ_c^½
    Σ_x^-½ (x - μ_x) + μ_c``, clipped to [0, 1]. Clipping moves the statistics
    again where colours saturate, so match-and-clip is repeated ``rounds`` times."""
    x = jnp.asarray(image, jnp.float32)
    mu_c, cov_c = mean_cov(color_source)
    root_c = _sqrtm(cov_c)
    for _ in range(rounds):
        mu_x, cov_x = mean_cov(x)
        a = _sqrtm(cov_x, inverse=True) @ root_c  # symmetric factors: the row-vector form
        x = jnp.clip((x - mu_x) @ a + mu_c, 0.0, 1.0)
    return x
