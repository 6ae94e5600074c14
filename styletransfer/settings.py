"""The settings of one style-transfer run: one frozen dataclass, its fields named
as ``python -m styletransfer``'s flags, built directly from them.

    from styletransfer import Settings, pipeline
    pipeline.run(Settings(content="photo.jpg", style=("starry.jpg",), out_dir="out"))

The library functions (:mod:`styletransfer.transfer`) read the optimisation
fields and ignore the input/output ones (``content``, ``style``, ``out_dir``,
``weights``, ``size``...), which only :mod:`styletransfer.pipeline` reads.
:func:`check` validates everything that needs no compute (a CLI calls it
before any work).
"""

from __future__ import annotations

import dataclasses
import math

from styletransfer import losses, vggnet
from neural_art.errors import UserError

MODES = ("transfer", "content", "texture", "sweep")
OPTIMIZERS = ("lbfgs", "adam")
POOLINGS = ("avg", "max")
PIXELS = ("clip", "sigmoid")
COLORS = ("none", "luminance", "histogram")
PRECISIONS = ("float32", "bfloat16")
REMATS = ("auto", "none", "block", "layer")
INITS = ("noise", "content", "style")
PRESETS = ("gatys2015",)  # styletransfer.presets.PRESETS


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything about a run (hashable).

    Inputs and outputs (read by :mod:`styletransfer.pipeline` only):
      content: the content image (photograph) path.
      style: style image path(s); style_blend: one weight per style image (None: equal).
      mode: one of :data:`MODES`.
      out_dir: where result.png, snapshots/, losses.png/json, settings.json go.
      weights: the ``--weights`` grammar (:func:`styletransfer.hub.load`).
      ratios: α/β ratios of ``mode="sweep"``.
      size: resize inputs so the longer side is this.
      max_size: a guard: a longer output side than this is refused, with the
        memory the style step would need at that size (None: no guard; the
        memory plan still refuses what does not fit).
      progress: show a progress bar.

    Optimisation (read by :mod:`styletransfer.transfer`):
      content_layers / style_layers: VGG feature keys (defaults: Gatys's).
      style_layer_weights: ``w_l`` (default ``1/len(style_layers)``).
      content_weight / style_weight: α and β of Gatys eq. (7).
      tv_weight: total-variation weight (0: off).
      optimizer: ``lbfgs`` or ``adam``; learning_rate None: its default.
      steps: optimiser steps per scale (L-BFGS: iterations, each with a line search).
      snapshot_every: keep the image every N steps (0: none).
      pooling: ``avg`` (Gatys) or ``max`` (torchvision).
      init: ``noise`` | ``content`` | ``style`` | a path to an image (pipeline).
      pixel: ``clip`` | ``sigmoid``.
      color: ``none`` | ``luminance`` (transfer luminance only, keep the content's
        colours) | ``histogram`` (style and result recoloured to the content's
        colour mean and covariance), Gatys et al. 2016, arXiv:1606.05897.
      original_colors: the older spelling of ``color="luminance"``.
      precision: the VGG activations' dtype (``bfloat16`` halves their memory).
      remat: memory plan (:mod:`styletransfer.memory`): ``auto`` picks the
        cheapest that fits ``memory_budget``; ``none`` | ``block`` | ``layer``.
      memory_budget: GB per device (None: a fixed fraction of the device's memory).
      devices: split the image's rows over this many devices (0: all).
      scales: coarse-to-fine longer-side sizes, e.g. ``(128, 256, 512)``; each
        scale starts from the previous result upsampled (empty: one scale).
      seed: the noise init's key (and random weights').
      preset: the named settings this run started from (:mod:`styletransfer.presets`),
        recorded in ``settings.json``; None: none.
    """

    content: str | None = None
    style: tuple[str, ...] = ()
    style_blend: tuple[float, ...] | None = None
    mode: str = "transfer"
    out_dir: str = "styletransfer_out"
    weights: str = "vgg19"
    content_layers: tuple[str, ...] = losses.CONTENT_LAYERS
    style_layers: tuple[str, ...] = losses.STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None
    content_weight: float = 1.0
    style_weight: float = 1e3
    tv_weight: float = 0.0
    ratios: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)
    optimizer: str = "lbfgs"
    learning_rate: float | None = None
    steps: int = 300
    size: int | None = None
    max_size: int | None = None
    pooling: str = "avg"
    init: str = "noise"
    pixel: str = "clip"
    original_colors: bool = False
    color: str = "none"
    precision: str = "float32"
    remat: str = "auto"
    memory_budget: float | None = None
    devices: int = 0
    scales: tuple[int, ...] = ()
    snapshot_every: int = 0
    seed: int = 0
    progress: bool = True
    preset: str | None = None

    def replace(self, **kw) -> Settings:
        return dataclasses.replace(self, **kw)


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise UserError(f"--{name} must be one of {', '.join(choices)}, got {value!r}")


WEIGHTS = ("content_weight", "style_weight", "tv_weight")


def check_finite_weights(s: Settings) -> None:
    """The CLI's stricter check: α, β and the TV weight finite (the library lets an
    infinite weight through, to fail as a non-finite loss with the last image kept)."""
    for name in WEIGHTS:
        if not math.isfinite(getattr(s, name)):
            raise UserError(f"--{name} must be finite, got {getattr(s, name)}")


def _numbers(s: Settings) -> None:
    for name in WEIGHTS:
        v = getattr(s, name)
        if math.isnan(v) or v < 0:
            raise UserError(f"--{name} must be >= 0, got {v}")
    if s.learning_rate is not None and not (math.isfinite(s.learning_rate) and s.learning_rate > 0):
        raise UserError(f"--learning_rate must be finite and > 0, got {s.learning_rate}")
    if s.steps < 1:
        raise UserError(f"--steps must be >= 1, got {s.steps}")
    if s.max_size is not None and s.max_size < 1:
        raise UserError(f"--max_size must be >= 1, got {s.max_size}")
    if s.memory_budget is not None and not (math.isfinite(s.memory_budget) and s.memory_budget > 0):
        raise UserError(f"--memory_budget must be finite and > 0 (GB), got {s.memory_budget}")
    if s.devices < 0:
        raise UserError(f"--devices must be >= 0 (0: all), got {s.devices}")
    if s.size is not None and s.size < 1:
        raise UserError(f"--size must be >= 1, got {s.size}")
    if s.snapshot_every < 0:
        raise UserError(f"--snapshot_every must be >= 0, got {s.snapshot_every}")
    if any(k < 1 for k in s.scales):
        raise UserError(f"--scales must all be >= 1, got {list(s.scales)}")
    groups = {"ratios": s.ratios, "style_blend": s.style_blend or (),
              "style_layer_weights": s.style_layer_weights or ()}  # fmt: skip
    for name, values in groups.items():
        if any(not (math.isfinite(v) and v >= 0) for v in values):
            raise UserError(f"--{name} must be finite and >= 0, got {list(values)}")


def _inputs(s: Settings) -> None:
    if s.mode in ("transfer", "content", "sweep") and not s.content:
        raise UserError(f"mode {s.mode!r} needs a content image (--content)")
    if s.mode in ("transfer", "texture", "sweep") and not s.style:
        raise UserError(f"mode {s.mode!r} needs at least one style image (--style)")
    if s.style_blend is not None and len(s.style_blend) != len(s.style):
        raise UserError(f"{len(s.style_blend)} --style_blend weights for {len(s.style)} styles")
    if s.mode == "sweep" and not s.ratios:
        raise UserError("mode 'sweep' needs at least one --ratios value")
    if len(set(s.ratios)) != len(s.ratios):  # one result_ratio_<r>.png per ratio
        raise UserError(f"--ratios holds a value twice: {list(s.ratios)}")
    known = vggnet.VGG19.layer_names  # VGG-16's are a subset
    for flag, layers in (("content_layers", s.content_layers), ("style_layers", s.style_layers)):
        bad = [name for name in layers if name not in known]
        if bad:
            raise UserError(f"--{flag}: unknown VGG layer(s) {bad}; e.g. conv1_1, relu4_2, pool5")
    n = len(s.style_layers)
    if (
        s.style_layer_weights is not None
        and len(s.style_layer_weights) != n
        and s.mode != "texture"
    ):
        raise UserError(f"{len(s.style_layer_weights)} --style_layer_weights for {n} style layers")


def check(s: Settings) -> None:
    """Raises ``ValueError`` naming the flag of the first invalid setting (no compute)."""
    _choice("mode", s.mode, MODES)
    _choice("optimizer", s.optimizer, OPTIMIZERS)
    _choice("pooling", s.pooling, POOLINGS)
    _choice("pixel", s.pixel, PIXELS)
    _choice("color", s.color, COLORS)
    _choice("precision", s.precision, PRECISIONS)
    _choice("remat", s.remat, REMATS)
    if s.preset is not None:
        _choice("preset", s.preset, PRESETS)
    if s.original_colors and s.color == "histogram":
        raise UserError("--original_colors means --color=luminance; it contradicts --color=histogram")
    _numbers(s)
    _inputs(s)

