"""Loading VGG weights with the shared ``--weights`` grammar (:mod:`neural_art.hub`).

A raw torchvision release or ``.pth`` is converted on first use by
:mod:`weights_convert.vgg` (imported lazily: it needs torch, once). Converted
weights -- a directory written by the converter, or a release converted into the
cache -- are read here (:func:`load_converted`), without the converter.
"""

from __future__ import annotations

import os
import pathlib
import re

import jax

from neural_art import hub, store
from neural_art.fetch import cache_dir
from styletransfer.vggnet import CONFIGS, VGGConfig, at_width, check_params, get_config, init_params


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
    (no torch, no converter); ``cfg`` defaults to the one it was saved with."""
    params, meta = store.load_params(path)
    if meta.get("model") != "vgg":
        raise ValueError(f"{path}: converted weights of {meta.get('model')!r}, not VGG")
    cfg = cfg or config_named(meta["config_name"])
    check_params(cfg, params, source=str(path))
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

        * ``vgg16`` / ``vgg19``: torchvision's release, downloaded once into the
          cache (``$NEURAL_ART_JAX_CACHE`` or ``~/.cache/neural-art-jax``),
          converted (needs torch, once) and cached as orbax params; later loads
          need neither network nor torch;
        * a directory written by ``python -m weights_convert.vgg``;
        * a torchvision-layout ``.pth`` state dict (converted on the fly; needs torch);
        * ``random`` / ``random:vgg16`` / ``random:vgg19`` (default vgg19):
          random weights (:func:`init_params` with ``seed``) for smoke tests;
          ``random:vgg16:W`` builds the architecture at channel width ``W``
          (:func:`at_width`: blocks ``W, 2W, 4W, 8W, 8W``, fc6/fc7 ``64W``; 64 is
          the real width), the layer names and feature keys unchanged.
      head: for ``random``, whether to create the classifier head (fc6 alone is
        102M parameters; style transfer does not need it).
    """
    spec = hub.parse(
        name_or_path, releases=tuple(CONFIGS), configs=tuple(CONFIGS), default_config="vgg19"
    )
    if spec.kind == "random":
        cfg = CONFIGS[spec.name] if spec.width is None else at_width(CONFIGS[spec.name], spec.width)
        return cfg, init_params(cfg, jax.random.key(seed), head=head)
    if spec.kind == "dir":
        if not (spec.path / "metadata.json").exists():
            raise hub.WeightsSpecError(f"{spec.path}: no metadata.json (not converted VGG weights)")
        return load_converted(spec.path)
    if spec.kind == "release" and (release_dir(spec.name, cache) / "metadata.json").exists():
        return load_converted(release_dir(spec.name, cache), CONFIGS[spec.name])
    from weights_convert import vgg as conv  # lazy: only a raw release or .pth needs the converter

    if spec.kind == "release":
        return conv.load_release(spec.name, cache=cache)
    return conv.convert_torch(spec.path)
