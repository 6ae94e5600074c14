"""The project's one image reader and writer: input images with clear errors,
uint8 conversion, single images, labelled grids.

Every package (BigGAN sweeps, style transfer, DCGAN samples, feature
visualisation) writes PNGs through these functions.
"""

from __future__ import annotations

import logging
import os
import pathlib
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from neural_art.atomic import atomic_path
from neural_art.errors import UserError, check_regular_file


def to_uint8(images, value_range: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """``[..., H, W, C]`` floats in ``value_range`` -> uint8 in [0, 255] (rounded, clipped).

    Greyscale ``C == 1`` is kept as one channel.
    """
    lo, hi = value_range
    x = (np.asarray(images, dtype=np.float32) - lo) / (hi - lo)
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def save_image(
    path: str | os.PathLike, image, value_range: tuple[float, float] = (-1.0, 1.0)
) -> pathlib.Path:
    """Writes one ``[H, W, C]`` image (float in ``value_range`` or uint8) as PNG.

    Written to a temporary name and renamed, so a crash never leaves a
    truncated file that a resumed run would take as finished.
    """
    path = pathlib.Path(path)
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = to_uint8(arr, value_range)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")
    return path


def image_grid(
    images,
    ncols: int | None = None,
    *,
    pad: int = 2,
    pad_value: int = 255,
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> np.ndarray:
    """Tiles images into one uint8 ``[H', W', C]`` array.

    Args:
      images: ``[N, H, W, C]`` (tiled row-major into ``ncols`` columns, default
        ``ceil(sqrt(N))``) or ``[R, C, H, W, ch]`` (rows x columns as given).
        Float in ``value_range`` or uint8.
      pad: pixels between tiles and around the border.
    """
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        arr = to_uint8(arr, value_range)
    if arr.ndim == 5:
        rows, ncols = arr.shape[:2]
        arr = arr.reshape((-1,) + arr.shape[2:])
    elif arr.ndim == 4:
        n = arr.shape[0]
        ncols = ncols or int(np.ceil(np.sqrt(n)))
        rows = -(-n // ncols)
    else:
        raise UserError(f"image_grid wants [N,H,W,C] or [R,C,H,W,C], got shape {arr.shape}")
    n, h, w, c = arr.shape
    out = np.full((rows * (h + pad) + pad, ncols * (w + pad) + pad, c), pad_value, np.uint8)
    for i in range(n):
        r, k = divmod(i, ncols)
        out[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + k * (w + pad) : pad + k * (w + pad) + w,
        ] = arr[i]
    return out


def _wrap(text: str, width: int, text_w) -> list[str]:
    """Greedy word wrap of ``text`` to lines of at most ``width`` pixels (a longer
    single word gets a line of its own)."""
    lines: list[str] = []
    for word in str(text).split():
        if lines and text_w(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def save_grid(
    path: str | os.PathLike,
    images,
    ncols: int | None = None,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
    pad: int = 2,
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> pathlib.Path:
    """Writes a (optionally labelled) grid PNG; see :func:`image_grid` for ``images``.

    Row labels are drawn in a left margin, column labels and ``title`` in a top
    margin, with PIL's built-in font (no font files needed).
    """
    grid = image_grid(images, ncols, pad=pad, value_range=value_range)
    arr = np.asarray(images)
    if arr.ndim == 5:
        nrows, ncols_, h, w = arr.shape[:4]
    else:
        h, w = arr.shape[1:3]
        ncols_ = ncols or int(np.ceil(np.sqrt(arr.shape[0])))
        nrows = -(-arr.shape[0] // ncols_)
    if row_labels is None and col_labels is None and title is None:
        return save_image(path, grid)
    font = ImageFont.load_default()
    line = 12
    text_w = lambda t: int(np.ceil(font.getlength(str(t))))
    left = 8 + max((text_w(s) for s in row_labels), default=0) if row_labels else 0
    title_lines = _wrap(title, grid.shape[1] + left - pad - 2, text_w) if title else []
    top = (line + 4 if col_labels else 0) + (line + 4) * len(title_lines)
    c = grid.shape[-1]
    canvas = Image.new(
        "RGB" if c == 3 else "L", (grid.shape[1] + left, grid.shape[0] + top), "white"
    )
    canvas.paste(Image.fromarray(grid if c == 3 else grid[..., 0]), (left, top))
    draw = ImageDraw.Draw(canvas)
    y0 = 2
    for t in title_lines:  # wrapped to the grid's width, so a long title is never cut off
        draw.text((pad, y0), t, fill="black", font=font)
        y0 += line + 4
    if col_labels:
        for k, s in enumerate(col_labels[:ncols_]):
            draw.text((left + pad + k * (w + pad), y0), str(s), fill="black", font=font)
    if row_labels:
        for r, s in enumerate(row_labels[:nrows]):
            draw.text(
                (4, top + pad + r * (h + pad) + h // 2 - line // 2), str(s), fill="black", font=font
            )
    return save_image(path, np.asarray(canvas))


log = logging.getLogger(__name__)
MAX_PIXELS = 64_000_000  # an 8000² photo; larger inputs are refused before decoding


class ImageError(UserError):
    """An input image is missing, unreadable or unusable."""


def load_image(
    path: str | os.PathLike,
    *,
    size: int | None = None,
    max_size: int | None = None,
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """Reads an image file as ``[H, W, 3]`` float32 RGB in [0, 1].

    Greyscale, palette, CMYK and RGBA/LA images are converted to RGB (alpha is
    composited onto white) with a logged note.

    Args:
      size: if given, resize so the longer side is ``size`` (aspect kept).
      max_size: if the (resized) image's longer side exceeds it, downscale to
        ``max_size`` with a warning.
      max_pixels: images with more pixels are refused from their header, before
        any decoding (a 20000² PNG would need 1.2 GB).

    Raises:
      ImageError: missing file, not an image, truncated/corrupt data, too large.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageError(f"image not found: {path}")
    try:
        check_regular_file(path, "image file")  # a pipe would block the read forever
    except UserError as e:
        raise ImageError(str(e)) from None
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise ImageError(
                    f"{path}: {w}x{h} is {w * h:,} pixels, more than the {max_pixels:,} "
                    "accepted; downscale it first"
                )
            im.load()
            img = im.copy()
    except Image.DecompressionBombError as e:
        raise ImageError(f"{path}: too large to decode safely ({e}); downscale it first") from e
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ImageError(f"{path}: not a readable image file ({e})") from e
    img = _to_rgb(img, path)
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


def _to_rgb(img: Image.Image, path: str) -> Image.Image:
    """RGB with a logged note: alpha composited onto white, 16-bit and float greyscale
    scaled by their type's range (65535; [0, 1])."""
    if img.mode == "RGB":
        return img
    mode = img.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, rgba).convert("RGB")
        log.warning(
            "%s: %s image; alpha composited onto white and converted to RGB", path, mode
        )
    elif mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # scaled by the type's range, not the image's own max (a dark 16-bit scan stays
        # dark): 16-bit integers (and PIL's "I", which 16-bit PNGs open as) by 65535,
        # float images ("F", e.g. a float TIFF) are taken to be in [0, 1]
        arr = np.asarray(img, np.float64) / (1.0 if mode == "F" else 65535.0)
        img = Image.fromarray(np.uint8(np.rint(np.clip(np.nan_to_num(arr), 0.0, 1.0) * 255))).convert("RGB")
        log.warning("%s: %s (greyscale, %s) image converted to 8-bit RGB", path, mode,
                    "float in [0, 1]" if mode == "F" else "16-bit")  # fmt: skip
    else:
        img = img.convert("RGB")
        log.warning("%s: %s image converted to RGB", path, mode)
    return img
