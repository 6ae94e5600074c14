"""Reading input images for style transfer, with clear errors for bad input.

Writing goes through the project's one writer, :mod:`biggan_jax.images`.
"""

from __future__ import annotations

import logging
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)


class ImageError(ValueError):
    """An input image is missing, unreadable or unusable."""


def load_image(
    path: str | os.PathLike, *, size: int | None = None, max_size: int | None = None
) -> np.ndarray:
    """Reads an image file as ``[H, W, 3]`` float32 RGB in [0, 1].

    Greyscale, palette, CMYK and RGBA/LA images are converted to RGB (alpha is
    composited onto white) with a logged note.

    Args:
      size: if given, resize so the longer side is ``size`` (aspect kept).
      max_size: if the (resized) image's longer side exceeds it, downscale to
        ``max_size`` with a warning.

    Raises:
      ImageError: missing file, not an image, truncated/corrupt data.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageError(f"image not found: {path}")
    if os.path.isdir(path):
        raise ImageError(f"{path} is a directory, not an image file")
    try:
        with Image.open(path) as im:
            im.load()
            img = im.copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ImageError(f"{path}: not a readable image file ({e})") from e
    if img.mode != "RGB":
        mode = img.mode
        if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, rgba).convert("RGB")
            log.warning(
                "%s: %s image; alpha composited onto white and converted to RGB", path, mode
            )
        elif mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(img, np.float64)
            arr = arr / max(arr.max(), 1.0)
            img = Image.fromarray(np.uint8(np.rint(arr * 255))).convert("RGB")
            log.warning("%s: %s (integer greyscale) image converted to 8-bit RGB", path, mode)
        else:
            img = img.convert("RGB")
            log.warning("%s: %s image converted to RGB", path, mode)
    w, h = img.size
    if w < 1 or h < 1:
        raise ImageError(f"{path}: empty image ({w}x{h})")
    if size is not None:
        img = _resize_longer(img, size)
    if max_size is not None and max(img.size) > max_size:
        log.warning(
            "%s: %dx%d is larger than max_size=%d; resized to fit", path, *img.size, max_size
        )
        img = _resize_longer(img, max_size)
    return np.asarray(img, np.float32) / 255.0


def _resize_longer(img: Image.Image, side: int) -> Image.Image:
    w, h = img.size
    s = side / max(w, h)
    new = (max(1, round(w * s)), max(1, round(h * s)))
    return img if new == (w, h) else img.resize(new, Image.Resampling.LANCZOS)


def as_rgb_array(image) -> np.ndarray:
    """An in-memory image (uint8 or float in [0, 1]; ``[H, W]``, ``[H, W, 1|3|4]``)
    -> ``[H, W, 3]`` float32 in [0, 1]."""
    a = np.asarray(image)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    a = a.astype(np.float32)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise ImageError(f"expected an [H, W, 3] image, got shape {a.shape}")
    if a.shape[-1] == 4:
        a = a[..., :3] * a[..., 3:] + (1.0 - a[..., 3:])
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return np.clip(a, 0.0, 1.0)
