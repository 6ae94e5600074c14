"""CLI: train Despraz's denoising autoencoder; writes ``<out_dir>/decoder.npz`` for
``python -m featvis --method=despraz-pretrained --decoder=<out_dir>/decoder.npz``.

    python -m featvis.train_autoencoder --images=/data/dogs --split=train \
        --steps=20000 --batch=24 --out_dir=ae
    # CPU smoke (width 1/16; a tfds.ImageFolder tree root/train/<label>/*.png):
    python -m featvis.train_autoencoder --images=/tmp/imgs --steps=2 --batch=2 --width=0.0625 \
        --out_dir=/tmp/ae

A ``--batch`` past the device's memory (one training step) is refused in one line
(exit 2) naming the largest batch that fits (:func:`check_batch`), before any data.
"""

from __future__ import annotations

import functools
import math
import os
import pathlib

from absl import flags, logging

from neural_art import capacity, cli

flags.DEFINE_string(
    "images", None,
    "tfds.ImageFolder root (root/<split>/<label>/*.jpg) or a tfds dataset name (stanford_dogs).",
    required=True,
)  # fmt: skip
flags.DEFINE_string("split", "train", "Split sub-directory.")
cli.define_steps(1000, "Training steps.")
flags.DEFINE_integer("batch", 24, "Batch size (their notebook: 24).", lower_bound=1)
flags.DEFINE_float("noise_sd", 20.0, "Input noise std in Caffe pixel units (0..255).")
flags.DEFINE_float("width", 1.0, "Channel multiplier (1 = the paper's network).")
cli.define_learning_rate(1.0, "Adadelta learning rate (Keras 1 default: 1.0).")
cli.define_seed(0, "Random seed (init, noise, data order).")
cli.define_out_dir("featvis_autoencoder", "Directory for decoder.npz.")
FLAGS = flags.FLAGS


def check_images(images: str, split: str) -> None:
    """A path (has a separator, or exists) must be an ImageFolder root with ``split``;
    anything else is taken as a tfds dataset name. Checked before TF is imported."""
    root = pathlib.Path(images).expanduser()
    if not (os.sep in images or images.startswith(("~", ".")) or root.exists()):
        return  # a tfds name such as stanford_dogs
    if not root.is_dir():
        raise cli.UsageError(f"--images={images}: no such directory (an ImageFolder root "
                             "root/<split>/<label>/*.jpg, or a tfds dataset name)")  # fmt: skip
    if not (root / split).is_dir():
        raise cli.UsageError(f"--images={images}: no {split!r} split ({root / split}/<label>/*.jpg); "
                             "see --split")  # fmt: skip


PLAN_BATCH = 64  # batches up to which nothing is planned (the ordinary path compiles nothing more)
BATCH_POINTS = (2, 4)  # batches one training step is measured at


@functools.cache
def batch_fit(*, width: float = 1.0, noise_sd: float = 20.0, learning_rate: float = 1.0,
              seed: int = 0) -> capacity.Fit:  # fmt: skip
    """Peak bytes of one training step (:func:`featvis.autoencoder.train_step`) as
    ``base + slope · batch``, from the step compiled at ``BATCH_POINTS`` batches on
    abstract weights and images (nothing of the requested batch is built)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from featvis import autoencoder

    key = jax.random.key(seed)
    params = jax.eval_shape(functools.partial(autoencoder.init, width=width), key)
    opt = autoencoder.optimizer(learning_rate)
    state = jax.eval_shape(opt.init, params)

    def measure(b: int) -> int:
        x = jax.ShapeDtypeStruct((b, 224, 224, 3), jnp.float32)
        return capacity.peak_bytes(autoencoder.train_step.lower(
            params, state, x, key, np.int32(0), opt=opt, noise_sd=float(noise_sd)).compile())  # fmt: skip

    return capacity.fit(measure, *BATCH_POINTS)


def check_batch(batch: int, **kw) -> None:
    """Refuses ``--batch`` (:class:`neural_art.capacity.TooLarge`) when one training
    step cannot fit the device (:func:`neural_art.capacity.hard_limit`), from
    :func:`batch_fit` (``kw``: its arguments). Up to ``PLAN_BATCH`` nothing is compiled."""
    if batch <= PLAN_BATCH:
        return
    limit, where = capacity.hard_limit()
    batch_fit(**kw).check(batch, limit, flag="batch", where=where,
                          what=lambda b: f"one training step of {b} images of 224x224")  # fmt: skip


def main(argv):
    del argv
    if not (math.isfinite(FLAGS.noise_sd) and FLAGS.noise_sd >= 0):
        raise cli.UsageError(f"--noise_sd must be finite and >= 0, got {FLAGS.noise_sd}")
    for name in ("width", "learning_rate"):
        if not (math.isfinite(FLAGS[name].value) and FLAGS[name].value > 0):
            raise cli.UsageError(f"--{name} must be finite and > 0, got {FLAGS[name].value}")
    check_images(FLAGS.images, FLAGS.split)
    out = cli.check_out_dir(FLAGS.out_dir)
    try:  # --batch past the device's memory: refused from the plan at small batches, before any data
        check_batch(FLAGS.batch, width=FLAGS.width, noise_sd=FLAGS.noise_sd,
                    learning_rate=FLAGS.learning_rate, seed=FLAGS.seed)  # fmt: skip
    except capacity.TooLarge as e:
        raise cli.UsageError(str(e)) from None
    from featvis import autoencoder

    params, losses = autoencoder.train(
        FLAGS.images, split=FLAGS.split, steps=FLAGS.steps, batch=FLAGS.batch,
        noise_sd=FLAGS.noise_sd, width=FLAGS.width, learning_rate=FLAGS.learning_rate,
        seed=FLAGS.seed, progress=lambda s, l: logging.info("step %d loss %.4f", s, l),
    )  # fmt: skip
    path = autoencoder.save_decoder(out / "decoder.npz", params["decoder"])
    print(f"decoder -> {path} (first loss {losses[0]:.2f}, last {losses[-1]:.2f})")


def run() -> None:
    cli.run(main)


if __name__ == "__main__":
    run()
