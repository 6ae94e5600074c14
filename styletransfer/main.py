r"""``python -m styletransfer``: Gatys et al. neural style transfer from the command line.

    python -m styletransfer --content=photo.jpg --style=starry.jpg --output_dir=out
    python -m styletransfer --content=photo.jpg --style=a.jpg,b.jpg --style_blend=0.7,0.3 \
        --optimizer=adam --iterations=500 --size=512 --original_colors
    python -m styletransfer --mode=texture --style=brick.png --style_layers=conv1_1,conv2_1
    python -m styletransfer --mode=content --content=photo.jpg --content_layers=conv3_1
    python -m styletransfer --mode=sweep --content=photo.jpg --style=starry.jpg \
        --ratios=1e-4,1e-3,1e-2,1e-1
    # smoke test without downloads:
    python -m styletransfer --weights=random --content=a.png --style=b.png --size=64 --iterations=5

Only parses flags; the work is :func:`styletransfer.pipeline.run`.
"""

from __future__ import annotations

import logging
import sys

from absl import app, flags

from styletransfer import losses, pipeline

_F = flags
_F.DEFINE_string("content", None, "content image (photograph)")
_F.DEFINE_list("style", [], "style image(s), comma-separated")
_F.DEFINE_list("style_blend", None, "blend weight per style image (default equal)")
_F.DEFINE_enum("mode", "transfer", list(pipeline.MODES),
               "transfer | content (reconstruction from --content_layers[0]) | "
               "texture (style only) | sweep (α/β ratios, one compiled program)")  # fmt: skip
_F.DEFINE_string("output_dir", "styletransfer_out", "where result.png, snapshots/, losses.png go")
_F.DEFINE_string("weights", "vgg19",
                 "vgg19 | vgg16 (download+convert once) | converted dir | .pth | random[:vgg16]")  # fmt: skip
_F.DEFINE_list("content_layers", list(losses.CONTENT_LAYERS), "content layers")
_F.DEFINE_list("style_layers", list(losses.STYLE_LAYERS), "style layers")
_F.DEFINE_list("style_layer_weights", None, "w_l per style layer (default 1/len)")
_F.DEFINE_float("content_weight", 1.0, "α of Gatys eq. (7)")
_F.DEFINE_float("style_weight", 1e3, "β of Gatys eq. (7)")
_F.DEFINE_float("tv_weight", 0.0, "total-variation weight")
_F.DEFINE_list("ratios", ["1e-4", "1e-3", "1e-2", "1e-1"], "α/β ratios for --mode=sweep")
_F.DEFINE_enum("optimizer", "lbfgs", ["lbfgs", "adam"], "optax optimiser")
_F.DEFINE_float("learning_rate", None, "Adam learning rate (default 0.02); L-BFGS: line search")
_F.DEFINE_integer("iterations", 300, "optimiser steps (per scale)")
_F.DEFINE_integer("size", None, "resize inputs so the longer side is this")
_F.DEFINE_integer("max_size", 512, "larger inputs are downscaled to this, with a warning")
_F.DEFINE_enum("pooling", "avg", ["avg", "max"], "VGG pooling (Gatys: avg)")
_F.DEFINE_string("init", "noise", "noise | content | style | path to an image")
_F.DEFINE_enum("pixel", "clip", ["clip", "sigmoid"], "keep pixels in [0, 1] by clipping or sigmoid")
_F.DEFINE_bool("original_colors", False, "luminance-only transfer, keep the content's colours")
_F.DEFINE_list("scales", [], "coarse-to-fine longer-side sizes, e.g. 128,256,512")
_F.DEFINE_integer("snapshot_every", 0, "write the image every N steps (0: never)")
_F.DEFINE_integer("seed", 0, "noise init / random weights seed")
_F.DEFINE_bool("progress", True, "progress bar")
FLAGS = flags.FLAGS


def _floats(v):
    return None if v is None else tuple(float(x) for x in v)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.getLogger().setLevel(logging.INFO)
    from neural_art import images as imageio
    from styletransfer import optim

    opts = pipeline.Options(
        content=FLAGS.content,
        styles=tuple(FLAGS.style),
        style_blend=_floats(FLAGS.style_blend),
        mode=FLAGS.mode,
        output_dir=FLAGS.output_dir,
        weights=FLAGS.weights,
        content_layers=tuple(FLAGS.content_layers),
        style_layers=tuple(FLAGS.style_layers),
        style_layer_weights=_floats(FLAGS.style_layer_weights),
        content_weight=FLAGS.content_weight,
        style_weight=FLAGS.style_weight,
        tv_weight=FLAGS.tv_weight,
        ratios=_floats(FLAGS.ratios),
        optimizer=FLAGS.optimizer,
        learning_rate=FLAGS.learning_rate,
        iterations=FLAGS.iterations,
        size=FLAGS.size,
        max_size=FLAGS.max_size,
        pooling=FLAGS.pooling,
        init=FLAGS.init,
        pixel=FLAGS.pixel,
        original_colors=FLAGS.original_colors,
        scales=tuple(int(x) for x in FLAGS.scales),
        snapshot_every=FLAGS.snapshot_every,
        seed=FLAGS.seed,
        progress=FLAGS.progress,
    )
    try:
        written = pipeline.run(opts)
    except (imageio.ImageError, optim.NonFiniteLossError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    for k, v in written.items():
        print(f"{k}: {v}")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
