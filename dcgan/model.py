"""DCGAN generator and discriminator (Beyers & Loane 2018, after Radford et al. 2015).

Seed architecture (Beyers & Loane, sec. 3.2 and Fig. 1), the default
:data:`SEED_64`:

* G: z in R^100 -> ConvT 1024 (4x4, s1, p0) -> ConvT 512 -> 256 -> 128
  (4x4, s2, p1), each followed by BatchNorm + LeakyReLU(0.2), -> ConvT 3
  (4x4, s2, p1) + tanh: 64x64 images in [-1, 1].
* D: Conv 128 (no BN) -> 256 -> 512 -> 1024 (4x4, s2, p1), BN after every
  conv but the first, LeakyReLU(0.2) after every conv, -> fully connected ->
  sigmoid.

:data:`RADFORD_64` is pytorch/examples' ``dcgan`` (Radford et al.): ReLU in G,
N(0, 0.02) conv init, BN scale N(1, 0.02), widths 64. Its D head is pytorch/
examples' final ``Conv2d(8*ndf, 1, 4, 1, 0)``, which on the 4x4 map is exactly a
fully connected layer without bias -- we store it as a dense ``head``.

Layout: images are NHWC ``[B, H, W, C]`` float32 in [-1, 1]; kernels HWIO.
Convolutions have no bias (pytorch/examples convention: BN follows, and the
first D conv and the last G conv are bias-free there too).

Numerics match PyTorch exactly (tests/test_dcgan_model.py, <= 1e-5 abs):

* ``ConvTranspose2d(k, s, p)`` is a stride-1 convolution of the input dilated by
  ``s`` with the spatially flipped kernel and padding ``k - 1 - p`` per side;
  ``convt_impl="subpixel"`` computes the same thing as ``s*s`` phase
  convolutions + depth-to-space (no multiplications by inserted zeros).
* BatchNorm (:class:`BatchNorm`) normalises with the biased batch variance in
  training mode, ``eps=1e-5``, and updates running statistics with
  PyTorch's ``momentum=0.1`` and the *unbiased* variance.

Both networks are Linen modules; :func:`generate` and :func:`discriminate` are
pure functions of a ``{"params", "batch_stats"}`` pytree (jit/vmap-able).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from dcgan.layers import CONV_IMPLS, BatchNorm, Conv, ConvT, leaky_relu
from neural_art.errors import UserError


@dataclasses.dataclass(frozen=True)
class DCGANConfig:
    """Architecture of one DCGAN (G and D).

    Attributes:
      nz: latent size.
      ngf, ndf: width multipliers; G's first layer has ``ngf * 2**(n-1)``
        channels and D's last conv ``ndf * 2**(n-1)``, with ``n = log2(res) - 2``
        (seed: 128 -> 1024 at 64x64).
      nc: image channels (1 for MNIST, 3 for art).
      resolution: output side, a power of two >= 16 (paper: 64; each doubling adds
        one stride-2 block to G and to D: 128 has 5, 256 has 6).
      g_act: ``"leaky_relu"`` (seed) or ``"relu"`` (Radford / pytorch/examples).
      init: ``"torch"`` (PyTorch's default layer init: U(+-1/sqrt(fan_in)), BN
        scale 1) or ``"dcgan"`` (N(0, 0.02) weights, BN scale N(1, 0.02)).
      head_bias: bias in D's final dense layer.
      convt_impl: ``"dilated"`` or ``"subpixel"`` (same numbers, see module doc).
      conv_impl: how each dense convolution is computed -- ``"xla"``,
        ``"im2col"`` or ``"auto"`` (im2col on CPU where it pays; same numbers to
        float rounding, see :func:`dcgan.layers.uses_im2col`).
    """

    nz: int = 100
    ngf: int = 128
    ndf: int = 128
    nc: int = 3
    resolution: int = 64
    g_act: str = "leaky_relu"
    init: str = "torch"
    head_bias: bool = True
    leak: float = 0.2
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1  # PyTorch convention: new = (1 - m) * old + m * batch
    convt_impl: str = "subpixel"
    conv_impl: str = "auto"

    def __post_init__(self):
        r = self.resolution
        if r < 16 or r & (r - 1):
            raise UserError(f"resolution must be a power of two >= 16, got {r}")
        if self.g_act not in ("leaky_relu", "relu"):
            raise UserError(f"g_act must be 'leaky_relu' or 'relu', got {self.g_act!r}")
        if self.init not in ("torch", "dcgan"):
            raise UserError(f"init must be 'torch' or 'dcgan', got {self.init!r}")
        if self.convt_impl not in ("dilated", "subpixel"):
            raise UserError(f"convt_impl must be 'dilated' or 'subpixel', got {self.convt_impl!r}")
        if self.conv_impl not in CONV_IMPLS:
            raise UserError(f"conv_impl must be one of {CONV_IMPLS}, got {self.conv_impl!r}")

    @property
    def n_up(self) -> int:
        """Number of stride-2 layers in each network (4 at 64x64)."""
        return int(math.log2(self.resolution)) - 2

    def g_widths(self) -> list[int]:
        """Output channels of G's hidden ConvT layers (seed: [1024, 512, 256, 128])."""
        return [self.ngf * 2 ** (self.n_up - 1 - i) for i in range(self.n_up)]

    def d_widths(self) -> list[int]:
        """Output channels of D's convs (seed: [128, 256, 512, 1024])."""
        return [self.ndf * 2**i for i in range(self.n_up)]

    def replace(self, **kw) -> DCGANConfig:
        return dataclasses.replace(self, **kw)


# Beyers & Loane, sec. 3.2 / Fig. 1: widths 1024..128, LeakyReLU(0.2) in both nets.
# Any power-of-two side: one more stride-2 block in G and in D per doubling, widths
# ngf * 2**(n_up-1-i) (G) and ndf * 2**i (D); the seed's last G width stays 128.
SEED_64 = DCGANConfig()
SEED_32 = DCGANConfig(resolution=32)
SEED_128 = DCGANConfig(resolution=128)
SEED_256 = DCGANConfig(resolution=256)
# pytorch/examples dcgan/main.py (Radford et al. 2015): ngf = ndf = 64, ReLU in G,
# weights_init N(0, 0.02), final D conv without bias.
RADFORD_64 = DCGANConfig(ngf=64, ndf=64, g_act="relu", init="dcgan", head_bias=False)
CONFIGS = {"seed-32": SEED_32, "seed-64": SEED_64, "seed-128": SEED_128, "seed-256": SEED_256,
           "radford-64": RADFORD_64}


# ------------------------------------------------------------------ layers


def _torch_uniform(fan_in: int):
    bound = 1.0 / math.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
        key, shape, dtype, -bound, bound
    )


def _kernel_init(cfg: DCGANConfig, fan_in: int):
    if cfg.init == "dcgan":
        return nn.initializers.normal(0.02)
    return _torch_uniform(fan_in)


# ------------------------------------------------------------------ networks


class Generator(nn.Module):
    """``z: [B, nz]`` -> images ``[B, res, res, nc]`` in [-1, 1].

    Variables: ``params`` {``convt{i}``: {kernel}, ``bn{i}``: {scale, bias}},
    ``batch_stats`` {``bn{i}``: {mean, var}}, i = 0..n_up-1; last layer
    ``convt{n_up}``.

    In inference mode (``train=False``) ``conv_impl="auto"`` means XLA's
    convolution: im2col pays for the gradients, but G's forward alone was slower
    with it (XLA:CPU, 2 cores, seed architecture: batch 32 587 -> 456 ms, batch 64
    1245 -> 855 ms, im2col -> XLA, medians of 7).
    """

    cfg: DCGANConfig
    act: Callable | None = None  # overrides G's nonlinearity (analysis tools)

    @nn.compact
    def __call__(self, z, train: bool = False):
        cfg = self.cfg
        act = self.act or (
            (lambda v: leaky_relu(v, cfg.leak)) if cfg.g_act == "leaky_relu" else jax.nn.relu
        )
        bn_init = nn.initializers.ones
        if cfg.init == "dcgan":
            bn_init = lambda key, shape, dtype=jnp.float32: (
                1.0 + 0.02 * jax.random.normal(key, shape, dtype)
            )
        conv_impl = cfg.conv_impl if train or cfg.conv_impl != "auto" else "xla"
        x = z.reshape(z.shape[0], 1, 1, cfg.nz)
        for i, width in enumerate(cfg.g_widths()):
            stride, pad = (1, 0) if i == 0 else (2, 1)
            # torch ConvTranspose2d's fan_in is weight.size(1) * k * k = out * 16
            x = ConvT(
                width, stride, pad, _kernel_init(cfg, width * 16), cfg.convt_impl,
                conv_impl=conv_impl, name=f"convt{i}",
            )(x)  # fmt: skip
            x = BatchNorm(cfg.bn_eps, cfg.bn_momentum, bn_init, name=f"bn{i}")(x, train)
            x = act(x)
        x = ConvT(
            cfg.nc, 2, 1, _kernel_init(cfg, cfg.nc * 16), cfg.convt_impl,
            conv_impl=conv_impl, name=f"convt{cfg.n_up}",
        )(x)  # fmt: skip
        return jnp.tanh(x)


class Discriminator(nn.Module):
    """``images: [B, res, res, nc]`` in [-1, 1] -> ``(logits [B], features)``.

    ``features`` maps ``conv{i}`` (post-activation maps ``[B, h, w, c]``) for
    every conv layer. Variables: ``params`` {``conv{i}``: {kernel}, ``bn{i}``
    (i >= 1): {scale, bias}, ``head``: {kernel [16*C, 1], bias [1]}}.
    The head flattens the final 4x4 map in (h, w, c) order.
    """

    cfg: DCGANConfig
    act: Callable | None = None  # overrides LeakyReLU (deconvnet / guided backprop)

    @nn.compact
    def __call__(self, x, train: bool = False):
        cfg = self.cfg
        act = self.act or (lambda v: leaky_relu(v, cfg.leak))
        bn_init = nn.initializers.ones
        if cfg.init == "dcgan":
            bn_init = lambda key, shape, dtype=jnp.float32: (
                1.0 + 0.02 * jax.random.normal(key, shape, dtype)
            )
        feats = {}
        for i, width in enumerate(cfg.d_widths()):
            x = Conv(
                width, 2, 1, _kernel_init(cfg, x.shape[-1] * 16), conv_impl=cfg.conv_impl,
                name=f"conv{i}",
            )(x)  # fmt: skip
            if i > 0:
                x = BatchNorm(cfg.bn_eps, cfg.bn_momentum, bn_init, name=f"bn{i}")(x, train)
            x = act(x)
            feats[f"conv{i}"] = x
        x = x.reshape(x.shape[0], -1)
        fan_in = x.shape[-1]
        kinit = _kernel_init(cfg, fan_in)
        head = nn.Dense(
            1,
            use_bias=cfg.head_bias,
            kernel_init=kinit,
            bias_init=_torch_uniform(fan_in) if cfg.init == "torch" else nn.initializers.zeros,
            precision=jax.lax.Precision.HIGHEST,
            name="head",
        )
        return head(x)[:, 0], feats


# ------------------------------------------------------------------ pure API

Variables = dict[str, Any]


@functools.partial(jax.jit, static_argnums=0)
def init_generator(cfg: DCGANConfig, key: jax.Array) -> Variables:
    """Fresh ``{"params", "batch_stats"}`` for G (one compiled program: Flax's eager
    init dispatched the full-width model op by op, 4x slower on CPU)."""
    return dict(Generator(cfg).init(key, jnp.zeros((1, cfg.nz)), train=False))


@functools.partial(jax.jit, static_argnums=0)
def init_discriminator(cfg: DCGANConfig, key: jax.Array) -> Variables:
    """Fresh ``{"params", "batch_stats"}`` for D (compiled, as :func:`init_generator`)."""
    x = jnp.zeros((1, cfg.resolution, cfg.resolution, cfg.nc))
    return dict(Discriminator(cfg).init(key, x, train=False))


def generate(cfg: DCGANConfig, variables: Variables, z: jax.Array, *, train: bool = False):
    """``z: [B, nz]`` -> images ``[B, res, res, nc]`` in [-1, 1].

    ``train=False`` (inference): BN uses running statistics; returns images.
    ``train=True``: batch statistics; returns ``(images, new_batch_stats)``.
    """
    if train:
        out, upd = Generator(cfg).apply(variables, z, train=True, mutable=["batch_stats"])
        return out, upd["batch_stats"]
    return Generator(cfg).apply(variables, z, train=False)


def discriminate(cfg: DCGANConfig, variables: Variables, x: jax.Array, *, train: bool = False):
    """``x: [B, res, res, nc]`` -> logits ``[B]`` (``sigmoid`` gives D's probability).

    ``train=True`` returns ``(logits, new_batch_stats)``.
    """
    if train:
        (logits, _), upd = Discriminator(cfg).apply(
            variables, x, train=True, mutable=["batch_stats"]
        )
        return logits, upd["batch_stats"]
    return Discriminator(cfg).apply(variables, x, train=False)[0]


@functools.lru_cache(maxsize=16)
def generate_fn(cfg: DCGANConfig) -> Callable:
    """Inference-mode G for ``cfg`` as one jit-compiled ``f(variables, z)``, cached
    per config so every caller (sampling, sweeps, analyses, training's sample
    grids) reuses the same compiled program."""
    return jax.jit(functools.partial(generate, cfg))


LATENT_DISTS = ("normal", "uniform")


def sample_latents(key: jax.Array, n: int, nz: int = 100, dist: str = "normal") -> jax.Array:
    """``[n, nz]`` latents: ``"normal"`` N(0, 1) (seed) or ``"uniform"`` U(-1, 1) (Radford)."""
    if dist == "normal":
        return jax.random.normal(key, (n, nz))
    if dist == "uniform":
        return jax.random.uniform(key, (n, nz), minval=-1.0, maxval=1.0)
    raise UserError(f"unknown latent distribution {dist!r} (normal, uniform)")


def num_params(tree) -> int:
    return int(sum(np.prod(np.shape(x)) for x in jax.tree.leaves(tree)))
