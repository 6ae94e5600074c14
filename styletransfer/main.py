r"""``python -m styletransfer``: Gatys et al. neural style transfer from the command line.

    python -m styletransfer --content=photo.jpg --style=starry.jpg --out_dir=out
    python -m styletransfer --content=photo.jpg --style=a.jpg,b.jpg --style_blend=0.7,0.3 \
        --optimizer=adam --steps=500 --learning_rate=0.02 --size=512 --original_colors
    python -m styletransfer --mode=texture --style=brick.png --style_layers=conv1_1,conv2_1
    python -m styletransfer --mode=content --content=photo.jpg --content_layers=conv3_1
    python -m styletransfer --mode=sweep --content=photo.jpg --style=starry.jpg \
        --ratios=1e-4,1e-3,1e-2,1e-1
    python -m styletransfer --preset=gatys2015 --content=photo.jpg --style=starry.jpg
    python -m styletransfer --preset=gatys2015 --mode=sweep --content=photo.jpg --style=starry.jpg
    # smoke test without downloads:
    python -m styletransfer --weights=random --content=a.png --style=b.png --size=64 --steps=5

Only parses flags and checks them (no compute); the work is
:func:`styletransfer.pipeline.run`.
"""

from __future__ import annotations

import logging

from absl import flags

from neural_art import cli, hub
from styletransfer import hub as vgg_hub
from styletransfer import losses, pipeline, presets, settings, shard, vggnet
from styletransfer.settings import Settings

_D = Settings()
flags.DEFINE_string("content", None, "Content image (photograph).")
flags.DEFINE_list("style", [], "Style image(s), comma-separated.")
flags.DEFINE_list("style_blend", None, "Blend weight per style image (default equal).")
flags.DEFINE_enum("mode", _D.mode, list(settings.MODES),
                  "transfer | content (reconstruction from --content_layers[0]) | "
                  "texture (style only) | sweep (α/β ratios, vmapped)")  # fmt: skip
cli.define_out_dir(_D.out_dir, "Where result.png, snapshots/, losses.png/json, settings.json go.")
cli.define_weights(_D.weights, "VGG weights: vgg19 | vgg16 (torchvision) | vgg19-caffe | "
                   "vgg16-caffe | vgg19-gatys (releases, downloaded and converted once) | a "
                   "converted dir | a .pth | random[:vgg16|vgg19] (plain random: vgg19).")  # fmt: skip
flags.DEFINE_enum("preset", None, list(presets.PRESETS), "Published settings: gatys2015 (Gatys et "
                  "al. 2015: normalised VGG-19, avg pooling, conv4_2 / conv1_1..conv5_1, L-BFGS "
                  "from noise, α/β=1e-3; with --mode=sweep the Fig. 3 layout).")  # fmt: skip
flags.DEFINE_list("content_layers", list(losses.CONTENT_LAYERS), "Content layers.")
flags.DEFINE_list("style_layers", list(losses.STYLE_LAYERS), "Style layers.")
flags.DEFINE_list("style_layer_weights", None, "w_l per style layer (default 1/len).")
flags.DEFINE_float("content_weight", _D.content_weight, "α of Gatys eq. (7).")
flags.DEFINE_float("style_weight", _D.style_weight, "β of Gatys eq. (7).")
flags.DEFINE_float("tv_weight", _D.tv_weight, "Total-variation weight.")
flags.DEFINE_list("ratios", [f"{r:g}" for r in _D.ratios], "α/β ratios for --mode=sweep.")
flags.DEFINE_enum("optimizer", _D.optimizer, list(settings.OPTIMIZERS), "optax optimiser.")
cli.define_learning_rate(None, "Adam learning rate (default 0.02); L-BFGS: fixed step "
                         "(default: the line search picks it).")  # fmt: skip
cli.define_steps(_D.steps, "Optimiser steps (per scale).")
flags.DEFINE_integer("size", None, "Resize inputs so the longer side is this.")
flags.DEFINE_integer("max_size", _D.max_size, "Guard: a longer output side is refused, with the "
                     "memory it would need (default: none; the memory plan still refuses "
                     "what does not fit).")  # fmt: skip
flags.DEFINE_enum("pooling", _D.pooling, list(settings.POOLINGS), "VGG pooling (Gatys: avg).")
flags.DEFINE_string("init", _D.init, "noise | content | style | path to an image.")
flags.DEFINE_enum("pixel", _D.pixel, list(settings.PIXELS),
                  "Keep pixels in [0, 1] by clipping or sigmoid.")  # fmt: skip
flags.DEFINE_enum("color", _D.color, list(settings.COLORS),
                  "none | luminance (keep the content's colours) | histogram (match the "
                  "content's colour mean and covariance), per scale.")  # fmt: skip
flags.DEFINE_bool("original_colors", False, "Same as --color=luminance.")
cli.define_precision(_D.precision, "VGG activations' dtype (bfloat16 halves their memory).")
flags.DEFINE_enum("remat", _D.remat, list(settings.REMATS),
                  "Memory plan: auto (cheapest that fits --memory_budget) | none | block | layer.")  # fmt: skip
flags.DEFINE_float("memory_budget", None, "GB per device for the style step (default: "
                   "75% of the device's memory; on CPU of the RAM).")  # fmt: skip
flags.DEFINE_integer("devices", _D.devices, "Split the image's rows over this many devices (0: all).")
flags.DEFINE_list("scales", [], "Coarse-to-fine longer-side sizes, e.g. 128,256,512.")
flags.DEFINE_integer("snapshot_every", 0, "Write the image every N steps (0: never).")
cli.define_seed(_D.seed, "Noise init / random weights seed.")
flags.DEFINE_bool("progress", True, "Progress bar.")
FLAGS = flags.FLAGS


def _numbers(name: str, kind=float) -> tuple | None:
    values = getattr(FLAGS, name)
    if values is None:
        return None
    try:
        return tuple(kind(v) for v in values)
    except ValueError:
        raise cli.UsageError(f"--{name}: not a list of numbers: {','.join(values)}") from None


def settings_from_flags() -> Settings:
    """The run's :class:`Settings`, field by field from the flags of the same name."""
    lists = {"style_blend": float, "style_layer_weights": float, "ratios": float, "scales": int}
    tuples = {"style": str, "content_layers": str, "style_layers": str}
    fields = {f: getattr(FLAGS, f) for f in Settings.__dataclass_fields__}
    fields.update({f: _numbers(f, kind) for f, kind in lists.items()})
    fields.update({f: tuple(kind(v) for v in FLAGS[f].value) for f, kind in tuples.items()})
    return Settings(**fields)


def check(s: Settings) -> None:
    """Every check that needs no compute: values, input files, weights, output dir."""
    try:
        settings.check(s)
        settings.check_finite_weights(s)
        shard.mesh(s.devices)  # --devices: no more than are visible
        if s.preset:
            presets.check_weights(s)
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    try:  # a named pipe for --weights is a file problem (exit 1), raised as it is
        hub.parse(s.weights, releases=tuple(vgg_hub.RELEASES), configs=tuple(vggnet.CONFIGS),
                  default_config="vgg19")  # fmt: skip
    except hub.WeightsSpecError as e:
        raise cli.UsageError(str(e)) from None
    cli.check_out_dir(s.out_dir)


def main(argv):
    del argv
    logging.getLogger().setLevel(logging.INFO)
    s = settings_from_flags()
    if FLAGS.preset:
        explicit = {f for f in Settings.__dataclass_fields__ if f in FLAGS and FLAGS[f].present}
        try:
            s = presets.apply(s, FLAGS.preset, explicit)
        except ValueError as e:
            raise cli.UsageError(str(e)) from None
    check(s)
    sweep_fig3 = s.preset is not None and s.mode == "sweep"
    written = presets.run_fig3(s) if sweep_fig3 else pipeline.run(s)
    for k, v in written.items():
        print(f"{k}: {v}")


def run() -> None:
    cli.run(main)


if __name__ == "__main__":
    run()
