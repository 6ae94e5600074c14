"""tensorflow-datasets input for DCGAN: MNIST and folders of art images.

Sources (``config.data.source``):

* ``"mnist"``: tfds ``mnist`` train split, resized (bilinear) to the model's
  resolution, 1 channel (the seed's proof of concept, sec. 4.1).
* ``"folder"``: any folder of images (e.g. WikiArt) prepared the seed's way
  (sec. 3.1): each image resized, aspect ratio kept, to the smallest size with
  at least ``min_pixels`` (128*128) pixels, and stored as a tfds dataset
  (:class:`ArtFolder`, a custom builder); training takes a random
  ``resolution x resolution`` patch of each example at every step. Files that
  PIL cannot read are skipped and counted (``skipped.json`` beside the prepared
  data), never fatal.
* ``"skimage"``: the photographs and textures bundled with scikit-image,
  exported to a folder and then treated as ``"folder"`` -- an offline stand-in
  for an art corpus (used for the embedded model).

Determinism and exact resume: batch ``n`` of a run is a pure function of
``(data.seed, n)``. The stream is a sequence of data epochs; epoch ``e`` is the
dataset (repeated to at least ``min_epoch_examples``) shuffled with seed
``(seed, e)``, cut into ``steps_per_epoch`` full batches. Random patches use
stateless ops seeded by ``(seed, e, position)``. Resuming at step ``n`` rebuilds
epoch ``n // steps_per_epoch`` and skips the batches before it, so the data
position to save is the step (also saved as the number of examples consumed).
The prepared records are keyed by their path inside the folder, so the order --
and every batch -- does not depend on where the folder or the workdir lies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import pathlib
from collections.abc import Iterator

import numpy as np
from neural_art.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")

# scikit-image's bundled images that load without network access (skimage 0.22+).
SKIMAGE_IMAGES = (
    "astronaut", "coffee", "chelsea", "brick", "grass", "gravel", "rocket", "camera", "coins",
    "moon", "text", "page", "retina", "hubble_deep_field", "immunohistochemistry", "colorwheel",
    "clock", "cell",
)  # fmt: skip


def _tf():
    import tensorflow as tf

    try:  # keep TF off any accelerator: JAX owns it
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        pass
    return tf


def seed_size(
    width: int, height: int, min_pixels: int = 128 * 128, min_side: int = 64
) -> tuple[int, int]:
    """Smallest ``(w, h)`` with the aspect ratio of ``(width, height)`` and ``w * h >=
    min_pixels`` (Beyers & Loane, sec. 3.1), and both sides ``>= min_side`` so a
    patch always fits (only matters for extreme aspect ratios)."""
    s = math.sqrt(min_pixels / (width * height))
    s = max(s, min_side / min(width, height))
    while True:
        w, h = max(1, round(width * s)), max(1, round(height * s))
        if w * h >= min_pixels and min(w, h) >= min_side:
            return w, h
        s *= 1.0 + 1e-3


def load_and_prepare(
    path: str | os.PathLike, min_pixels: int = 128 * 128, min_side: int = 64
) -> np.ndarray:
    """Reads an image file as RGB uint8 ``[h, w, 3]`` resized by :func:`seed_size`.

    Raises whatever PIL raises for unreadable files (callers skip and count).
    """
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        im = im.convert("RGB")
        w, h = seed_size(im.width, im.height, min_pixels, min_side)
        im = im.resize((w, h), Image.Resampling.LANCZOS)
        return np.asarray(im, np.uint8)


def scan_folder(folder: str | os.PathLike) -> list[str]:
    """Image files under ``folder`` (recursive, sorted) by extension."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    return sorted(
        str(p) for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def export_skimage(out_dir: str | os.PathLike, names=SKIMAGE_IMAGES) -> list[str]:
    """Writes scikit-image's bundled images as PNGs (greyscale -> RGB). Offline."""
    import skimage.data
    from PIL import Image

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        p = out_dir / f"{name}.png"
        if not p.exists():
            a = np.asarray(getattr(skimage.data, name)())
            if a.dtype == bool:
                a = a.astype(np.uint8) * 255
            if a.ndim == 2:
                a = np.stack([a] * 3, -1)
            Image.fromarray(a[..., :3].astype(np.uint8)).save(p)
        paths.append(str(p))
    return paths


# ------------------------------------------------------------------ tfds builder


def _builder_class():
    import tensorflow_datasets as tfds

    global _ArtFolder
    if _ArtFolder is not None:
        return _ArtFolder

    @dataclasses.dataclass
    class ArtFolderConfig(tfds.core.BuilderConfig):
        folder: str = ""
        min_pixels: int = 128 * 128
        min_side: int = 64

    class ArtFolder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        """A folder of images prepared the seed's way (see module docstring)."""

        VERSION = tfds.core.Version("1.0.0")
        BUILDER_CONFIGS = []
        # Nothing to download; also avoids tfds' code_path lookup, which needs
        # the optional importlib_resources package for builders defined in-function.
        url_infos = {}
        code_path = None

        def _info(self):
            return self.dataset_info_from_configs(
                features=tfds.features.FeaturesDict(
                    {
                        "image": tfds.features.Image(shape=(None, None, 3), encoding_format="png"),
                        "filename": tfds.features.Text(),
                    }
                ),
                description="Images from a folder, resized keeping aspect to >= min_pixels pixels.",
            )

        def _split_generators(self, dl_manager):
            del dl_manager
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            cfg = self.builder_config
            skipped = []
            for path in scan_folder(cfg.folder):
                try:
                    img = load_and_prepare(path, cfg.min_pixels, cfg.min_side)
                except Exception as e:
                    skipped.append({"file": path, "error": f"{type(e).__name__}: {e}"})
                    logging.warning("skipping unreadable image %s: %s", path, e)
                    continue
                # The key is the path *inside* the folder: tfds orders the prepared
                # records by a hash of their keys, so an absolute key made the data
                # order (hence every batch) depend on where the folder lies -- two
                # workdirs of one command trained on different batches.
                rel = os.path.relpath(path, cfg.folder)
                yield rel, {"image": img, "filename": rel}
            self._skipped = skipped

    ArtFolder.Config = ArtFolderConfig
    _ArtFolder = ArtFolder
    return ArtFolder


_ArtFolder = None


@dataclasses.dataclass
class PreparedFolder:
    builder: object
    num_examples: int
    skipped: list[dict]


def prepare_folder(
    folder: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    min_pixels: int = 128 * 128,
    min_side: int = 64,
) -> PreparedFolder:
    """Builds (once) the tfds dataset for ``folder`` under ``data_dir``.

    Returns the builder, the number of usable images and the skipped files (also
    written to ``<data_dir>/<name>/skipped.json``). Raises ``ValueError`` if no
    image could be read.
    """
    _tf()
    cls = _builder_class()
    folder = os.path.abspath(folder)
    digest = hashlib.sha256(f"{folder}|{min_pixels}|{min_side}".encode()).hexdigest()[:12]
    config = cls.Config(name=f"f{digest}", folder=folder, min_pixels=min_pixels, min_side=min_side)
    builder = cls(config=config, data_dir=os.fspath(data_dir))
    skip_file = pathlib.Path(data_dir) / f"{cls.name}_{config.name}_skipped.json"
    if not builder.is_prepared():
        if not scan_folder(folder):
            raise UserError(
                f"no image files in {folder} (extensions: {', '.join(IMAGE_EXTENSIONS)})"
            )
        try:
            builder.download_and_prepare()
        except AssertionError as e:  # tfds refuses an empty split
            if "No examples" not in str(e):
                raise
            n_bad = len(getattr(builder, "_skipped", []))
            raise UserError(f"no readable images in {folder} ({n_bad} skipped)") from e
        skipped = getattr(builder, "_skipped", [])
        skip_file.write_text(json.dumps({"folder": folder, "skipped": skipped}, indent=1) + "\n")
    skipped = json.loads(skip_file.read_text())["skipped"] if skip_file.exists() else []
    n = builder.info.splits["train"].num_examples
    if n == 0:
        raise UserError(f"no readable images in {folder} ({len(skipped)} skipped)")
    if skipped:
        logging.warning(
            "%s: %d unreadable file(s) skipped (listed in %s)", folder, len(skipped), skip_file
        )
    return PreparedFolder(builder, n, skipped)


# ------------------------------------------------------------------ training stream


def _base_dataset(data_cfg, resolution: int, nc: int, data_dir: str | None):
    """Returns ``(ds of uint8 images, num_examples, needs_crop, info dict)``."""
    import tensorflow_datasets as tfds

    tf = _tf()
    src = data_cfg.source
    if src == "mnist":
        builder = tfds.builder("mnist", data_dir=data_dir)
        builder.download_and_prepare()
        ds = builder.as_dataset(split="train", shuffle_files=False).map(lambda ex: ex["image"])
        try:
            n = builder.info.splits["train"].num_examples
        except KeyError:  # no split metadata (e.g. tfds.testing.mock_data): count
            n = int(ds.reduce(0, lambda c, _: c + 1))
        return ds, n, False, {"source": "mnist", "num_examples": n}
    if src in ("folder", "skimage"):
        data_dir = data_dir or os.path.expanduser("~/tensorflow_datasets")
        folder = data_cfg.folder
        if src == "skimage":
            folder = os.path.join(data_dir, "skimage_images")
            export_skimage(folder)
        prep = prepare_folder(
            folder,
            data_dir,
            min_pixels=data_cfg.get("min_pixels", 128 * 128),
            min_side=max(resolution, 1),
        )
        ds = prep.builder.as_dataset(split="train", shuffle_files=False).map(lambda ex: ex["image"])
        if nc == 1:
            ds = ds.map(tf.image.rgb_to_grayscale)
        info = {
            "source": src,
            "folder": folder,
            "num_examples": prep.num_examples,
            "skipped": len(prep.skipped),
        }
        return ds, prep.num_examples, True, info
    raise UserError(f"unknown data source {src!r} (mnist, folder, skimage)")


def train_batches(
    data_cfg,
    *,
    batch_size: int,
    resolution: int,
    nc: int,
    start_step: int = 0,
    data_dir: str | None = None,
) -> tuple[Iterator[np.ndarray], dict]:
    """Infinite iterator of float32 batches ``[B, res, res, nc]`` in [-1, 1],
    starting at batch ``start_step`` (see module docstring), and an info dict."""
    tf = _tf()
    base, n, crop, info = _base_dataset(data_cfg, resolution, nc, data_dir)
    seed = int(data_cfg.get("seed", 0))
    reps = max(1, math.ceil(max(batch_size, int(data_cfg.get("min_epoch_examples", 1024))) / n))
    steps_per_epoch = (n * reps) // batch_size
    buffer = min(n * reps, int(data_cfg.get("shuffle_buffer", 10_000)))
    info.update(steps_per_epoch=steps_per_epoch, repeats_per_epoch=reps)

    def prep(i, img, epoch):
        if crop:
            s = tf.stack(
                [tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64), tf.cast(i, tf.int64)]
            )
            s = tf.cast(tf.math.floormod(s, 2**31 - 1), tf.int32)[1:]  # 2 ints
            s = s + tf.constant([seed % (2**30), 0], tf.int32)
            img = tf.image.stateless_random_crop(img, (resolution, resolution, nc), seed=s)
        else:
            img = tf.image.resize(img, (resolution, resolution), method="bilinear", antialias=True)
        return tf.cast(img, tf.float32) / 127.5 - 1.0

    def epoch_ds(epoch: int, skip_batches: int):
        ds = base.repeat(reps).enumerate()
        ds = ds.shuffle(
            buffer, seed=(seed * 1_000_003 + epoch) % (2**31 - 1), reshuffle_each_iteration=False
        )
        ds = ds.skip(skip_batches * batch_size)
        ds = ds.map(
            lambda i, img: prep(i, img, epoch),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        ds = ds.batch(batch_size, drop_remainder=True)
        return ds.prefetch(2)

    def gen():
        epoch, skip = divmod(start_step, steps_per_epoch)
        while True:
            yield from epoch_ds(epoch, skip).as_numpy_iterator()
            epoch, skip = epoch + 1, 0

    return gen(), info
