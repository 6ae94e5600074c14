"""``python -m weights_convert.vgg --normalise=DIR_OF_IMAGES``: Gatys et al.'s
normalised VGG (:mod:`styletransfer.normalise`) written as a converted directory.

The images of ``DIR_OF_IMAGES`` (its image files, not subfolders) are
centre-cropped to squares, resized to ``side`` pixels and streamed in batches of
``chunk_size``; the metadata records the image count, side, pooling, the source
and its digest, and how many filters never fired (kept at scale 1).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator

import numpy as np
from PIL import Image

from neural_art.errors import UserError
from neural_art.images import load_image
from styletransfer.normalise import normalise_with_stats
from styletransfer.vggnet import VGGConfig

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def list_images(folder: str | os.PathLike, flag: str = "--normalise") -> list[pathlib.Path]:
    """The image files directly in ``folder`` (sorted); :class:`UserError` naming
    ``flag`` if it is not a directory or holds none."""
    p = pathlib.Path(folder)
    if not p.is_dir():
        raise UserError(f"{flag}={folder}: not a directory (give a folder of images)")
    files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    if not files:
        raise UserError(f"{flag}={folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def square(img: np.ndarray, side: int) -> np.ndarray:
    """``[H, W, 3]`` in [0, 1] -> its centre square resized to ``[side, side, 3]``."""
    h, w = img.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = Image.fromarray(np.round(img[top : top + s, left : left + s] * 255).astype(np.uint8))
    return np.asarray(crop.resize((side, side), Image.Resampling.LANCZOS), np.float32) / 255.0


def batches(files: list[pathlib.Path], side: int, chunk: int) -> Iterator[np.ndarray]:
    """``[<=chunk, side, side, 3]`` batches of the files, read as they are needed."""
    for i in range(0, len(files), chunk):
        yield np.stack([square(load_image(f), side) for f in files[i : i + chunk]])


def normalise_files(
    cfg: VGGConfig, params, files: list[pathlib.Path], *, side: int = 224, chunk: int = 8,
    pooling: str = "max",
) -> tuple[dict, dict]:  # fmt: skip
    """``(normalised conv params, metadata["normalised"])`` over ``files``."""
    out, stats = normalise_with_stats(cfg, params, batches(files, side, chunk), pooling=pooling)
    info = {"method": "Gatys et al. (arXiv:1508.06576): mean post-ReLU activation 1 per filter",
            **stats, "image_side": side, "pooling": pooling,
            "image_dir": os.path.abspath(files[0].parent)}  # fmt: skip
    return out, info
