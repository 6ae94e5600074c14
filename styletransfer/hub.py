"""Loading VGG weights with the shared ``--weights`` grammar (:mod:`neural_art.hub`).

A raw torchvision release or ``.pth`` is converted on first use by
:mod:`weights_convert.vgg` (imported lazily: it needs torch, once).
"""

from __future__ import annotations

import os

import jax

from neural_art import hub
from styletransfer.vggnet import CONFIGS, VGGConfig, at_width, init_params


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
    from weights_convert import vgg as conv  # lazy: converts raw releases on first use

    if spec.kind == "release":
        return conv.load_release(spec.name, cache=cache)
    if spec.kind == "dir":
        if not (spec.path / "metadata.json").exists():
            raise hub.WeightsSpecError(f"{spec.path}: no metadata.json (not converted VGG weights)")
        return conv.load_converted(spec.path)
    return conv.convert_torch(spec.path)
