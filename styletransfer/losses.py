"""Gatys, Ecker & Bethge, "A Neural Algorithm of Artistic Style" (2015): the losses.

Features are NHWC maps ``[B, H, W, N_l]`` (or ``[H, W, N_l]``) as returned by
:func:`styletransfer.vgg.apply`; in the paper's notation ``F^l`` is the
``N_l x M_l`` matrix with ``M_l = H * W``.

* content (eq. 1):  ``L_content = 1/2 sum_ij (F^l_ij - P^l_ij)^2``
* Gram:            ``G^l_ij = sum_k F^l_ik F^l_jk``
* style layer (eq. 4): ``E_l = sum_ij (G^l_ij - A^l_ij)^2 / (4 N_l^2 M_l^2)``
* style (eq. 5):   ``L_style = sum_l w_l E_l``
* total (eq. 7):   ``alpha L_content + beta L_style`` (+ ``tv_weight * TV``)

Factories return closures, optax style::

    targets = losses.targets(feats_content, feats_style)        # dicts of P^l and A^l
    loss = losses.gatys(targets, alpha=1.0, beta=1e3)
    total, parts = loss(features_of_x, x)                         # parts: content, style, style/<layer>, tv

Batch: a leading batch axis is summed over (each image is its own sum).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
from neural_art.errors import UserError

# Gatys et al. 2015, Fig. 2/3 captions: content conv4_2; style conv1_1..conv5_1, w_l = 1/5.
CONTENT_LAYERS = ("conv4_2",)
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")

_HI = jax.lax.Precision.HIGHEST


def gram(features: jax.Array) -> jax.Array:
    """``G_ij = sum_k F_ik F_jk`` (unnormalised) of ``[..., H, W, N]`` -> ``[..., N, N]``."""
    f = features.reshape(*features.shape[:-3], -1, features.shape[-1])
    return jnp.einsum("...ki,...kj->...ij", f, f, precision=_HI)


def content_layer_loss(f: jax.Array, p: jax.Array) -> jax.Array:
    """Eq. (1): ``1/2 sum (F - P)^2``."""
    return 0.5 * jnp.sum(jnp.square(f - p))


def style_layer_loss(f: jax.Array, a: jax.Array) -> jax.Array:
    """Eq. (4): ``E_l = sum (G - A)^2 / (4 N^2 M^2)`` with ``G = gram(f)``, ``A`` a Gram target.

    ``f``: ``[..., H, W, N]``; ``a``: ``[..., N, N]`` (broadcasts over the batch).
    Summed over a leading batch axis."""
    n = f.shape[-1]
    m = f.shape[-3] * f.shape[-2]
    g = gram(f)
    return jnp.sum(jnp.square(g - a)) / (4.0 * n**2 * m**2)


def _weights(layers: Sequence[str], weights) -> dict[str, float]:
    if weights is None:
        return {name: 1.0 / len(layers) for name in layers}
    if isinstance(weights, Mapping):
        return {name: weights[name] for name in layers}
    weights = tuple(weights)
    if len(weights) != len(layers):
        raise UserError(f"{len(weights)} weights for {len(layers)} layers {tuple(layers)}")
    return dict(zip(layers, weights, strict=True))


def content_loss(
    targets: Mapping[str, jax.Array],
    layers: Sequence[str] = CONTENT_LAYERS,
    weights: Sequence[float] | Mapping[str, float] | None = None,
) -> Callable[[Mapping[str, jax.Array]], jax.Array]:
    """``features -> sum_l w_l * 1/2 sum (F^l - P^l)^2`` (eq. 1; default one layer, w = 1).

    ``targets``: ``{layer: P^l}`` content features of the photograph."""
    layers = tuple(layers)
    w = _weights(layers, weights) if weights is not None else dict.fromkeys(layers, 1.0)
    p = {name: targets[name] for name in layers}

    def loss(features):
        return sum(w[n] * content_layer_loss(features[n], p[n]) for n in layers)

    return loss


def style_layer_losses(
    targets: Mapping[str, jax.Array], layers: Sequence[str] = STYLE_LAYERS
) -> Callable[[Mapping[str, jax.Array]], dict[str, jax.Array]]:
    """``features -> {layer: E_l}`` (eq. 4). ``targets``: ``{layer: A^l}`` Gram matrices."""
    layers = tuple(layers)
    a = {name: targets[name] for name in layers}

    def losses(features):
        return {n: style_layer_loss(features[n], a[n]) for n in layers}

    return losses


def style_loss(
    targets: Mapping[str, jax.Array],
    layers: Sequence[str] = STYLE_LAYERS,
    weights: Sequence[float] | Mapping[str, float] | None = None,
) -> Callable[[Mapping[str, jax.Array]], jax.Array]:
    """``features -> sum_l w_l E_l`` (eq. 5; default ``w_l = 1/len(layers)``)."""
    layers = tuple(layers)
    w = _weights(layers, weights)
    per_layer = style_layer_losses(targets, layers)

    def loss(features):
        e = per_layer(features)
        return sum(w[n] * e[n] for n in layers)

    return loss


def total_variation(images: jax.Array) -> jax.Array:
    """Anisotropic squared TV ``sum (x[i+1,j]-x[i,j])^2 + (x[i,j+1]-x[i,j])^2`` of ``[..., H, W, C]``."""
    dh = images[..., 1:, :, :] - images[..., :-1, :, :]
    dw = images[..., :, 1:, :] - images[..., :, :-1, :]
    return jnp.sum(jnp.square(dh)) + jnp.sum(jnp.square(dw))


def style_targets(
    style_features: Sequence[Mapping[str, jax.Array]] | Mapping[str, jax.Array],
    layers: Sequence[str] = STYLE_LAYERS,
    blend: Sequence[float] | None = None,
    *,
    num_positions: Mapping[str, int] | None = None,
) -> dict[str, jax.Array]:
    """Gram targets ``A^l`` of one or several style images.

    Several styles are blended as ``A^l = sum_k b_k A^l_k`` with ``b`` normalised
    to sum 1 (as jcjohnson/neural-style's ``-style_blend_weights``).

    Args:
      style_features: one ``{layer: [1, H, W, N] or [H, W, N]}`` dict per style image.
      layers: style layers.
      blend: one weight per style image (default equal).
      num_positions: ``{layer: M_l}`` of the image being generated. A Gram
        grows with the number of positions ``M``; when the style image's
        size differs from the output's, each ``A^l_k`` is rescaled by
        ``M_l / M_l(style k)`` so that eq. (4) compares like with like. None:
        no rescaling (the paper's setting: equal sizes).
    """
    if isinstance(style_features, Mapping):
        style_features = [style_features]
    k = len(style_features)
    b = jnp.ones(k) / k if blend is None else jnp.asarray(blend, jnp.float32)
    if b.shape != (k,):
        raise UserError(f"{b.shape[0]} blend weights for {k} style images")
    b = b / jnp.sum(b)
    out = {}
    for name in layers:
        acc = 0.0
        for i, feats in enumerate(style_features):
            f = feats[name]
            f = f.reshape(f.shape[-3:])
            g = gram(f)
            if num_positions is not None:
                g = g * (num_positions[name] / (f.shape[0] * f.shape[1]))
            acc = acc + b[i] * g
        out[name] = acc
    return out


def style_representation(
    features: Mapping[str, jax.Array],
    layers: Sequence[str] = STYLE_LAYERS,
    *,
    normalize: bool = True,
) -> jax.Array:
    """Gatys's style representation as one vector (the blog reader's question).

    The Gram matrices of ``layers`` are flattened row by row and concatenated
    in the given order. With ``normalize`` each ``G^l`` is divided by ``M_l``
    (``H*W``), so images of different sizes are comparable. ``features`` per
    layer ``[H, W, N]`` -> ``[sum_l N_l^2]``; with a batch axis ``[B, ...]`` ->
    ``[B, sum_l N_l^2]``."""
    parts = []
    for name in layers:
        f = features[name]
        g = gram(f)
        if normalize:
            g = g / (f.shape[-3] * f.shape[-2])
        parts.append(g.reshape(*g.shape[:-2], -1))
    return jnp.concatenate(parts, axis=-1)


def gatys(
    content: Mapping[str, jax.Array] | None,
    style: Mapping[str, jax.Array] | None,
    *,
    alpha: float | jax.Array = 1.0,
    beta: float | jax.Array = 1e3,
    tv_weight: float | jax.Array = 0.0,
    content_layers: Sequence[str] = CONTENT_LAYERS,
    style_layers: Sequence[str] = STYLE_LAYERS,
    content_weights: Sequence[float] | None = None,
    style_weights: Sequence[float] | None = None,
) -> Callable[[Mapping[str, jax.Array], jax.Array | None], tuple[jax.Array, dict]]:
    """Eq. (7): ``(features, image) -> (alpha L_content + beta L_style + tv * TV, parts)``.

    ``content``: ``{layer: P^l}`` (None: no content term); ``style``:
    ``{layer: A^l}`` Gram targets, e.g. from :func:`style_targets` (None: no
    style term). ``alpha``/``beta``/``tv_weight`` may be traced arrays (the
    α/β sweep vmaps over them). ``parts`` holds ``content``, ``style``,
    ``style/<layer>`` (unweighted ``E_l``), ``tv`` and ``total``."""
    c_fn = content_loss(content, content_layers, content_weights) if content is not None else None
    s_layers = tuple(style_layers)
    w = _weights(s_layers, style_weights)
    e_fn = style_layer_losses(style, s_layers) if style is not None else None

    def loss(features, image=None):
        zero = jnp.zeros((), jnp.float32)
        parts = {"content": c_fn(features) if c_fn is not None else zero}
        if e_fn is not None:
            e = e_fn(features)
            parts.update({f"style/{n}": v for n, v in e.items()})
            parts["style"] = sum(w[n] * e[n] for n in s_layers)
        else:
            parts["style"] = zero
        parts["tv"] = total_variation(image) if image is not None else zero
        total = alpha * parts["content"] + beta * parts["style"] + tv_weight * parts["tv"]
        parts["total"] = total
        return total, parts

    return loss


def required_layers(
    content_layers: Sequence[str] = (), style_layers: Sequence[str] = ()
) -> tuple[str, ...]:
    """The union of layer names, order-stable (for :func:`styletransfer.vgg.apply`)."""
    return tuple(dict.fromkeys((*content_layers, *style_layers)))
