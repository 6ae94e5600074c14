"""The project's VGG as a feature network for packages below :mod:`styletransfer`.

The package graph (tests/test_architecture.py) lets a model package import the
core only, so a trainer that wants VGG features (:mod:`dcgan.evaluate`'s
fallback when the FID Inception is unavailable) cannot call
:func:`styletransfer.vggnet.apply`. This module reads the same converted
directories (``metadata.json`` + orbax ``params``, written by
:mod:`weights_convert.vgg`, e.g. the ``vgg19`` release once converted into the
cache as ``$NEURAL_ART_JAX_CACHE/vgg19-flax``) and runs the same convolutional
part: 3x3 convs with padding 1, ReLU, 2x2 stride-2 max pooling
(:func:`neural_art.pooling.max_pool_2x2`), the weights' input convention from
their metadata. tests/test_dcgan_eval_features.py checks it equals
``styletransfer.vggnet.apply`` feature for feature, and that
:func:`release_dir` is ``styletransfer.hub.release_dir``.

Only the conv part: the classifier head (fc6..fc8) is not read. Nothing is
fetched or converted here (no network, no torch): weights that are not already
converted are simply unavailable (:func:`cached_release` returns None).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re

import jax
import jax.numpy as jnp

from neural_art import pooling, store
from neural_art.errors import UserError
from neural_art.fetch import cache_dir

# Simonyan & Zisserman Table 1, configurations D (VGG-16) and E (VGG-19): 3x3 convs
# per block (as styletransfer.vggnet.CONFIGS).
CONVS_PER_BLOCK = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
# torchvision's ImageNet mean/std: the convention of metadata that records none
# (styletransfer.preprocessing.TORCHVISION).
_TORCHVISION = {"channels": "RGB", "scale": 1.0, "mean": (0.485, 0.456, 0.406),
                "std": (0.229, 0.224, 0.225)}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class VGGFeatureNet:
    """A converted VGG's conv part: ``name`` as saved (``vgg19``, or ``vgg19-w8`` for
    a narrow test network), convs per block, and the input convention
    ``x = (images[..., order] * scale - mean) / std``."""

    name: str
    convs_per_block: tuple[int, ...]
    channels: str = "RGB"
    scale: float = 1.0
    mean: tuple[float, ...] = _TORCHVISION["mean"]
    std: tuple[float, ...] = _TORCHVISION["std"]

    @property
    def layer_names(self) -> tuple[str, ...]:
        """``convB_L``, ``reluB_L``, ``poolB`` in forward order (styletransfer's keys)."""
        return block_layer_names(self.convs_per_block)


def block_layer_names(convs_per_block: tuple[int, ...]) -> tuple[str, ...]:
    """A VGG's convolutional feature keys in forward order: ``conv1_1``, ``relu1_1``,
    ..., ``pool1``, ``conv2_1``, ... (the names of the Caffe/torchvision releases)."""
    out = []
    for b, n in enumerate(convs_per_block):
        for i in range(n):
            out += [f"conv{b + 1}_{i + 1}", f"relu{b + 1}_{i + 1}"]
        out.append(f"pool{b + 1}")
    return tuple(out)


def release_dir(name: str = "vgg19", cache: str | os.PathLike | None = None) -> pathlib.Path:
    """Where release ``name`` lies once converted (``styletransfer.hub.release_dir``)."""
    return cache_dir(cache) / f"{name}-flax"


def cached_release(name: str = "vgg19",
                   cache: str | os.PathLike | None = None) -> pathlib.Path | None:  # fmt: skip
    """The converted release's directory if it is in the cache, else None."""
    d = release_dir(name, cache)
    return d if (d / "metadata.json").is_file() else None


def load(path: str | os.PathLike) -> tuple[VGGFeatureNet, dict]:
    """``(net, params)`` of the conv part of a converted VGG directory; the head,
    if saved, is dropped. Raises :class:`UserError` naming the directory when it
    is not a VGG-16/19 of the converter's layout."""
    params, meta = store.load_params(path, "vgg")
    name = str(meta.get("config_name", ""))
    base = re.fullmatch(r"(vgg\d+)(-w\d+)?", name)
    if not base or base.group(1) not in CONVS_PER_BLOCK:
        raise UserError(f"{path}: config_name {name!r} is not one of "
                        f"{', '.join(CONVS_PER_BLOCK)} (at any width)")  # fmt: skip
    prep = meta.get("preprocessing") or _TORCHVISION
    try:
        net = VGGFeatureNet(name, CONVS_PER_BLOCK[base.group(1)], str(prep["channels"]),
                            float(prep["scale"]), tuple(map(float, prep["mean"])),
                            tuple(map(float, prep["std"])))  # fmt: skip
    except (KeyError, TypeError, ValueError) as e:
        msg = f"{path}/metadata.json: 'preprocessing' is not a valid input convention ({e!r})"
        raise UserError(msg) from None
    convs = {n for n in net.layer_names if n.startswith("conv")}
    missing = sorted(convs - set(params))
    if missing or net.channels not in ("RGB", "BGR"):
        raise UserError(f"{path}: not a converted {name} (missing {missing}, "
                        f"channels {net.channels!r})")  # fmt: skip
    return net, {k: {"kernel": jnp.asarray(v["kernel"]), "bias": jnp.asarray(v["bias"])}
                 for k, v in params.items() if k in convs}  # fmt: skip


def features(net: VGGFeatureNet, params: dict, images: jax.Array, layer: str) -> jax.Array:
    """``images [B, H, W, 3]`` RGB in [0, 1] -> the activation ``layer``
    (``[B, h, w, C]``, e.g. ``relu5_1``: ``h = H // 16``); computation stops there."""
    names = net.layer_names
    if layer not in names:
        raise UserError(f"unknown {net.name} layer {layer!r}; known: {', '.join(names)}")
    x = images[..., ::-1] if net.channels == "BGR" else images
    x = (x * net.scale - jnp.asarray(net.mean, x.dtype)) / jnp.asarray(net.std, x.dtype)
    for b, n in enumerate(net.convs_per_block):
        for i in range(n):
            s = f"{b + 1}_{i + 1}"
            p = params[f"conv{s}"]
            x = jax.lax.conv_general_dilated(
                x, p["kernel"].astype(x.dtype), (1, 1), ((1, 1), (1, 1)),
                dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=jax.lax.Precision.HIGHEST,
            ) + p["bias"].astype(x.dtype)  # fmt: skip
            if layer == f"conv{s}":
                return x
            x = jax.nn.relu(x)
            if layer == f"relu{s}":
                return x
        x = pooling.max_pool_2x2(x)
        if layer == f"pool{b + 1}":
            return x
    raise AssertionError(layer)  # unreachable: every name is returned above


def pooled_features(net: VGGFeatureNet, params: dict, images: jax.Array, layer: str) -> jax.Array:
    """``images [B, H, W, 3]`` in [0, 1] -> ``[B, C]``: ``layer``'s activations averaged
    over its spatial positions."""
    return jnp.mean(features(net, params, images, layer), axis=(1, 2))

