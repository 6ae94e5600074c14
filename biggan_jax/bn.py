"""Batch-norm statistics re-estimated for perturbed weights (issue 13, ``--bn=recompute``).

BigGAN-deep normalises with *standing* statistics: per BN layer, a table of
means/variances measured on the unperturbed network (one row per truncation,
:func:`biggan_jax.layers.truncation_stat_selector`). After eq. (2)/(3) of Janik
(arXiv:2109.08103) the activations no longer have those statistics; the paper
keeps them (``--bn=stored``, the default). :func:`recompute` instead measures
them on the perturbed network itself: one forward pass over a batch of latents
in which every BN layer normalises with the *batch's* own per-channel mean and
(biased) variance over (N, H, W), computed in float32 -- training-mode BN, so
each layer sees inputs already normalised by the layers before it -- and those
statistics become every row of that layer's table (the result no longer depends
on the truncation row chosen).

The batch is documented by its caller (the sweep: ``BN_BATCH`` latents at the
sweep's truncation, classes cycling through the sweep's classes, latent key
``fold_in(key(latent_seed), 10**6 + i)``). Pure and jit/vmap friendly, so a sweep
re-estimates inside its compiled program, per perturbed network.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import linen as nn

from biggan_jax.configs import BigGANConfig
from biggan_jax.layers import BatchNorm, CondBatchNorm
from biggan_jax.model import BigGANDeep
from neural_art.errors import UserError

BN_BATCH = 32  # latents per re-estimation (the sweep's default)
MODES = ("stored", "recompute")


def _batch_stats_interceptor(next_fun, args, kwargs, context):
    mod = context.module
    if context.method_name != "__call__" or not isinstance(mod, (CondBatchNorm, BatchNorm)):
        return next_fun(*args, **kwargs)
    x = jnp.asarray(args[0], jnp.float32)
    mean, var = jnp.mean(x, axis=(0, 1, 2)), jnp.var(x, axis=(0, 1, 2))
    rows = (mod.n_stats, mod.features)
    mod.put_variable("batch_stats", "running_means", jnp.broadcast_to(mean, rows))
    mod.put_variable("batch_stats", "running_vars", jnp.broadcast_to(var, rows))
    return next_fun(*args, **kwargs)


@functools.partial(jax.jit, static_argnames=("cfg", "dtype"))
def recompute(cfg: BigGANConfig, params, z: jax.Array, y: jax.Array, sel, *,
              dtype=jnp.float32):  # fmt: skip
    """``params`` with every BN table replaced by the statistics of this network's
    own activations on the batch ``z [B, z_dim]``, ``y [B, num_classes]``.

    Returns ``(params', images)``: ``images`` are the batch generated with batch
    statistics (equal to generating it again with ``params'``). Jitted (one compile
    for θ*'s re-estimation; inlined where a sweep's program calls it)."""
    model = BigGANDeep(cfg, dtype)
    with nn.intercept_methods(_batch_stats_interceptor):
        images, new = model.apply(params, z, y, sel, mutable=["batch_stats"])
    return {**params, "batch_stats": new["batch_stats"]}, images


def with_bn(mode: str, cfg: BigGANConfig, params, z_bn, y_bn, sel, *, dtype=jnp.float32):
    """``params`` as the sweep uses them: unchanged for ``"stored"``, re-estimated
    on ``(z_bn, y_bn)`` for ``"recompute"``."""
    if mode == "stored":
        return params
    if mode != "recompute":
        raise UserError(f"bn mode must be one of {MODES}, got {mode!r}")
    return recompute(cfg, params, z_bn, y_bn, sel, dtype=dtype)[0]
