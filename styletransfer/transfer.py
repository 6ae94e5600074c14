"""Gatys et al. style transfer and its relatives, each a jitted optax loop.

    from styletransfer import Settings, transfer, vgg
    net = transfer.Net(*vgg.load("vgg19"))
    out = transfer.stylize(net, content, [style], Settings(steps=300))
    out.image                                  # [H, W, 3] in [0, 1]

Modes (images ``[H, W, 3]`` float in [0, 1]):

* :func:`stylize`: full transfer (eq. 7), one or several style images with
  blend weights, colour control (``Settings(color="luminance")``: luminance-only
  transfer; ``"histogram"``: the content's colour mean and covariance; Gatys et
  al. 2016 "Preserving color in neural artistic style transfer",
  arXiv:1606.05897) and coarse-to-fine ``scales``.
* :func:`reconstruct_content`: content-only reconstruction from one layer
  (Fig. 1, content row).
* :func:`synthesize_texture`: style-only reconstruction from a layer set
  (Fig. 1, style row).
* :func:`sweep`: several α/β ratios optimised at once, ``vmap`` over the
  ratios inside each compiled block (the blog's tiles).

Pixel range: ``pixel="clip"`` optimises the image itself and projects it onto
[0, 1] after each step; ``pixel="sigmoid"`` optimises logits, image =
sigmoid(logits). Init: ``"noise"`` (white noise, uniform in [0, 1], the
paper's choice), ``"content"``, ``"style"``, or an explicit ``init_image``.
Noise for seed ``s`` is drawn from ``jax.random.key(s)``. The loop form
(scan or jitted steps) is chosen per backend (:mod:`neural_art.optim`).

Memory: before any compute each scale's step is compiled and a plan chosen
from its ``memory_analysis()`` (:mod:`styletransfer.memory`; the plans are in
``Result.plans``); with several devices the image's rows are split over them
(:mod:`styletransfer.shard`). The α/β :func:`sweep` does neither (one device,
no plan).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neural_art import optim
from styletransfer import color, losses, memory, objective, shard
from styletransfer.objective import Net
from styletransfer.settings import Settings
from neural_art.errors import UserError

ADVICE = "Try a smaller learning rate or content/style weights, or --init=content."


class Result(NamedTuple):
    image: np.ndarray  # [H, W, 3] ([R, H, W, 3] for a sweep) in [0, 1]
    snapshots: np.ndarray | None  # [S, H, W, 3] ([R, S, ...]) images, or None
    losses: np.ndarray  # [steps + 1] total loss per step ([R, ...]); last scale only
    parts: dict[str, np.ndarray]  # final content/style/style/<layer>/tv/total
    plans: tuple = ()  # memory.Plan of each scale (chosen before any compute)


def _resized_state(state, hw):
    """Adam's moments of a coarser scale resized to ``hw`` (bilinear; the step count
    kept), as crowsonkb/style-transfer-pytorch carries them across scales."""
    resize = lambda a: jax.image.resize(a, (*hw, a.shape[-1]), "linear")
    return jax.tree.map(lambda a: resize(a) if a.ndim == 3 and a.shape[-1] == 3 else a, state)


def _one_scale(net: Net, s: Settings, content, styles, blend, x0, callback, plan, mesh,
               state=None):  # fmt: skip
    hw = tuple(x0.shape[:2])
    content, styles = shard.place(content, mesh), shard.place(styles, mesh)
    content_t, style_t = objective.targets(net, s, content, styles, blend, hw)
    loss = objective.loss_fn(net.cfg, s, bool(content_t), bool(style_t), plan.remat)
    opt = optim.make_optimizer(s.optimizer, s.learning_rate)
    args = (shard.place(net.params, mesh, replicate=True), shard.place(content_t, mesh),
            shard.place((style_t, objective.weights(s)), mesh, replicate=True))  # fmt: skip
    args = (*args[:2], *args[2])
    place = None if mesh is None else (lambda carry: shard.place(carry, mesh))
    x0 = shard.place(objective.from_image(x0, s.pixel), mesh)
    try:
        state = None if state is None else shard.place(_resized_state(state, hw), mesh)
        final, snaps, trace, parts, state, _ = optim.run(
            loss, x0, opt, s.steps, s.snapshot_every, project=objective.projection(s),
            loss_args=args, has_aux=True, callback=callback, place=place, init_state=state,
            advice=ADVICE,
        )  # fmt: skip
    except optim.NonFiniteLossError as e:  # hand back the last finite image, not raw params
        if e.last_good is not None:
            e.last_good = np.asarray(objective.to_image(e.last_good, s.pixel))
        raise
    snaps = None if snaps is None else objective.to_image(snaps, s.pixel)
    return objective.to_image(final, s.pixel), snaps, trace, parts, state


def color_mode(s: Settings) -> str:
    """``s.color``, with ``original_colors`` meaning ``luminance``."""
    return "luminance" if s.original_colors else s.color


def plans(net: Net, s: Settings, sizes, has_content: bool, n_styles: int, mesh) -> list:
    """The memory plan of every scale (compiled, not run), before any compute;
    ``s.max_size`` refuses a larger last scale, saying what it would need."""
    out = [memory.choose(net, s, hw, has_content=has_content, n_styles=n_styles, mesh=mesh)
           for hw in sizes]  # fmt: skip
    h, w = sizes[-1]
    if s.max_size is not None and max(h, w) > s.max_size:
        raise UserError(
            f"--max_size={s.max_size}: the output would be {w}x{h}; the style step needs "
            f"{memory.fmt(out[-1].peak_bytes)} per device there (remat={out[-1].remat}, "
            f"{s.precision}). Pass --size={s.max_size} to downscale or raise --max_size"
        )
    return out


def _recolor(mode: str, x, source):
    """Each scale's result with the content's colours (``luminance``: its I and Q;
    ``histogram``: its colour mean and covariance)."""
    if mode == "luminance":
        return color.with_colors_of(x, source)
    if mode == "histogram":
        return color.match_histogram(x, source)
    return x


def _run(net: Net, s: Settings, content, styles, blend, init_image, hw, callback=None,
         on_scale=None) -> Result:  # fmt: skip
    content = None if content is None else jnp.asarray(content, jnp.float32)
    styles = [jnp.asarray(x, jnp.float32) for x in (styles or [])]
    mode, color_source = color_mode(s), content
    if mode != "none" and content is None:
        raise UserError(f"--color={mode} needs a content image")
    sizes = color.scale_sizes(hw, s.scales)
    mesh = shard.mesh(s.devices)
    scale_plans = plans(net, s, sizes, content is not None, len(styles), mesh)
    if mode == "luminance":
        styles = [color.match_luminance(x, content) for x in styles]
        content = color.luminance(content)
    elif mode == "histogram":
        styles = [color.match_histogram(x, content) for x in styles]
    x = objective.initial_image(s, sizes[0], content, styles, init_image)
    if mode == "luminance" and (init_image is not None or s.init != "noise"):
        x = color.luminance(x)
    state = None  # Adam's state carries over to the next scale; L-BFGS restarts
    for k, (size, plan) in enumerate(zip(sizes, scale_plans, strict=True)):
        c = None if content is None else color.resize(content, size)
        x, snaps, trace, parts, state = _one_scale(
            net, s, c, styles, blend, color.resize(x, size), callback, plan, mesh, state
        )
        state = state if s.optimizer == "adam" else None
        shown = x
        if mode != "none":
            cs = color.resize(color_source, x.shape[:2])
            shown = _recolor(mode, x, cs)
            x = shown if mode == "histogram" else x  # luminance: the next scale stays grey
            if snaps is not None:
                snaps = jax.vmap(lambda im, cs=cs: _recolor(mode, im, cs))(snaps)
        if on_scale is not None and k < len(sizes) - 1:
            on_scale(k, np.asarray(shown))
    return Result(
        np.asarray(shown),
        None if snaps is None else np.asarray(snaps),
        np.asarray(trace),
        {k: np.asarray(v) for k, v in parts.items()},
        tuple(scale_plans),
    )


def stylize(
    net: Net,
    content,
    styles: Sequence,
    settings: Settings = Settings(),
    *,
    blend: Sequence[float] | None = None,
    init_image=None,
    callback: Callable | None = None,
    on_scale: Callable | None = None,
) -> Result:
    """Full transfer: content of ``content``, style of ``styles`` (blended by ``blend``).

    The output has the content image's size (the last of ``settings.scales``
    sets the longer side if given). Style Gram targets are rescaled to the
    output's number of positions, so style images may have any size.
    ``callback(step, loss)``: progress (:func:`neural_art.optim.run`);
    ``on_scale(k, image)``: each scale's result but the last, as it finishes
    (with ``settings.color`` applied)."""
    if not styles:
        raise UserError("stylize needs at least one style image")
    content = jnp.asarray(content, jnp.float32)
    hw = content.shape[:2]
    return _run(net, settings, content, styles, blend, init_image, hw, callback, on_scale)


def reconstruct_content(
    net: Net, image, layer: str = "conv4_2", settings: Settings = Settings(), **kw
) -> Result:
    """Content-only reconstruction from ``layer`` (Gatys Fig. 1, content row)."""
    s = settings.replace(content_layers=(layer,), content_weight=1.0, style_weight=0.0)
    image = jnp.asarray(image, jnp.float32)
    return _run(net, s, image, [], None, kw.get("init_image"), image.shape[:2], kw.get("callback"),
                kw.get("on_scale"))  # fmt: skip


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
    s = settings.replace(style_layers=tuple(layers), content_weight=0.0, style_weight=1.0)
    if s.style_layer_weights is not None and len(s.style_layer_weights) != len(layers):
        s = s.replace(style_layer_weights=None)
    hw = tuple(size) if size else jnp.asarray(styles[0]).shape[:2]
    return _run(net, s, None, styles, styles_blend, kw.get("init_image"), hw, kw.get("callback"),
                kw.get("on_scale"))  # fmt: skip


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
    """α/β sweep: for each ratio ``r`` optimises with ``α = r * β``
    (``β = settings.style_weight``), all ratios vmapped in each compiled block.
    Every run starts from the same init. Returns images ``[R, H, W, 3]``.

    (No multi-scale or original colours here; run :func:`stylize` per ratio.)"""
    s = settings
    content = jnp.asarray(content, jnp.float32)
    styles = [jnp.asarray(x, jnp.float32) for x in styles]
    hw = tuple(content.shape[:2])
    content_t, style_t = objective.targets(net, s, content, styles, blend, hw)
    loss = objective.loss_fn(net.cfg, s, True, True)
    opt = optim.make_optimizer(s.optimizer, s.learning_rate)
    w = jnp.stack([objective.weights(s, content_weight=r * s.style_weight) for r in ratios])
    x0 = objective.from_image(objective.initial_image(s, hw, content, styles, init_image), s.pixel)
    x0 = jnp.broadcast_to(x0, (len(ratios), *x0.shape))
    try:
        out = optim.run(
            loss, x0, opt, s.steps, s.snapshot_every, project=objective.projection(s),
            loss_args=(net.params, content_t, style_t, w), has_aux=True,
            batch_axes=(None, None, None, 0), where=" in the α/β sweep", advice=ADVICE,
        )  # fmt: skip
    except optim.NonFiniteLossError as e:
        e.last_good = np.asarray(objective.to_image(e.last_good, s.pixel))
        raise
    snaps = (
        None if out.snapshots is None else np.asarray(objective.to_image(out.snapshots, s.pixel))
    )
    return Result(
        np.asarray(objective.to_image(out.params, s.pixel)),
        snaps,
        np.asarray(out.losses),
        {k: np.asarray(v) for k, v in out.aux.items()},
    )


def psnr(a, b) -> float:
    """PSNR in dB of two images in [0, 1]."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)
