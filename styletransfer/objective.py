"""The pieces of the objective a run optimises: pixel parameterisation, VGG
features, Gatys's loss (eq. 7) as one function of the image, its targets, the
initial image.

``loss_fn(cfg, settings, has_content, has_style)`` returns
``loss(x, vgg_params, content_targets, style_targets, weights[3]) -> (total, parts)``
with ``weights = (α, β, tv_weight)`` as a traced argument, so changing the
weights never recompiles. Images are ``[H, W, 3]`` float in [0, 1].
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from neural_art import optim
from styletransfer import color, losses, remat, vgg
from styletransfer.settings import Settings
from neural_art.errors import UserError


class Net(NamedTuple):
    """A frozen VGG: config + params."""

    cfg: vgg.VGGConfig
    params: Any


def to_image(params: jax.Array, pixel: str) -> jax.Array:
    """The image a parameter array stands for (``clip``: itself; ``sigmoid``: sigmoid)."""
    if pixel == "clip":
        return params
    if pixel == "sigmoid":
        return jax.nn.sigmoid(params)
    raise UserError(f"pixel must be 'clip' or 'sigmoid', got {pixel!r}")


def from_image(image: jax.Array, pixel: str) -> jax.Array:
    """Inverse of :func:`to_image` (clipped into its domain)."""
    if pixel == "clip":
        return jnp.clip(image, 0.0, 1.0)
    if pixel == "sigmoid":
        x = jnp.clip(image, 1e-3, 1 - 1e-3)
        return jnp.log(x) - jnp.log1p(-x)
    raise UserError(f"pixel must be 'clip' or 'sigmoid', got {pixel!r}")


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _features(cfg, params, layers, pooling, image):
    return vgg.apply(cfg, params, image[None], layers, pooling=pooling)[1]


def features(net: Net, image, layers: Sequence[str], pooling: str = "avg") -> dict:
    """VGG features of one ``[H, W, 3]`` image (batch axis of 1 kept)."""
    return _features(net.cfg, net.params, tuple(layers), pooling, jnp.asarray(image, jnp.float32))


def loss_fn(
    cfg: vgg.VGGConfig, s: Settings, has_content: bool, has_style: bool, plan: str = "none"
) -> Callable:
    """``loss(x, vgg_params, content_t, style_t, weights[3]) -> (total, parts)``.

    ``plan``: the VGG forward's rematerialisation (:mod:`styletransfer.remat`);
    ``s.precision``: the activations' dtype (losses are summed in float32).
    Cached on the loss-relevant settings only (not α, β, steps...), so
    :func:`optim.run` reuses its compiled programs across those."""
    key = Settings(
        content_layers=s.content_layers,
        style_layers=s.style_layers,
        style_layer_weights=s.style_layer_weights,
        pooling=s.pooling,
        pixel=s.pixel,
        precision=s.precision,
    )
    return _loss_fn_cached(cfg, key, has_content, has_style, plan)


@functools.lru_cache(maxsize=64)
def _loss_fn_cached(cfg: vgg.VGGConfig, s: Settings, has_content: bool, has_style: bool,
                    plan: str):  # fmt: skip
    c_layers = s.content_layers if has_content else ()
    s_layers = s.style_layers if has_style else ()
    layers = losses.required_layers(c_layers, s_layers)

    def loss(x, vgg_params, content_t, style_t, weights):
        img = to_image(x, s.pixel)[None]
        act = img.astype(jnp.dtype(s.precision))
        feats = remat.features(cfg, vgg_params, act, layers, pooling=s.pooling, remat=plan)
        feats = {k: v.astype(jnp.float32) for k, v in feats.items()}
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

    return loss


def projection(s: Settings):
    """The box projection of ``pixel="clip"`` (None for ``sigmoid``)."""
    return optim.clip(0.0, 1.0) if s.pixel == "clip" else None


def targets(net: Net, s: Settings, content, styles, blend, hw) -> tuple[dict, dict]:
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


def initial_image(s: Settings, hw, content, styles, init_image=None) -> jax.Array:
    """The start: ``init_image`` resized if given, else ``s.init`` (noise from ``key(s.seed)``)."""
    if init_image is not None:
        return color.resize(init_image, hw)
    if s.init == "noise":
        return jax.random.uniform(jax.random.key(s.seed), (*hw, 3), jnp.float32)
    if s.init == "content":
        if content is None:
            raise UserError("init='content' needs a content image")
        return color.resize(content, hw)
    if s.init == "style":
        if not styles:
            raise UserError("init='style' needs a style image")
        return color.resize(styles[0], hw)
    raise UserError(f"init must be 'noise', 'content' or 'style', got {s.init!r}")


def weights(s: Settings, content_weight: float | None = None) -> jax.Array:
    """``[α, β, tv_weight]`` (``content_weight`` overrides α)."""
    a = s.content_weight if content_weight is None else content_weight
    return jnp.asarray([a, s.style_weight, s.tv_weight], jnp.float32)
