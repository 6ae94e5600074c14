"""Loading VGG weights with the shared ``--weights`` grammar (:mod:`neural_art.hub`).

A raw release or ``.pth`` is converted on first use by :mod:`weights_convert.vgg`
(imported lazily: it needs torch, once). Converted weights -- a directory
written by the converter, or a release converted into the cache -- are read
here (:func:`load_converted`) through :mod:`neural_art.store` alone, with the
input convention their metadata records (:mod:`styletransfer.preprocessing`).

Releases (:data:`RELEASES`; each file's URLs are mirrors tried in order):

* ``vgg16`` / ``vgg19`` -- torchvision's ``IMAGENET1K_V1`` weights (RGB, ImageNet
  mean/std), digests pinned;
* ``vgg16-caffe`` / ``vgg19-caffe`` -- the Oxford VGG Caffe models (Simonyan &
  Zisserman, CC BY 4.0) as converted to PyTorch by jcjohnson/pytorch-vgg
  (checked there against Caffe), or pystiche's copies; Caffe preprocessing (BGR,
  x255, mean pixel subtracted); no published digest: the first download's is
  recorded and enforced afterwards (each file name carries its digest's first 8
  hex digits, checked);
* ``vgg19-gatys`` -- ``vgg_conv.pth`` of Gatys et al.'s reference PyTorch code
  (leongatys/PytorchNeuralStyleTransfer; the Caffe VGG-19's conv layers), conv
  layers only (a head layer is refused), Caffe preprocessing; digest recorded on
  first use.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re

import jax

from neural_art import hub, store
from neural_art.errors import UserError
from neural_art.fetch import Artifact, cache_dir
from styletransfer.preprocessing import CAFFE, TORCHVISION, Preprocessing
from styletransfer.vggnet import CONFIGS, VGGConfig, at_width, check_params, get_config, init_params


@dataclasses.dataclass(frozen=True)
class Release:
    """A named VGG release: its architecture, input convention and file."""

    config: str
    preprocessing: Preprocessing
    artifact: Artifact


_TV = "https://download.pytorch.org/models/"
_JJ = "https://web.eecs.umich.edu/~justincj/models/"
_PS = "https://download.pystiche.org/models/"


def _torchvision(name: str, file: str, sha256: str, size: int) -> Release:
    # torchvision names each file by the first 8 hex digits of its sha256 and does
    # not publish the full digest beside it; the digests and sizes are the values
    # reported, identically, by several independent public projects that pin these
    # files (e.g. lpips/metric packages and download scripts), and each agrees
    # with the prefix in its file name (checked on download: digest_in_name).
    src = f"torchvision {name.upper()}_Weights.IMAGENET1K_V1; digest/size pinned by public projects"
    art = Artifact(file, _TV + file, sha256, size, src, digest_in_name=True)
    return Release(name, TORCHVISION, art)


def _caffe(name: str, jj: str, ps: str) -> Release:
    src = "Oxford VGG Caffe model (CC BY 4.0) via jcjohnson/pytorch-vgg; no published digest"
    art = Artifact(f"{name}-caffe.pth", _JJ + jj, source=src, mirrors=(_PS + ps,),
                   digest_in_name=True)  # fmt: skip
    return Release(name, CAFFE, art)


RELEASES: dict[str, Release] = {
    "vgg16": _torchvision(
        "vgg16", "vgg16-397923af.pth",
        "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0", 553433881,
    ),
    "vgg19": _torchvision(
        "vgg19", "vgg19-dcbb9e9d.pth",
        "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44", 574673361,
    ),
    "vgg16-caffe": _caffe("vgg16", "vgg16-00b39a1b.pth", "vgg16-781be684.pth"),
    "vgg19-caffe": _caffe("vgg19", "vgg19-d01eb7cb.pth", "vgg19-74e45263.pth"),
    "vgg19-gatys": Release("vgg19", CAFFE, Artifact(
        "vgg19-gatys-vgg_conv.pth",
        "https://huggingface.co/fdan/neural_style_transfer_vgg/resolve/main/vgg_conv.pth",
        source="vgg_conv.pth of leongatys/PytorchNeuralStyleTransfer; no published digest",
        mirrors=("https://bethgelab.org/media/uploads/pytorch_models/vgg_conv.pth",),
    )),
}  # fmt: skip


def config_named(name: str) -> VGGConfig:
    """The config saved under ``name``: ``vgg16`` / ``vgg19``, or ``<name>-w<W>``
    (:func:`at_width`, the ``random:vgg16:W`` networks)."""
    m = re.fullmatch(r"(vgg\d+)-w(\d+)", name)
    if m and m.group(1) in CONFIGS:
        return at_width(CONFIGS[m.group(1)], int(m.group(2)))
    return get_config(name)


def release_dir(name: str, cache: str | os.PathLike | None = None) -> pathlib.Path:
    """Where release ``name`` is cached once converted (by :func:`weights_convert.vgg.load_release`)."""
    return cache_dir(cache) / f"{name}-flax"


def load_converted(path: str | os.PathLike, cfg: VGGConfig | None = None) -> tuple[VGGConfig, dict]:
    """``(cfg, params)`` from a directory written by :func:`weights_convert.vgg.save`
    (no torch, no converter); ``cfg`` defaults to the one it was saved with, and
    its ``preprocessing`` is always the directory's (torchvision where metadata
    written before conventions were recorded has none)."""
    params, meta = store.load_params(path, "vgg")
    prep = meta.get("preprocessing")
    where = f"{path}/metadata.json"
    prep = TORCHVISION if prep is None else Preprocessing.from_dict(prep, source=where)
    cfg = (cfg or config_named(meta["config_name"])).replace(preprocessing=prep)
    check_params(cfg, params, source=str(path))
    return cfg, params


def _load_cached_release(name: str, path: pathlib.Path) -> tuple[VGGConfig, dict]:
    """A converted release in the cache: its architecture (any width) and input
    convention must be the release's."""
    rel = RELEASES[name]
    cfg, params = load_converted(path)
    if cfg.name.split("-w")[0] != rel.config or cfg.preprocessing != rel.preprocessing:
        raise UserError(f"{path} holds {cfg.name} ({cfg.preprocessing.name} preprocessing), not "
                        f"release {name} ({rel.config}, {rel.preprocessing.name}); delete it to "
                        "convert the release again")  # fmt: skip
    return cfg, params


def load(
    name_or_path: str | os.PathLike,
    *,
    cache: str | os.PathLike | None = None,
    seed: int = 0,
    head: bool = True,
) -> tuple[VGGConfig, dict]:
    """Returns ``(cfg, params)``.

    Args:
      name_or_path: one of

        * a release of :data:`RELEASES` (``vgg16`` / ``vgg19`` torchvision's,
          ``vgg16-caffe`` / ``vgg19-caffe``, ``vgg19-gatys``): downloaded once into
          the cache (``$NEURAL_ART_JAX_CACHE`` or ``~/.cache/neural-art-jax``),
          converted (needs torch, once) and cached as orbax params; later loads
          need neither network nor torch;
        * a directory written by ``python -m weights_convert.vgg``;
        * a ``.pth`` state dict in any of the converter's key layouts (converted
          on the fly, with that layout's default preprocessing; needs torch);
        * ``random`` / ``random:vgg16`` / ``random:vgg19`` (default vgg19):
          random weights (:func:`init_params` with ``seed``) for smoke tests;
          ``random:vgg16:W`` builds the architecture at channel width ``W``
          (:func:`at_width`: blocks ``W, 2W, 4W, 8W, 8W``, fc6/fc7 ``64W``; 64 is
          the real width), the layer names and feature keys unchanged.
      head: for ``random``, whether to create the classifier head (fc6 alone is
        102M parameters; style transfer does not need it).
    """
    spec = hub.parse(
        name_or_path, releases=tuple(RELEASES), configs=tuple(CONFIGS), default_config="vgg19"
    )
    if spec.kind == "random":
        cfg = CONFIGS[spec.name] if spec.width is None else at_width(CONFIGS[spec.name], spec.width)
        return cfg, init_params(cfg, jax.random.key(seed), head=head)
    if spec.kind == "dir":
        if not (spec.path / "metadata.json").exists():
            raise hub.WeightsSpecError(f"{spec.path}: no metadata.json (not converted VGG weights)")
        return load_converted(spec.path)
    if spec.kind == "release" and (release_dir(spec.name, cache) / "metadata.json").exists():
        return _load_cached_release(spec.name, release_dir(spec.name, cache))
    from weights_convert import vgg as conv  # lazy: only a raw release or .pth needs the converter

    if spec.kind == "release":
        return conv.load_release(spec.name, cache=cache)
    return conv.convert_torch(spec.path)
