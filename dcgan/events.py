"""TensorBoard event files for a training run: ``tensorboard --logdir=WORKDIR``.

Scalars (losses, D's outputs, gradient norms, and the evaluations' FID/KID or
their named stand-ins, diversity and D's accuracy, :mod:`dcgan.evaluate`),
sample grids and alarm texts, written with ``tf.summary`` (TensorFlow is
already the input pipeline's dependency; it is imported here, lazily, when the
writer opens). Files: ``WORKDIR/events/events.out.tfevents.*``.
"""

from __future__ import annotations

import os

import numpy as np


class EventWriter:
    def __init__(self, logdir: str | os.PathLike):
        import tensorflow as tf

        self._tf = tf
        self._w = tf.summary.create_file_writer(os.fspath(logdir))

    def scalars(self, step: int, values: dict) -> None:
        with self._w.as_default(step=step):
            for k, v in values.items():
                self._tf.summary.scalar(k, float(v))

    def image(self, step: int, name: str, grid: np.ndarray) -> None:
        """``grid [H, W, C]`` uint8 (:func:`neural_art.images.image_grid`)."""
        img = np.asarray(grid, np.uint8)
        if img.shape[-1] == 1:
            img = np.repeat(img, 3, -1)
        with self._w.as_default(step=step):
            self._tf.summary.image(name, img[None])

    def text(self, step: int, name: str, text: str) -> None:
        with self._w.as_default(step=step):
            self._tf.summary.text(name, text)

    def flush(self) -> None:
        self._w.flush()

    def close(self) -> None:
        self._w.close()
