"""VGG-feature scores for curating generator sweeps (issue 13), as ``--score_with`` hooks.

    python -m biggan_jax --weights=biggan-deep-256 --seeds=0-99 --out_dir=out/s \\
        --score_with=styletransfer.scores:vgg_departure --score_weights=vgg16

The generator packages never import this module (peers in the package graph);
the sweep CLIs import it by name at run time (:func:`neural_art.scores.load_score`).
:func:`vgg_departure` is a *factory*: called once with ``--score_weights`` before
any compute, it loads VGG and returns ``score(images, reference)``, the departure
of a network's images from θ*'s images of the same latents in VGG feature space:

    d(x, x₀) = Σ_{l ∈ S} 1/(H_l·W_l) Σ_{h,w} ‖ f̂_l(x)_{hw} − f̂_l(x₀)_{hw} ‖²,
    f̂_l = f_l / (‖f_l‖₂ + 10⁻¹⁰)  (unit length over the channels at each position),

with ``S = relu1_2, relu2_2, relu3_3, relu4_3, relu5_3`` (torchvision / Gatys
layer names): eq. (1) of Zhang et al., "The unreasonable effectiveness of deep
features as a perceptual metric" (CVPR 2018, LPIPS) on VGG's layers with every
channel weight w_l = 1, i.e. no learned calibration (this is not the learned
LPIPS). Each layer's term lies in [0, 4]; d = 0 exactly when the features agree.
The network's score is the mean of d over its rows (latents). Images are used at
their own size (at least 16 px: relu5_3 is 1/16 of it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from styletransfer import hub, vggnet
from neural_art.errors import UserError

LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
EPS = 1e-10  # as LPIPS's normalize_tensor


def unit_features(cfg: vggnet.VGGConfig, params, images: jax.Array, layers: Sequence[str]) -> dict:
    """``images [B, H, W, 3]`` in [-1, 1] -> ``{layer: f̂ [B, h, w, C]}``, unit length over C."""
    feats = vggnet.apply(cfg, params, (jnp.asarray(images, jnp.float32) + 1.0) * 0.5, layers)[1]
    return {k: f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + EPS) for k, f in feats.items()}


def feature_distance(fa: dict, fb: dict) -> jax.Array:
    """``d`` of the module docstring per image: ``[B]`` from two :func:`unit_features`."""
    return sum(jnp.mean(jnp.sum((fa[k] - fb[k]) ** 2, axis=-1), axis=(1, 2)) for k in fa)


def vgg_departure(weights: str = "vgg16", *, layers: Sequence[str] = LAYERS) -> Callable:
    """Factory of the VGG departure score (module docstring). ``weights``: the
    :func:`styletransfer.hub.load` grammar (``vgg16``, ``vgg19``, a converted dir, a
    ``.pth``, ``random:vgg16``). Returns ``score(images, reference) -> scalar``, both
    ``[L, H, W, 3]`` in [-1, 1]; θ*'s features are computed once per reference array."""
    cfg, params = hub.load(weights, head=False)
    unknown = [n for n in layers if n not in cfg.layer_names]
    if unknown:
        raise UserError(f"{cfg.name} has no layer {unknown[0]!r}")
    params = {k: v for k, v in params.items() if k in cfg.conv_names}  # the head is not needed
    feats = jax.jit(lambda p, x: unit_features(cfg, p, x, tuple(layers)))
    dist = jax.jit(lambda fa, fb: jnp.mean(feature_distance(fa, fb)))
    kept: list = []  # [reference, its features]: the same θ* for every network of a sweep

    def vgg_departure(images, reference):
        if not kept or kept[0] is not reference:
            kept[:] = [reference, feats(params, reference)]
        return dist(feats(params, images), kept[1])

    return vgg_departure
