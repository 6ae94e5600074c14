"""The input convention of a VGG's weights: what a network expects to see.

Every VGG here takes ``images`` ``[B, H, W, 3]`` RGB in [0, 1]; the weights'
convention turns them into what the first conv was trained on (:func:`preprocess`):
``x = (flip(images) * scale - mean) / std``, ``flip`` reversing the channels for
BGR networks. Two families exist:

* ``torchvision`` -- torchvision's ``vgg16`` / ``vgg19`` (``IMAGENET1K_V1``):
  RGB in [0, 1], ImageNet mean/std (the ``torchvision.transforms`` docs);
* ``caffe`` -- the Oxford VGG Caffe release (and every conversion of it:
  jcjohnson's ``vgg19-d01eb7cb.pth``, Gatys et al.'s ``vgg_conv.pth``, Keras'
  ``VGG16(weights="imagenet")``): BGR, x255, minus the BGR pixel mean
  (103.939, 116.779, 123.68), no std.

A converted directory records its convention in ``metadata.json``
(:meth:`Preprocessing.to_dict`); :attr:`styletransfer.vggnet.VGGConfig.preprocessing`
carries it to :func:`styletransfer.vggnet.apply`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import jax.numpy as jnp

from neural_art.errors import UserError

# torchvision's ImageNet normalisation (torchvision.transforms docs / the
# ``IMAGENET1K_V1`` weights' transforms).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The Caffe VGG models' mean pixel in BGR order (the VGG_ILSVRC_19_layers
# deploy notes; jcjohnson/neural-style and Keras' ``preprocess_input(mode="caffe")``).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """``x = (images[..., order] * scale - mean) / std``.

    Attributes:
      name: the family (``torchvision`` / ``caffe``).
      channels: ``"RGB"`` or ``"BGR"``: the first conv's input channel order.
      scale: the pixel range's top (1 or 255).
      mean, std: per channel, in the network's channel order, after scaling.
    """

    name: str
    channels: str
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def to_dict(self) -> dict:
        return {"name": self.name, "channels": self.channels, "scale": self.scale,
                "mean": list(self.mean), "std": list(self.std)}  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping, *, source: str = "metadata") -> Preprocessing:
        """The inverse of :meth:`to_dict`; raises :class:`UserError` naming ``source``."""
        try:
            mean, std = tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"])
            p = cls(str(d["name"]), str(d["channels"]), float(d["scale"]), mean, std)
        except (KeyError, TypeError, ValueError) as e:
            msg = f"{source}: 'preprocessing' is not a valid input convention ({e!r})"
            raise UserError(msg) from None
        if p.channels not in ("RGB", "BGR") or len(p.mean) != 3 or len(p.std) != 3 or 0 in p.std:
            raise UserError(f"{source}: 'preprocessing' {d} needs channels RGB/BGR, 3 means and "
                            "3 non-zero stds")  # fmt: skip
        return p


TORCHVISION = Preprocessing("torchvision", "RGB", 1.0, IMAGENET_MEAN, IMAGENET_STD)
CAFFE = Preprocessing("caffe", "BGR", 255.0, CAFFE_MEAN_BGR, (1.0, 1.0, 1.0))
FAMILIES: dict[str, Preprocessing] = {"torchvision": TORCHVISION, "caffe": CAFFE}


def get(name: str) -> Preprocessing:
    """The family ``name`` (:data:`FAMILIES`); :class:`UserError` otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise UserError(f"unknown preprocessing {name!r}; known: {', '.join(FAMILIES)}") from None


def preprocess(prep: Preprocessing, images: jax.Array) -> jax.Array:
    """``[..., 3]`` RGB in [0, 1] -> the network's input (in ``images``' dtype)."""
    x = images[..., ::-1] if prep.channels == "BGR" else images
    mean = jnp.asarray(prep.mean, images.dtype)
    std = jnp.asarray(prep.std, images.dtype)
    if prep.scale != 1.0:
        x = x * jnp.asarray(prep.scale, images.dtype)
    return (x - mean) / std
