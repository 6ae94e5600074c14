"""CLI: train Despraz's denoising autoencoder; writes ``<out_dir>/decoder.npz`` for
``python -m featvis --method=despraz-pretrained --decoder=<out_dir>/decoder.npz``.

    python -m featvis.train_autoencoder --images=/data/dogs --split=train \
        --steps=20000 --batch=24 --out_dir=ae
    # CPU smoke (width 1/16; a tfds.ImageFolder tree root/train/<label>/*.png):
    python -m featvis.train_autoencoder --images=/tmp/imgs --steps=2 --batch=2 --width=0.0625 \
        --out_dir=/tmp/ae
"""

from __future__ import annotations

import math
import os
import pathlib

from absl import flags, logging

from neural_art import cli

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


def main(argv):
    del argv
    if not (math.isfinite(FLAGS.noise_sd) and FLAGS.noise_sd >= 0):
        raise cli.UsageError(f"--noise_sd must be finite and >= 0, got {FLAGS.noise_sd}")
    for name in ("width", "learning_rate"):
        if not (math.isfinite(FLAGS[name].value) and FLAGS[name].value > 0):
            raise cli.UsageError(f"--{name} must be finite and > 0, got {FLAGS[name].value}")
    check_images(FLAGS.images, FLAGS.split)
    out = cli.check_out_dir(FLAGS.out_dir)
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
