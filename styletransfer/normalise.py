"""Gatys et al.'s normalised VGG (arXiv:1508.06576, Methods; CVPR 2016, §2).

"We normalized the network by scaling the weights such that the mean activation
of each convolutional filter over images and positions is equal to one. Such
re-scaling can be done for the VGG network without changing its output, because
it contains only rectifying linear activation functions and no normalization or
pooling over feature maps."

With ``μ_l[c]`` the mean of ``relu_l[c]`` over the images and all positions in
the original network, conv ``l``'s output channel ``o`` is divided by
``μ_l[o]`` and its input channel ``i`` multiplied by ``μ_{l-1}[i]`` (``μ_0 = 1``)::

    W'_l[:, :, i, o] = W_l[:, :, i, o] · μ_{l-1}[i] / μ_l[o]      b'_l[o] = b_l[o] / μ_l[o]

ReLU and 2x2 pooling (max or average) commute with a positive per-channel
scale, so every conv/ReLU/pool feature of the normalised net is the original's
divided by its channel's ``μ_l`` (one pass over the images finds every ``μ``),
and a Gram matrix ``G'_l[i, j] = G_l[i, j] / (μ_l[i] μ_l[j])``. The classifier
head is left out (its input scale changed). A filter that never fires on the
images (``μ = 0``) keeps scale 1 and is counted in ``dead``.

Which images: Gatys et al. used ImageNet images (how many is not published);
any few hundred natural photographs give stable means. The normalisation
changes the balance of the layers in a Gram-based style loss (each ``E_l``
is rescaled by the ``μ`` of its channels), so the paper's α/β ratios apply to
the normalised network only.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np

from neural_art.errors import UserError
from styletransfer.vggnet import VGGConfig, features_fn, param_shapes


@functools.lru_cache(maxsize=8)
def _sums_fn(cfg: VGGConfig, pooling: str):
    """jit ``(params, batch) -> {reluB_L: [C] sum over images and positions}``."""
    relus = tuple("relu" + n[4:] for n in cfg.conv_names)
    feats = features_fn(cfg, relus, pooling=pooling)

    def sums(params, batch):
        f = feats(params, batch)
        return {n[4:]: jnp.sum(f[n], axis=(0, 1, 2), dtype=jnp.float32) for n in relus}

    return jax.jit(sums)


@functools.lru_cache(maxsize=64)
def _positions(cfg: VGGConfig, pooling: str, shape: tuple[int, ...]) -> dict[str, int]:
    """``{B_L: B * H_l * W_l}``: the positions each sum of a ``shape`` batch covers."""
    relus = tuple("relu" + n[4:] for n in cfg.conv_names)
    params = {n: {"kernel": jax.ShapeDtypeStruct(s["kernel"], jnp.float32),
                  "bias": jax.ShapeDtypeStruct(s["bias"], jnp.float32)}
              for n, s in param_shapes(cfg, head=False).items()}  # fmt: skip
    out = jax.eval_shape(features_fn(cfg, relus, pooling=pooling), params,
                         jax.ShapeDtypeStruct(shape, jnp.float32))  # fmt: skip
    return {n[4:]: int(np.prod(out[n].shape[:3])) for n in relus}


def activation_means(
    cfg: VGGConfig, params, batches: Iterable[jax.Array] | jax.Array, *, pooling: str = "max"
) -> tuple[dict[str, np.ndarray], int]:
    """``({convB_L: μ [C]}, image count)``: each filter's mean post-ReLU activation
    over every image of ``batches`` (an iterable of ``[B, H, W, 3]`` RGB [0, 1]
    batches, or one such array) and all its positions. The sums stay on device;
    one read at the end."""
    batches = batches() if callable(batches) else [batches] if hasattr(batches, "ndim") else batches
    fn = _sums_fn(cfg, pooling)
    total, counts, n = None, None, 0
    for batch in batches:
        batch = jnp.asarray(batch)
        if batch.ndim != 4 or batch.shape[-1] != 3 or batch.shape[0] == 0:
            raise UserError(f"images must be non-empty [B, H, W, 3] batches, got {batch.shape}")
        s = fn(params, batch)
        c = _positions(cfg, pooling, batch.shape)
        total = s if total is None else jax.tree.map(jnp.add, total, s)
        counts = c if counts is None else {k: counts[k] + c[k] for k in c}
        n += batch.shape[0]
    if total is None:
        raise UserError("no images to normalise over")
    total = jax.device_get(total)
    return {f"conv{k}": np.asarray(v, np.float64) / counts[k] for k, v in total.items()}, n


def rescale(cfg: VGGConfig, params, means: dict[str, np.ndarray]) -> tuple[dict, int]:
    """``(params', dead)``: the conv layers rescaled by ``means`` (module docstring);
    ``dead`` counts the filters with ``μ = 0`` (kept at scale 1). No head."""
    out, prev, dead = {}, np.ones(3), 0
    for name in cfg.conv_names:
        mu = np.asarray(means[name], np.float64)
        dead += int(np.sum(mu <= 0))
        mu = np.where(mu > 0, mu, 1.0)
        k = np.asarray(params[name]["kernel"], np.float64)
        k = k * prev[None, None, :, None] / mu[None, None, None, :]
        b = np.asarray(params[name]["bias"], np.float64) / mu
        out[name] = {"kernel": k.astype(np.float32), "bias": b.astype(np.float32)}
        prev = mu
    return out, dead


def normalise(cfg: VGGConfig, params, images, *, pooling: str = "max") -> dict:
    """Gatys et al.'s normalisation of ``params`` over ``images``: every conv
    filter's mean post-ReLU activation over the images and all positions becomes
    1; every feature equals the original's divided by its channel's ``μ``.

    ``images``: ``[N, H, W, 3]`` RGB [0, 1], an iterable of such batches
    (streamed: each is read once), or a callable returning one. Returns
    conv-only params (the head is left out).

    Precision: ``μ`` is measured in float32. A filter that almost never fires
    (``μ`` orders of magnitude below its layer's typical one) is measured with
    a relative error of about ``1e-7 x`` that ratio, so its mean on the same
    images in the normalised net is 1 to that accuracy, not to 1e-7.
    """
    return normalise_with_stats(cfg, params, images, pooling=pooling)[0]


def normalise_with_stats(
    cfg: VGGConfig, params, images, *, pooling: str = "max"
) -> tuple[dict, dict]:
    """:func:`normalise` and ``{"images": count, "dead_filters": count}``."""
    means, n = activation_means(cfg, params, images, pooling=pooling)
    out, dead = rescale(cfg, params, means)
    return out, {"images": n, "dead_filters": dead}
