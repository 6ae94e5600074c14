"""Frozen feature extractors for featvis: ``Model(apply, params)`` factories.

``apply(params, images [B, H, W, 3] in [0, 1]) -> (logits_or_None, features)``.
VGG-16 (default) and VGG-19 come from :mod:`styletransfer.vgg`; ``toy`` is
:mod:`featvis.toy` (tests, ``--smoke``). Any function with that contract
works (e.g. a DCGAN discriminator wrapped to return its activations).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import jax

from featvis import toy as _toy
from featvis.render import Model


def _vgg_apply(cfg, layers, pooling, params, images):
    from styletransfer import vgg

    return vgg.apply(cfg, params, images, layers, pooling=pooling)


def vgg(
    weights: str = "vgg16",
    layers: Iterable[str] = ("fc8",),
    *,
    seed: int = 0,
    pooling: str = "max",
) -> Model:
    """VGG through ``styletransfer.vgg.load(weights)``: ``vgg16``, ``vgg19``, a
    converted directory or ``.pth``, or ``random:vgg16`` (random weights, ``seed``).
    Computation stops at the deepest of ``layers``."""
    from styletransfer import vgg as _vgg

    cfg, params = _vgg.load(weights, seed=seed, head=True)
    return vgg_from(cfg, params, layers, pooling=pooling)


def vgg_from(cfg, params, layers: Iterable[str], *, pooling: str = "max") -> Model:
    layers = tuple(sorted(set(layers)))
    return Model(functools.partial(_vgg_apply, cfg, layers, pooling), params)


def toy(seed: int = 0, **kw) -> Model:
    """The tiny test classifier of :mod:`featvis.toy` (10 classes by default)."""
    return Model(_toy.apply, _toy.init_params(jax.random.key(seed), **kw))
