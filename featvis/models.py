"""Frozen feature extractors for featvis: ``Model(apply, params)`` factories.

``apply(params, images [B, H, W, 3] in [0, 1]) -> (logits_or_None, features)``.
VGG-16 (default) and VGG-19 come from :mod:`styletransfer.vgg`;
:func:`dcgan_discriminator` wraps a DCGAN's D (default: the embedded model);
``toy`` is :mod:`featvis.toy` (tests, ``--smoke``). Any function with that
contract works.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable

import jax

import dcgan
from dcgan.model import Discriminator
from featvis import toy as _toy
from featvis.render import Model
from styletransfer import vgg as _vgg
from neural_art.errors import UserError


@dataclasses.dataclass(frozen=True)
class VGGApply:
    """``apply(params, images)`` of a VGG model; equal (so one compiled program)
    for equal ``cfg``, ``layers``, ``pooling``, however often it is built."""

    cfg: _vgg.VGGConfig
    layers: tuple[str, ...]
    pooling: str = "max"

    def __call__(self, params, images):
        return _vgg.apply(self.cfg, params, images, self.layers, pooling=self.pooling)

    def fold(self, params, image_hw) -> Model:
        """The model for ``image_hw`` inputs, fc6 folded (``styletransfer.vgg.fold_head``)."""
        cfg, params = _vgg.fold_head(self.cfg, params, image_hw)
        return Model(dataclasses.replace(self, cfg=cfg), params)


def vgg_weights(weights: str | None, model: str = "vgg16") -> str:
    """The ``styletransfer.vgg.load`` spec for a CLI's ``--weights`` and ``--model``:
    ``None`` -> the ``model`` release, ``random`` -> ``random:<model>``."""
    if not weights:
        return model
    return f"random:{model}" if weights == "random" else weights


def vgg(
    weights: str = "vgg16",
    layers: Iterable[str] = ("fc8",),
    *,
    seed: int = 0,
    pooling: str = "max",
) -> Model:
    """VGG through ``styletransfer.vgg.load(weights)``: a release of
    :data:`styletransfer.hub.RELEASES` (``vgg16``, ``vgg19``, ``vgg16-caffe``,
    ``vgg19-caffe``, ``vgg19-gatys``: conv layers only, no class targets), a
    converted directory or ``.pth``, or ``random:vgg16`` (random weights, ``seed``).
    Computation stops at the deepest of ``layers``."""
    cfg, params = _vgg.load(weights, seed=seed, head=True)
    return vgg_from(cfg, params, layers, pooling=pooling)


def vgg_from(cfg, params, layers: Iterable[str], *, pooling: str = "max") -> Model:
    apply = VGGApply(cfg, tuple(sorted(set(layers))), pooling)
    head = any(name in _vgg.HEAD_LAYERS for name in apply.layers)
    return Model(apply, params, apply.fold if head else None)


def toy(seed: int = 0, **kw) -> Model:
    """The tiny test classifier of :mod:`featvis.toy` (10 classes by default)."""
    return Model(_toy.apply, _toy.init_params(jax.random.key(seed), **kw))


def _dcgan_d_apply(cfg, params, images):
    x = images * 2.0 - 1.0  # featvis images are in [0, 1]; D was trained on [-1, 1]
    if cfg.nc == 1:
        x = x.mean(-1, keepdims=True)
    if x.shape[1:3] != (cfg.resolution, cfg.resolution):
        shape = (x.shape[0], cfg.resolution, cfg.resolution, cfg.nc)
        x = jax.image.resize(x, shape, "linear", antialias=True)
    logit, feats = Discriminator(cfg).apply(params, x, train=False)
    logits = logit[:, None]
    return logits, {**feats, "fc8": logits}


def dcgan_discriminator(weights: str | None = None) -> Model:
    """A DCGAN discriminator (inference-mode BN) as a featvis model: exported
    weights (``python -m dcgan.export``) or, by default, the embedded model.

    Features: ``conv0`` .. ``conv{n-1}`` (post-LeakyReLU maps, the seed's
    deconvnet targets) and its one logit as "class 0" (under ``fc8``, the key
    class objectives read: maximising it makes D call the image real). Images of
    another size are resized to D's resolution inside; colour is averaged for
    one-channel models."""
    cfg, params = dcgan.load(weights) if weights else dcgan.load()
    d_vars = params["discriminator"]
    if not d_vars:
        raise UserError(f"{weights or 'the embedded model'}: no discriminator weights")
    return Model(functools.partial(_dcgan_d_apply, cfg), d_vars)
