"""BigGAN-deep generator (Brock et al., arXiv:1809.11096) in Flax, identical in
output to the released PyTorch port ``pytorch_pretrained_biggan`` in eval mode.

Pure-function API over a params pytree::

    params = init_params(cfg, key)                     # or biggan_jax.load(...)
    images = generate(cfg, params, z, y, truncation)   # [B, H, W, 3] in [-1, 1]

``params`` is the full variables dict ``{"params", "spectral", "batch_stats"}``
(see :mod:`biggan_jax.layers`); top-level module names mirror the reference:
``embeddings``, ``gen_z``, ``B1``..``B13`` (= ``generator.layers.0..12``),
``bn``, ``conv_to_rgb``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from biggan_jax.configs import BigGANConfig
from biggan_jax.layers import (
    BatchNorm,
    GBlock,
    SelfAttention,
    SNParams,
    conv,
    truncation_stat_selector,
)
from neural_art.errors import UserError


class BigGANDeep(nn.Module):
    """The generator. ``__call__(z [B, z_dim], y [B, num_classes], sel)`` where
    ``sel`` comes from :func:`biggan_jax.layers.truncation_stat_selector`."""

    cfg: BigGANConfig
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z, y, sel):
        cfg, dt = self.cfg, self.dtype
        # Reference: nn.Linear(num_classes, z_dim, bias=False); our kernel is its weight.T.
        emb = self.param(
            "embeddings", nn.initializers.lecun_normal(), (cfg.num_classes, cfg.class_embed_dim)
        )
        cond = jnp.concatenate([z.astype(dt), y.astype(dt) @ emb.astype(dt)], axis=1)  # z first
        w, b = SNParams((cfg.cond_dim, 4 * 4 * 16 * cfg.channel_width), name="gen_z")()
        # The reference views gen_z's output as [B, 4, 4, C] (TF layout): NHWC directly.
        h = (cond @ w.astype(dt) + b.astype(dt)).reshape(-1, 4, 4, 16 * cfg.channel_width)
        for spec in cfg.blocks():
            if spec.kind == "attention":
                h = SelfAttention(spec.in_ch, name=spec.name)(h)
            else:
                h = GBlock(
                    spec.in_ch,
                    spec.out_ch,
                    spec.up,
                    cfg.cond_dim,
                    cfg.n_stats,
                    cfg.eps,
                    name=spec.name,
                )(h, cond, sel)
        h = nn.relu(BatchNorm(cfg.channel_width, cfg.n_stats, cfg.eps, name="bn")(h, sel))
        w, b = SNParams((3, 3, cfg.channel_width, cfg.channel_width), name="conv_to_rgb")()
        # Only the first 3 of conv_to_rgb's channels reach the image: compute only those
        # (σ above still uses the whole kernel, as the reference does).
        return jnp.tanh(conv(h, w[..., :3].astype(dt), b[:3].astype(dt)))


def _cast(params, dtype):
    # The spectral vectors and standing statistics stay float32 (σ and BN are computed in fp32).
    return {
        k: (jax.tree.map(lambda x: x.astype(dtype), v) if k == "params" else v)
        for k, v in params.items()
    }


@functools.partial(jax.jit, static_argnames=("cfg", "dtype"))
def _generate(cfg, params, z, y, sel, dtype):
    out = BigGANDeep(cfg, dtype).apply(_cast(params, dtype), z, y, sel)
    return out.astype(jnp.float32)


def generate(
    cfg: BigGANConfig,
    params,
    z: jax.Array,
    y: jax.Array,
    truncation,
    *,
    hf_compat: bool = False,
    dtype=jnp.float32,
) -> jax.Array:
    """Generates images.

    Args:
      cfg: the architecture (static).
      params: ``{"params", "spectral", "batch_stats"}`` pytree.
      z: ``[B, z_dim]`` latents, usually :func:`truncated_noise` (already scaled
        by the truncation).
      y: ``[B, num_classes]`` class vectors (one-hot or soft), see
        :func:`biggan_jax.class_vector`.
      truncation: in (0, 1]; picks the BN standing statistics. Python float or
        (unless ``hf_compat``) a traced scalar.
      hf_compat: reproduce the reference's statistic-row quirks exactly (see
        :func:`biggan_jax.layers.truncation_stat_selector`).
      dtype: compute dtype of activations and weights (``jnp.bfloat16`` for
        speed); output is float32.

    Returns:
      ``[B, output_dim, output_dim, 3]`` float32 in [-1, 1].

    Jit/vmap friendly: vmap over a stacked ``params`` gives one generator per
    seed (see :mod:`biggan_jax.sharded`).
    """
    if not isinstance(truncation, jax.core.Tracer):
        t = float(truncation)
        if not 0.0 < t <= 1.0:
            raise UserError(f"truncation must be in (0, 1], got {t}")
    z = jnp.asarray(z)
    y = jnp.asarray(y)
    if z.ndim != 2 or z.shape[1] != cfg.z_dim:
        raise UserError(f"z must be [B, {cfg.z_dim}], got shape {z.shape}")
    if y.ndim != 2 or y.shape != (z.shape[0], cfg.num_classes):
        raise UserError(f"y must be [B={z.shape[0]}, {cfg.num_classes}], got shape {y.shape}")
    sel = tuple(
        jnp.asarray(x)
        for x in truncation_stat_selector(truncation, cfg.n_stats, hf_compat=hf_compat)
    )
    return _generate(cfg, params, z, y, sel, jnp.dtype(dtype))


def param_shapes(cfg: BigGANConfig):
    """The params pytree's structure as ``jax.ShapeDtypeStruct`` leaves (no compute)."""
    z = jnp.zeros((1, cfg.z_dim))
    y = jnp.zeros((1, cfg.num_classes))
    sel = truncation_stat_selector(1.0, cfg.n_stats)
    return jax.eval_shape(lambda: BigGANDeep(cfg).init(jax.random.key(0), z, y, sel))


def init_params(cfg: BigGANConfig, key: jax.Array):
    """Random parameters, for smoke tests and ``--weights=random`` (not a trained model).

    Kernels ~ N(0, 1/fan_in), biases 0, final BN weight 1, attention γ 0 (as the
    reference initialises it), standing statistics μ = 0, σ² = 1, and spectral
    vectors ``u``, ``v`` from 30 power iterations so σ ≈ each kernel's top
    singular value. Drawn with numpy from a seed derived from ``key``:
    compiling Linen's ``init`` for this model takes over a minute on CPU.
    """
    from biggan_jax.layers import power_iteration

    shapes = param_shapes(cfg)
    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    rng = np.random.default_rng(seed)

    def make(path, sds):
        coll, leaf = path[0].key, path[-1].key
        if coll == "batch_stats":
            return np.full(sds.shape, 0.0 if leaf == "running_means" else 1.0, np.float32)
        if leaf in ("kernel", "embeddings"):
            fan_in = int(np.prod(sds.shape[:-1]))
            return (rng.standard_normal(sds.shape) / np.sqrt(fan_in)).astype(np.float32)
        if leaf == "weight":
            return np.ones(sds.shape, np.float32)
        if leaf == "u":
            return rng.standard_normal(sds.shape).astype(np.float32)
        return np.zeros(sds.shape, np.float32)  # bias, gamma, v (set below)

    variables = jax.tree_util.tree_map_with_path(make, dict(shapes))

    def fix(kernel_tree, spec_tree):
        if "u" in spec_tree:
            u, v = power_iteration(np.asarray(kernel_tree["kernel"]), spec_tree["u"], n_iter=30)
            return {"u": np.asarray(u), "v": np.asarray(v)}
        return {k: fix(kernel_tree[k], spec_tree[k]) for k in spec_tree}

    variables["spectral"] = fix(variables["params"], variables["spectral"])
    return variables
