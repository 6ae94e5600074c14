"""Transformation robustness (lucid): random pad / jitter / scale / rotate.

Every transform is ``t(key, images) -> images`` on ``[B, H, W, C]`` floats,
with an explicit key; :func:`compose` splits one key among a list, and
:func:`standard` is lucid's ``standard_transforms``. Output shapes are static
(jit-friendly): ``pad`` grows the image, ``jitter(d)`` crops ``d`` pixels,
``random_scale``/``random_rotate`` warp about the centre *keeping the size*
(lucid's ``random_scale`` resizes the canvas instead; a fixed size is what a
jitted, vmapped loop needs, and the zoom it applies to content is the same).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

Transform = Callable[[jax.Array, jax.Array], jax.Array]


def pad(w: int, *, mode: str = "constant", value: float = 0.5) -> Transform:
    """Pads ``w`` pixels on each side (constant ``value`` or ``mode='reflect'``)."""

    def t(key, x):
        del key
        widths = ((0, 0), (w, w), (w, w), (0, 0))
        if mode == "constant":
            return jnp.pad(x, widths, constant_values=value)
        return jnp.pad(x, widths, mode=mode)

    return t


def jitter(d: int) -> Transform:
    """Random crop of ``H-d`` x ``W-d`` (a shift by 0..d pixels); same shift for the batch."""

    def t(key, x):
        b, h, w, c = x.shape
        oy, ox = jax.random.randint(key, (2,), 0, d + 1)
        return jax.lax.dynamic_slice(x, (0, oy, ox, 0), (b, h - d, w - d, c))

    return t


def affine(x, scale, angle_rad, *, order: int = 1):
    """Samples ``x`` ([B,H,W,C]) under a zoom by ``scale`` and rotation about the centre."""
    b, h, w, c = x.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = jnp.meshgrid(jnp.arange(h, dtype=x.dtype), jnp.arange(w, dtype=x.dtype), indexing="ij")
    cos, sin = jnp.cos(angle_rad), jnp.sin(angle_rad)
    # output pixel -> source pixel: inverse rotation, then divide by the zoom
    dy, dx = yy - cy, xx - cx
    sy = (cos * dy - sin * dx) / scale + cy
    sx = (sin * dy + cos * dx) / scale + cx
    coords = [sy, sx]

    def one(img2d):
        return jax.scipy.ndimage.map_coordinates(img2d, coords, order=order, mode="nearest")

    # vmap over batch and channel
    return jax.vmap(jax.vmap(one, in_axes=-1, out_axes=-1))(x)


def random_scale(scales: Sequence[float]) -> Transform:
    """Zoom by a factor drawn uniformly from ``scales`` (canvas size kept)."""
    s = jnp.asarray(scales, jnp.float32)

    def t(key, x):
        return affine(x, jax.random.choice(key, s), 0.0)

    return t


def random_rotate(angles_deg: Sequence[float]) -> Transform:
    """Rotation by an angle (degrees) drawn uniformly from ``angles_deg``."""
    a = jnp.asarray(angles_deg, jnp.float32) * (math.pi / 180.0)

    def t(key, x):
        return affine(x, 1.0, jax.random.choice(key, a))

    return t


@dataclasses.dataclass(frozen=True)
class Compose:
    """Applies ``transforms`` in order, each with its own key split from one.

    A value (equal for the same transforms), so a render with the same list
    reuses its compiled program."""

    transforms: tuple[Transform, ...]

    def __call__(self, key, x):
        if not self.transforms:
            return x
        keys = jax.random.split(key, len(self.transforms))
        for k, t in zip(keys, self.transforms, strict=True):
            x = t(k, x)
        return x


def compose(transforms: Sequence[Transform]) -> Transform:
    """:class:`Compose` of ``transforms``."""
    return Compose(tuple(transforms))


def identity(key, x):
    del key
    return x


def standard() -> list[Transform]:
    """lucid's ``standard_transforms``: pad 12, jitter 8, scale 0.9..1.1, rotate ±10°, jitter 4."""
    return [
        pad(12, mode="constant", value=0.5),
        jitter(8),
        random_scale([1 + (i - 5) / 50.0 for i in range(11)]),
        random_rotate(list(range(-10, 11)) + 5 * [0]),
        jitter(4),
    ]

