"""Rematerialisation plans of the VGG forward inside the style loss
(``jax.checkpoint`` per block or per layer), applied from outside the network.

    feats = remat.features(cfg, params, images, layers, pooling="avg", remat="block")

Plans (:data:`PLANS`, cheapest compute first; :mod:`styletransfer.memory`
chooses among them by the compiled step's own ``memory_analysis()``):

* ``none``: one :func:`styletransfer.vgg.apply`; the backward pass keeps every
  activation it needs.
* ``block``: one ``jax.checkpoint``-ed segment per VGG block: the backward
  pass keeps the blocks' inputs (the normalised image, pool1..pool4) and the
  features the loss reads, and recomputes one block at a time.
* ``layer``: one segment per conv layer (conv + ReLU, + the pool ending a block).

Each segment is a call of :func:`styletransfer.vgg.apply`; past the first, a
Flax method interceptor feeds the segment's first conv the previous segment's
output; the layers before it then compute nothing that is used and are
removed when compiled. Values are those of ``vgg.apply`` (tested).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

from neural_art.errors import UserError
from styletransfer import vgg

PLANS = ("none", "block", "layer")


def segments(cfg: vgg.VGGConfig, remat: str) -> list[tuple[str, ...]]:
    """The conv layers of each checkpointed segment of plan ``remat``."""
    convs = cfg.conv_names
    if remat == "none":
        return [convs]
    if remat == "block":
        return [tuple(c for c in convs if c.startswith(f"conv{b + 1}_"))
                for b in range(len(cfg.convs_per_block))]  # fmt: skip
    if remat == "layer":
        return [(c,) for c in convs]
    raise UserError(f"--remat must be one of auto, {', '.join(PLANS)}, got {remat!r}")


def _segment_keys(cfg: vgg.VGGConfig, seg: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """``(the feature keys a segment computes, the key of its output)``."""
    names = cfg.layer_names
    block = seg[-1][4]
    ends_block = seg[-1] == [c for c in cfg.conv_names if c[4] == block][-1]
    out = f"pool{block}" if ends_block else "relu" + seg[-1][4:]
    return names[names.index(seg[0]) : names.index(out) + 1], out


def _input_of(layer: str, x: jax.Array):
    """Flax interceptor: conv ``layer`` reads ``x`` instead of its own input."""

    def intercept(next_fun, args, kwargs, context):
        if isinstance(context.module, nn.Conv) and context.module.name == layer:
            args = (x, *args[1:])
        return next_fun(*args, **kwargs)

    return intercept


def features(cfg: vgg.VGGConfig, params, images: jax.Array, layers, *, pooling: str,
             remat: str = "none") -> dict[str, jax.Array]:  # fmt: skip
    """``vgg.apply(cfg, params, images, layers, pooling=pooling)[1]`` under plan
    ``remat`` (same values). ``images``: ``[B, H, W, 3]`` in [0, 1]."""
    layers = tuple(layers)
    if not layers:
        return {}
    if remat == "none":
        return vgg.apply(cfg, params, images, layers, pooling=pooling)[1]
    names = cfg.layer_names
    depth = max(names.index(n) for n in layers)
    feats, x = {}, images
    for seg in segments(cfg, remat):
        if names.index(seg[0]) > depth:
            break
        keys, out = _segment_keys(cfg, seg)
        want = tuple(k for k in keys if k in layers or k == out)

        def run(x_in, p, seg=seg, want=want, out=out):
            if seg[0] == "conv1_1":  # the images themselves (vgg.apply preprocesses them)
                got = vgg.apply(cfg, p, x_in, want, pooling=pooling)[1]
            else:
                probe = jnp.zeros(images.shape, images.dtype)  # gives the shapes; dead code
                with nn.intercept_methods(_input_of(seg[0], x_in)):
                    got = vgg.apply(cfg, p, probe, want, pooling=pooling)[1]
            return got[out], {k: v for k, v in got.items() if k in layers}

        x, got = jax.checkpoint(run)(x, params)
        feats.update(got)
    return feats
