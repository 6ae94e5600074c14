"""CLI: train Despraz's denoising autoencoder; writes the decoder for ``--method=despraz-pretrained``.

    python -m featvis.train_autoencoder --images=/data/dogs --split=train \
        --steps=20000 --batch=24 --out=decoder.npz
    # CPU smoke (width 1/16; a tfds.ImageFolder tree root/train/<label>/*.png):
    python -m featvis.train_autoencoder --images=/tmp/imgs --steps=2 --batch=2 --width=0.0625 --out=/tmp/dec.npz
"""

from absl import app, flags, logging

flags.DEFINE_string(
    "images",
    None,
    "tfds.ImageFolder root (root/<split>/<label>/*.jpg) or a tfds dataset name (stanford_dogs).",
    required=True,
)
flags.DEFINE_string("split", "train", "Split sub-directory.")
flags.DEFINE_integer("steps", 1000, "Training steps.")
flags.DEFINE_integer("batch", 24, "Batch size (their notebook: 24).")
flags.DEFINE_float("noise_sd", 20.0, "Input noise std in Caffe pixel units (0..255).")
flags.DEFINE_float("width", 1.0, "Channel multiplier (1 = the paper's network).")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("out", "decoder.npz", "Where to write the decoder parameters.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from featvis import autoencoder

    params, losses = autoencoder.train(
        FLAGS.images, split=FLAGS.split, steps=FLAGS.steps, batch=FLAGS.batch,
        noise_sd=FLAGS.noise_sd, width=FLAGS.width, seed=FLAGS.seed,
        progress=lambda s, l: logging.info("step %d loss %.4f", s, l),
    )  # fmt: skip
    path = autoencoder.save_decoder(FLAGS.out, params["decoder"])
    print(f"decoder -> {path} (first loss {losses[0]:.2f}, last {losses[-1]:.2f})")


if __name__ == "__main__":
    app.run(main)
