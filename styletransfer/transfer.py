"""Gatys et al. style transfer and its relatives, each one compiled program.

    from styletransfer import transfer, vgg
    net = transfer.Net(*vgg.load("vgg19"))
    out = transfer.stylize(net, content, [style], transfer.Settings(num_steps=300))
    out.image                                  # [H, W, 3] in [0, 1]

Modes (images ``[H, W, 3]`` float in [0, 1]):

* :func:`stylize`: full transfer (eq. 7), one or several style images with
  blend weights, optional original colours (:func:`stylize` with
  ``Settings(original_colors=True)``: luminance-only transfer, Gatys et al.
  2016 "Preserving color in neural artistic style transfer") and
  coarse-to-fine ``scales``.
* :func:`reconstruct_content`: content-only reconstruction from one layer
  (Fig. 1, content row).
* :func:`synthesize_texture`: style-only reconstruction from a layer set
  (Fig. 1, style row).
* :func:`sweep`: several α/β ratios optimised at once, ``vmap`` over the
  ratios inside one compiled program (the blog's tiles).

Pixel range: ``pixel="clip"`` optimises the image itself and projects it onto
[0, 1] after each step; ``pixel="sigmoid"`` optimises logits, image =
sigmoid(logits). Init: ``"noise"`` (white noise, uniform in [0, 1], the
paper's choice), ``"content"``, ``"style"``, or an explicit ``init_image``.
Noise for seed ``s`` is drawn from ``jax.random.key(s)``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from styletransfer import losses, optim, vgg


class Net(NamedTuple):
    """A frozen VGG: config + params."""

    cfg: vgg.VGGConfig
    params: Any


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything static about a run (hashable: one compiled program per value).

    Attributes:
      content_layers / style_layers: VGG feature keys (defaults: Gatys's).
      style_layer_weights: ``w_l`` (default ``1/len(style_layers)``).
      alpha / beta: content and style weights of eq. (7).
      tv_weight: total-variation weight (0: off).
      optimizer: ``lbfgs`` or ``adam``; learning_rate None: its default.
      num_steps: optimiser steps (L-BFGS: iterations, each with a line search).
      snapshot_every: keep the image every N steps (0: none).
      pooling: ``avg`` (Gatys) or ``max`` (torchvision).
      init: ``noise`` | ``content`` | ``style``.
      pixel: ``clip`` | ``sigmoid``.
      original_colors: transfer luminance only and keep the content's colours.
      scales: coarse-to-fine longer-side sizes, e.g. ``(128, 256, 512)``; each
        scale starts from the previous result upsampled (empty: one scale).
      seed: the noise init's key.
    """

    content_layers: tuple[str, ...] = losses.CONTENT_LAYERS
    style_layers: tuple[str, ...] = losses.STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None
    alpha: float = 1.0
    beta: float = 1e3
    tv_weight: float = 0.0
    optimizer: str = "lbfgs"
    learning_rate: float | None = None
    num_steps: int = 300
    snapshot_every: int = 0
    pooling: str = "avg"
    init: str = "noise"
    pixel: str = "clip"
    original_colors: bool = False
    scales: tuple[int, ...] = ()
    seed: int = 0

    def replace(self, **kw) -> Settings:
        return dataclasses.replace(self, **kw)


class Result(NamedTuple):
    image: np.ndarray  # [H, W, 3] ([R, H, W, 3] for a sweep) in [0, 1]
    snapshots: np.ndarray | None  # [S, H, W, 3] ([R, S, ...]) images, or None
    losses: np.ndarray  # [num_steps + 1] total loss per step ([R, ...]); last scale only
    parts: dict[str, np.ndarray]  # final content/style/style/<layer>/tv/total


# ---------------------------------------------------------------- pieces


def to_image(params: jax.Array, pixel: str) -> jax.Array:
    if pixel == "clip":
        return params
    if pixel == "sigmoid":
        return jax.nn.sigmoid(params)
    raise ValueError(f"pixel must be 'clip' or 'sigmoid', got {pixel!r}")


def from_image(image: jax.Array, pixel: str) -> jax.Array:
    if pixel == "clip":
        return jnp.clip(image, 0.0, 1.0)
    if pixel == "sigmoid":
        x = jnp.clip(image, 1e-3, 1 - 1e-3)
        return jnp.log(x) - jnp.log1p(-x)
    raise ValueError(f"pixel must be 'clip' or 'sigmoid', got {pixel!r}")


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _features(cfg, params, layers, pooling, image):
    return vgg.apply(cfg, params, image[None], layers, pooling=pooling)[1]


def features(net: Net, image, layers: Sequence[str], pooling: str = "avg") -> dict:
    """VGG features of one ``[H, W, 3]`` image (batch axis of 1 kept)."""
    return _features(net.cfg, net.params, tuple(layers), pooling, jnp.asarray(image, jnp.float32))


_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    np.float32,
)


def rgb_to_yiq(image):
    return jnp.asarray(image) @ _YIQ.T


def yiq_to_rgb(image):
    return jnp.asarray(image) @ np.linalg.inv(_YIQ).T.astype(np.float32)


def luminance(image):
    """Y of YIQ replicated to 3 channels."""
    y = rgb_to_yiq(image)[..., :1]
    return jnp.repeat(y, 3, axis=-1)


def match_luminance(style, content):
    """Style luminance with its mean/std matched to the content's (Gatys et al. 2016, eq. 1)."""
    ys, yc = rgb_to_yiq(style)[..., 0], rgb_to_yiq(content)[..., 0]
    y = (ys - ys.mean()) * (yc.std() / (ys.std() + 1e-8)) + yc.mean()
    return jnp.repeat(jnp.clip(y, 0, 1)[..., None], 3, axis=-1)


def with_colors_of(luma_image, color_source):
    """Y from ``luma_image`` (its mean channel), I and Q from ``color_source``."""
    yiq = rgb_to_yiq(color_source)
    y = jnp.mean(luma_image, axis=-1)
    return jnp.clip(yiq_to_rgb(jnp.stack([y, yiq[..., 1], yiq[..., 2]], -1)), 0.0, 1.0)


def resize(image, hw: tuple[int, int]):
    image = jnp.asarray(image)
    if image.shape[:2] == tuple(hw):
        return image
    return jnp.clip(jax.image.resize(image, (*hw, image.shape[-1]), "linear", antialias=True), 0, 1)


# ---------------------------------------------------------------- the loss


def _loss_fn(cfg: vgg.VGGConfig, s: Settings, has_content: bool, has_style: bool) -> Callable:
    """``loss(params, vgg_params, content_targets, style_targets, weights[3]) -> total``.

    Cached on the loss-relevant settings only (not α, β, steps...), so
    :func:`optim.run` reuses its compiled program across those."""
    key = Settings(
        content_layers=s.content_layers,
        style_layers=s.style_layers,
        style_layer_weights=s.style_layer_weights,
        pooling=s.pooling,
        pixel=s.pixel,
    )
    return _loss_fn_cached(cfg, key, has_content, has_style)


@functools.lru_cache(maxsize=64)
def _loss_fn_cached(cfg: vgg.VGGConfig, s: Settings, has_content: bool, has_style: bool):
    c_layers = s.content_layers if has_content else ()
    s_layers = s.style_layers if has_style else ()
    layers = losses.required_layers(c_layers, s_layers)

    def parts_fn(params, vgg_params, content_t, style_t, weights):
        img = to_image(params, s.pixel)[None]
        feats = vgg.apply(cfg, vgg_params, img, layers, pooling=s.pooling)[1] if layers else {}
        fn = losses.gatys(
            content_t if has_content else None,
            style_t if has_style else None,
            alpha=weights[0],
            beta=weights[1],
            tv_weight=weights[2],
            content_layers=s.content_layers,
            style_layers=s.style_layers,
            style_weights=s.style_layer_weights,
        )
        return fn(feats, img)

    def loss(params, vgg_params, content_t, style_t, weights):
        return parts_fn(params, vgg_params, content_t, style_t, weights)[0]

    loss.parts = parts_fn
    return loss


def _project(s: Settings):
    return optim.clip(0.0, 1.0) if s.pixel == "clip" else None


def _targets(net, s: Settings, content, styles, blend, hw):
    """Content features P^l and blended Gram targets A^l for an output of size ``hw``."""
    content_t, style_t = {}, {}
    if content is not None:
        content_t = features(net, content, s.content_layers, s.pooling)
    if styles:
        feats = [features(net, st, s.style_layers, s.pooling) for st in styles]
        probe = jax.ShapeDtypeStruct((*hw, 3), jnp.float32)
        shapes = jax.eval_shape(lambda x: features(net, x, s.style_layers, s.pooling), probe)
        m = {k: v.shape[1] * v.shape[2] for k, v in shapes.items()}
        style_t = losses.style_targets(feats, s.style_layers, blend, num_positions=m)
    return content_t, style_t


def _init(s: Settings, hw, content, styles, init_image):
    if init_image is not None:
        return resize(init_image, hw)
    if s.init == "noise":
        return jax.random.uniform(jax.random.key(s.seed), (*hw, 3), jnp.float32)
    if s.init == "content":
        if content is None:
            raise ValueError("init='content' needs a content image")
        return resize(content, hw)
    if s.init == "style":
        if not styles:
            raise ValueError("init='style' needs a style image")
        return resize(styles[0], hw)
    raise ValueError(f"init must be 'noise', 'content' or 'style', got {s.init!r}")


def _weights(s: Settings, alpha=None, beta=None):
    a = s.alpha if alpha is None else alpha
    b = s.beta if beta is None else beta
    return jnp.asarray([a, b, s.tv_weight], jnp.float32)


def _one_scale(net, s, content, styles, blend, x0, callback):
    hw = tuple(x0.shape[:2])
    content_t, style_t = _targets(net, s, content, styles, blend, hw)
    loss = _loss_fn(net.cfg, s, bool(content_t), bool(style_t))
    opt = optim.make_optimizer(s.optimizer, s.learning_rate)
    args = (net.params, content_t, style_t, _weights(s))
    try:
        final, snaps, trace = optim.run(
            loss,
            from_image(x0, s.pixel),
            opt,
            s.num_steps,
            s.snapshot_every,
            project=_project(s),
            loss_args=args,
            callback=callback,
        )
    except optim.NonFiniteLossError as e:  # hand back the last finite image, not raw params
        if e.last_good is not None:
            e.last_good = np.asarray(to_image(e.last_good, s.pixel))
        raise
    _, parts = jax.jit(loss.parts)(final, *args)
    img = to_image(final, s.pixel)
    snaps = None if snaps is None else to_image(snaps, s.pixel)
    return img, snaps, trace, parts


def _run(net, s: Settings, content, styles, blend, init_image, hw, callback=None) -> Result:
    content = None if content is None else jnp.asarray(content, jnp.float32)
    styles = [jnp.asarray(x, jnp.float32) for x in (styles or [])]
    color_source = content
    if s.original_colors:
        if content is None:
            raise ValueError("original_colors needs a content image")
        styles = [match_luminance(x, content) for x in styles]
        content = luminance(content)
    sizes = [hw]
    if s.scales:
        longer = max(hw)
        sizes = [
            (max(1, round(hw[0] * k / longer)), max(1, round(hw[1] * k / longer))) for k in s.scales
        ]
    x = _init(s, sizes[0], content, styles, init_image)
    if s.original_colors and (init_image is not None or s.init != "noise"):
        x = luminance(x)
    for size in sizes:
        c = None if content is None else resize(content, size)
        x, snaps, trace, parts = _one_scale(net, s, c, styles, blend, resize(x, size), callback)
    if s.original_colors:
        x = with_colors_of(x, resize(color_source, x.shape[:2]))
        if snaps is not None:
            cs = resize(color_source, x.shape[:2])
            snaps = jax.vmap(lambda im: with_colors_of(im, cs))(snaps)
    return Result(
        np.asarray(x),
        None if snaps is None else np.asarray(snaps),
        np.asarray(trace),
        {k: np.asarray(v) for k, v in parts.items()},
    )


# ---------------------------------------------------------------- modes


def stylize(
    net: Net,
    content,
    styles: Sequence,
    settings: Settings = Settings(),
    *,
    blend: Sequence[float] | None = None,
    init_image=None,
    callback: Callable | None = None,
) -> Result:
    """Full transfer: content of ``content``, style of ``styles`` (blended by ``blend``).

    The output has the content image's size (the last of ``settings.scales``
    sets the longer side if given). Style Gram targets are rescaled to the
    output's number of positions, so style images may have any size."""
    if not styles:
        raise ValueError("stylize needs at least one style image")
    content = jnp.asarray(content, jnp.float32)
    hw = content.shape[:2]
    return _run(net, settings, content, styles, blend, init_image, hw, callback)


def reconstruct_content(
    net: Net, image, layer: str = "conv4_2", settings: Settings = Settings(), **kw
) -> Result:
    """Content-only reconstruction from ``layer`` (Gatys Fig. 1, content row)."""
    s = settings.replace(content_layers=(layer,), alpha=1.0, beta=0.0)
    image = jnp.asarray(image, jnp.float32)
    return _run(net, s, image, [], None, kw.get("init_image"), image.shape[:2], kw.get("callback"))


def synthesize_texture(
    net: Net,
    style,
    layers: Sequence[str] = losses.STYLE_LAYERS,
    settings: Settings = Settings(),
    *,
    size: tuple[int, int] | None = None,
    styles_blend: Sequence[float] | None = None,
    **kw,
) -> Result:
    """Style-only reconstruction (texture synthesis) from ``layers`` (Fig. 1, style
    row). ``style``: one image or a list (blended); ``size``: output ``(H, W)``
    (default: the first style image's)."""
    styles = list(style) if isinstance(style, list | tuple) else [style]
    s = settings.replace(style_layers=tuple(layers), alpha=0.0, beta=1.0)
    if s.style_layer_weights is not None and len(s.style_layer_weights) != len(layers):
        s = s.replace(style_layer_weights=None)
    hw = tuple(size) if size else jnp.asarray(styles[0]).shape[:2]
    return _run(net, s, None, styles, styles_blend, kw.get("init_image"), hw, kw.get("callback"))


@functools.partial(jax.jit, static_argnames=("loss", "opt", "num_steps", "every", "project"))
def _sweep_jit(loss, opt, num_steps, every, project, x0, vgg_params, content_t, style_t, weights):
    def one(w):
        return optim.optimize(
            loss,
            x0,
            opt,
            num_steps,
            every,
            project=project,
            loss_args=(vgg_params, content_t, style_t, w),
        )

    out = jax.vmap(one)(weights)
    parts = jax.vmap(lambda p, w: loss.parts(p, vgg_params, content_t, style_t, w)[1])(
        out.params, weights
    )
    return out, parts


def sweep(
    net: Net,
    content,
    styles: Sequence,
    ratios: Sequence[float],
    settings: Settings = Settings(),
    *,
    blend: Sequence[float] | None = None,
    init_image=None,
) -> Result:
    """α/β sweep: for each ratio ``r`` optimises with ``alpha = r * beta``
    (``beta = settings.beta``), all ratios vmapped in one compiled program.
    Every run starts from the same init. Returns images ``[R, H, W, 3]``.

    (No multi-scale or original colours here; run :func:`stylize` per ratio.)"""
    s = settings
    content = jnp.asarray(content, jnp.float32)
    styles = [jnp.asarray(x, jnp.float32) for x in styles]
    hw = tuple(content.shape[:2])
    content_t, style_t = _targets(net, s, content, styles, blend, hw)
    loss = _loss_fn(net.cfg, s, True, True)
    opt = optim.make_optimizer(s.optimizer, s.learning_rate)
    weights = jnp.stack([_weights(s, alpha=r * s.beta) for r in ratios])
    x0 = from_image(_init(s, hw, content, styles, init_image), s.pixel)
    out, parts = _sweep_jit(
        loss, opt, s.num_steps, s.snapshot_every, _project(s), x0, net.params, content_t, style_t,
        weights,
    )  # fmt: skip
    optim.check_finite(
        out.first_bad_step, " in the α/β sweep", np.asarray(to_image(out.params, s.pixel))
    )
    snaps = None if out.snapshots is None else np.asarray(to_image(out.snapshots, s.pixel))
    return Result(
        np.asarray(to_image(out.params, s.pixel)),
        snaps,
        np.asarray(out.losses),
        {k: np.asarray(v) for k, v in parts.items()},
    )


def psnr(a, b) -> float:
    """PSNR in dB of two images in [0, 1]."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)
