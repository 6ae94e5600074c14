"""Despraz et al., "Deep generative networks for feature visualisation": the
generator G coupled to a frozen classifier, in two modes (their Table 1).

Reconstruction of the OCR-garbled Table 2 (and of Table 1's details)
---------------------------------------------------------------------
Source: the authors' notebooks ``generative_net.ipynb`` (no pretraining),
``generative_net_with_trained_decoder.ipynb`` and ``autoencoder.ipynb``, read
from the GitHub repository ``j-zarp/deep_generative_networks`` (the paper's
``jdespraz/deep_generative_networks`` is not in the code index under that
name; ``j-zarp`` holds the same README and the three notebooks). Readings:

1. Layer list (both modes)::

     Input 1x3200 -> noise -> LocallyConnected1D(1 filter, length 1, no bias) [= α_i]
     -> Reshape 128x5x5 (channels first: f[25c + 5y + x] -> channel c, row y, col x)
     -> Up2 (10)  -> Conv 512 2x2 valid (9)   -> BN -> Conv 512 2x2 same (9)   -> BN
     -> Up2 (18)  -> Conv 256 3x3 valid (16)  -> BN -> Conv 256 3x3 same (16)  -> BN
     -> Up2 (32)  -> Conv 256 3x3 valid (30)  -> BN -> Conv 256 3x3 same (30)  -> BN
     -> Up2 (60)  -> Conv 128 3x3 valid (58)  -> BN -> Conv 128 3x3 same (58)  -> BN
     -> Up2 (116) -> Conv 128 4x4 valid (113) -> BN -> Conv 128 4x4 same (113) -> BN
     -> Up2 (226) -> [mode-specific tail, below] -> 224x224x3

   OCR "S12x2x2" is 512x2x2. The table prints the fifth stage's convs as
   128x3x3; with 3x3 the sizes do not reach 224 (116 -> 114 -> 228 -> 226),
   the code's 4x4 does (116 -> 113 -> 226 -> 224): we take 4x4. The "1x1"
   floating in the table's right column is the LocallyConnected1D's size.
   Every conv has a ReLU *before* its BN (``Convolution2D(..., activation='relu')``
   then ``BatchNormalization``), as in the code. Upsampling is nearest
   neighbour. "same" for even kernels pads (k-1)//2 before and the rest after
   (TensorFlow's rule; the paper used the TF backend).
2. Tail. *No pretraining* (``SCRATCH``, generative_net.ipynb): ``Conv 3 3x3
   valid`` (226 -> 224), ReLU, BN. *Pretrained decoder* (``DECODER``, Table 2
   and autoencoder.ipynb): ``Conv 64 3x3 valid`` (224), BN, ``Conv 64 3x3
   same``, BN, ``Conv 3 3x3 same``, BN. Table 2 lists this decoder tail; the
   no-pretraining notebook has no 64-channel stage, and only *its* parameter
   count matches Table 1 (see 5). The decoder's last conv is ReLU in the
   autoencoder notebook and linear in the act-max notebook; we keep ReLU, so
   the decoder computes the function it was trained as.
3. BatchNorm: Keras 1 ``mode=0`` in the training phase (``fit``), i.e. batch
   statistics with biased variance, ε = 1e-3, learned γ/β. Act-max runs one
   image per target (their batch_size = 1), so the statistics are those of
   the target's own image: exact under vmap over targets. Their inference
   (``predict``) uses running averages; we always use the image's statistics
   (nothing else is defined for a freshly initialised G).
4. Noise and α. No pretraining: additive Gaussian, σ = 2 (``GaussianNoise(2.0)``,
   Table 1 "σ = 2"), α ~ Keras-1 ``glorot_uniform`` of a (3200, 1, 1) kernel =
   U(±sqrt(6 / (2·sqrt(3200)))) = U(±0.230), linear. Pretrained: multiplicative
   N(1, 0.05²) as Table 1 says (their code's ``GaussianDropout(0.05)`` actually
   draws σ = sqrt(0.05/0.95) = 0.229: available as ``noise_sd=0.2294``), α
   initialised to 1 (``init='one'``) followed by a ReLU (as in their code).
   f⁽⁰⁾ = 1 in both modes: both notebooks feed ``np.ones``. Table 1's
   "initial conditions f = 1 / f = 0" cannot mean f⁽⁰⁾ = 0 or α = 0 for the
   pretrained mode: with multiplicative noise f = α·f⁽⁰⁾·ε would be 0 and
   ∂loss/∂α ≡ 0 (the ReLU's gradient at 0 is 0 too) — ``f0=0.0`` reproduces
   that dead start (tested). Noise is active in training steps only; images
   are rendered noise-free (Keras' ``predict``).
5. Regularisers. Eq. (3): R = 0.01·Σ_k |γ_k| over the 3 γ of the last BN
   (``gamma_regularizer=l1(0.01)``). Eq. (4): R = 0.1·sqrt(Σ α²/N) per the
   paper; their code uses ``W_regularizer=l2(0.1)`` = 0.1·Σ α², available as
   ``alpha_reg="code"``. Eq. (2): λ = 0.01 (their ``y_true`` of -10/1000 on
   non-target classes in ``1 - sum(y_true * relu(fc8))``; we drop the
   gradient-free constant 1).
6. Optimisers (Table 1): AdaMax lr 0.002, β 0.9/0.999, ε 1e-8 (Keras 1
   default ``adamax``); SGD lr 0.01, momentum 0.1, Nesterov. Keras' Nesterov
   update equals ``optax.sgd(0.01, 0.1, nesterov=True)``.
7. Image space. G's output is in the VGG-Caffe input space (0-255, mean
   subtracted; the autoencoder is trained on such images). We map it to the
   [0, 1] RGB images our VGG contract takes by ``(g + MEAN_RGB) / 255`` (no
   clipping: clipping would cut gradients; their code never clips). Channel
   order: we treat G's channels as RGB (their BGR order only matters for
   loading their weights, which we don't).

8. Schedule and display (generative_net.ipynb): 10 x ``fit`` of 50 identical
   inputs at batch size 1 = 500 optimiser steps; the classifier's fc8 has
   ``activation='relu'`` (the ReLU'd logits of eq. 2). Their ``print_img``
   shows ``sqrt(x - min(x)) / max`` (``featvis.app.display`` does the same; we
   skip its BGR->RGB swap, our channels are RGB, and its ``np.flipud``).
9. Not from the paper: ``scale`` multiplies G's output before the VGG (1 =
   the paper). With random-weight VGG-16 (tests) the logits are ~1e-3 and
   respond to contrast, which BN pins at γ (±1 grey level at scale 1), so
   tests use ``scale=32`` and multiply the objective by 1000 (see
   tests/test_featvis_render.py for the measured figures).

Trainable variables (checked in tests): no pretraining, 3,200 α +
5,237,641 conv/BN (γ, β) = **5,240,841**, exactly Table 1. Pretrained: 3,200
α (Table 1); the frozen decoder has 5,350,089 - 3,200 = 5,346,889 parameters
(γ/β included; Keras' running mean/var are not variables here).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from featvis.param import Param
from neural_art import optim

N_FEATURES = 3200
SEED_SHAPE = (128, 5, 5)  # channels-first reshape, as Keras' Reshape((128, 5, 5)), 'th' order
BN_EPS = 1e-3  # Keras 1 BatchNormalization default
MEAN_RGB = np.asarray([123.68, 116.779, 103.939], np.float32)  # VGG-Caffe mean, RGB order


@dataclasses.dataclass(frozen=True)
class Conv:
    features: int
    kernel: int
    padding: str  # "VALID" or "SAME"
    relu: bool = True


UP = "up"

_BODY = (
    UP, Conv(512, 2, "VALID"), Conv(512, 2, "SAME"),
    UP, Conv(256, 3, "VALID"), Conv(256, 3, "SAME"),
    UP, Conv(256, 3, "VALID"), Conv(256, 3, "SAME"),
    UP, Conv(128, 3, "VALID"), Conv(128, 3, "SAME"),
    UP, Conv(128, 4, "VALID"), Conv(128, 4, "SAME"),
    UP,
)  # fmt: skip

#: generative_net.ipynb (no pretraining); 5,240,841 trainable variables with α.
SCRATCH = _BODY + (Conv(3, 3, "VALID"),)
#: Table 2 / autoencoder.ipynb decoder (pretrained mode).
DECODER = _BODY + (Conv(64, 3, "VALID"), Conv(64, 3, "SAME"), Conv(3, 3, "SAME"))


def _layers(arch):
    return [x for x in arch if x != UP]


def glorot_uniform(key, shape, fan_in, fan_out):
    """Keras-1 ``glorot_uniform``: U(±sqrt(6 / (fan_in + fan_out)))."""
    lim = math.sqrt(6.0 / (fan_in + fan_out))
    return jax.random.uniform(key, shape, jnp.float32, -lim, lim)


def init_generator(key: jax.Array, arch=SCRATCH, *, width: float = 1.0) -> dict:
    """Conv (HWIO, Keras-1 glorot_uniform, zero bias) + BN (γ=1, β=0) parameters.

    ``width`` scales every hidden channel count (tests use small widths; the
    paper's network is ``width=1``). Keys: ``conv{i}``/``bn{i}``, i from 0.
    """
    params = {}
    cin = SEED_SHAPE[0]
    layers = _layers(arch)
    keys = jax.random.split(key, len(layers))
    for i, (k, c) in enumerate(zip(keys, layers, strict=True)):
        cout = c.features if i == len(layers) - 1 else max(1, int(round(c.features * width)))
        kk = c.kernel
        params[f"conv{i}"] = {
            "kernel": glorot_uniform(k, (kk, kk, cin, cout), cin * kk * kk, cout * kk * kk),
            "bias": jnp.zeros((cout,), jnp.float32),
        }
        params[f"bn{i}"] = {
            "scale": jnp.ones((cout,), jnp.float32),
            "bias": jnp.zeros((cout,), jnp.float32),
        }
        cin = cout
    return params


def batch_norm(x: jax.Array, p: dict, eps: float = BN_EPS) -> jax.Array:
    """Training-mode BN over all axes but the last (batch statistics, biased variance)."""
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axes, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axes, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * p["scale"] + p["bias"]


def conv(x, p, c: Conv):
    """``c`` applied with params ``p`` (TF's "same" rule for even kernels), ReLU if ``c.relu``."""
    k = c.kernel
    if c.padding == "SAME":
        lo = (k - 1) // 2
        pad = [(lo, k - 1 - lo), (lo, k - 1 - lo)]
    else:
        pad = "VALID"
    y = jax.lax.conv_general_dilated(
        x, p["kernel"], (1, 1), pad, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    y = y + p["bias"]
    return jax.nn.relu(y) if c.relu else y


def apply_generator(params: dict, f: jax.Array, arch=SCRATCH) -> jax.Array:
    """``f``: ``[B, 3200]`` feature vectors -> ``[B, 224, 224, 3]`` in Caffe pixel units.

    BN statistics are over the whole batch ``B`` (use B = 1 per target).
    """
    b = f.shape[0]
    x = jnp.transpose(f.reshape((b,) + SEED_SHAPE), (0, 2, 3, 1))
    i = 0
    for layer in arch:
        if layer == UP:
            x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
        else:
            x = conv(x, params[f"conv{i}"], layer)
            x = batch_norm(x, params[f"bn{i}"])
            i += 1
    return x


def to_rgb01(g: jax.Array, scale: float = 1.0) -> jax.Array:
    """Caffe pixel units (mean-subtracted 0..255) -> RGB in [0, 1] (not clipped).

    ``scale`` multiplies G's output first: 1 is the paper (G's BN output, ~±1
    Caffe units at γ = 1, is a faint image around the mean colour that their
    code min-max-normalises for display); larger values give the classifier
    a stronger signal from the first step (used by tests with random VGG)."""
    return (scale * g + MEAN_RGB) / 255.0


def last_bn(params: dict) -> dict:
    return params[f"bn{len(params) // 2 - 1}"]


def gamma_l1(params: dict, weight: float = 0.01) -> jax.Array:
    """Eq. (3): ``0.01 * sum_k |γ_k|`` over the last BN's 3 output-channel gains."""
    return weight * jnp.sum(jnp.abs(last_bn(params)["scale"]))


def alpha_rms(alpha: jax.Array, weight: float = 0.1) -> jax.Array:
    """Eq. (4): ``0.1 * sqrt(sum α² / N)``."""
    return weight * jnp.sqrt(jnp.sum(jnp.square(alpha)) / alpha.shape[-1])


def alpha_l2_code(alpha: jax.Array, weight: float = 0.1) -> jax.Array:
    """Their code's ``W_regularizer=l2(0.1)``: ``0.1 * sum α²``."""
    return weight * jnp.sum(jnp.square(alpha))


def count_params(tree) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


def scratch(
    *,
    noise_sd: float = 2.0,
    f0: float = 1.0,
    gamma_reg: float = 0.01,
    width: float = 1.0,
    scale: float = 1.0,
    arch=SCRATCH,
) -> Param:
    """No-pretraining mode: α and all of G trained; additive noise; eq. (3).

    params: ``{"alpha": [3200], "g": generator params}``. Optimiser:
    :func:`scratch_optimizer`.
    """
    lim = math.sqrt(6.0 / (2 * math.sqrt(N_FEATURES)))

    def init(key):
        ka, kg = jax.random.split(key)
        alpha = jax.random.uniform(ka, (N_FEATURES,), jnp.float32, -lim, lim)
        return {"alpha": alpha, "g": init_generator(kg, arch, width=width)}

    def image(params, frozen, key):
        del frozen
        f = jnp.full((1, N_FEATURES), f0, jnp.float32)
        if key is not None and noise_sd:
            f = f + noise_sd * jax.random.normal(key, f.shape, jnp.float32)
        return to_rgb01(apply_generator(params["g"], params["alpha"] * f, arch), scale)

    def penalty(params, frozen):
        del frozen
        return gamma_l1(params["g"], gamma_reg)

    return Param(init, image, penalty, lambda p, s: p)


def pretrained(
    decoder: dict,
    *,
    noise_sd: float = 0.05,
    f0: float = 1.0,
    alpha_init: float = 1.0,
    alpha_reg: str = "paper",
    reg_weight: float = 0.1,
    scale: float = 1.0,
    arch=DECODER,
) -> Param:
    """Pretrained-decoder mode: only α trained; multiplicative noise; eq. (4).

    ``decoder``: generator params for :data:`DECODER` (from
    :func:`featvis.autoencoder.train` or :func:`init_generator`), passed to the
    jitted loop as ``frozen``. ``alpha_reg``: ``"paper"`` (eq. 4) or ``"code"``
    (0.1·Σα²).
    """
    reg = {"paper": alpha_rms, "code": alpha_l2_code}[alpha_reg]

    def init(key):
        del key
        return {"alpha": jnp.full((N_FEATURES,), alpha_init, jnp.float32)}

    def image(params, frozen, key):
        f = jnp.full((1, N_FEATURES), f0, jnp.float32)
        if key is not None and noise_sd:
            f = f * (1.0 + noise_sd * jax.random.normal(key, f.shape, jnp.float32))
        feat = jax.nn.relu(params["alpha"] * f)
        return to_rgb01(apply_generator(frozen, feat, arch), scale)

    def penalty(params, frozen):
        del frozen
        return reg(params["alpha"], reg_weight)

    return Param(init, image, penalty, lambda p, s: p, decoder)


def scratch_optimizer(lr: float = 0.002) -> optim.Optimizer:
    """Table 1, no pretraining: AdaMax(lr 0.002, β1 0.9, β2 0.999, ε 1e-8)."""
    return optim.make_optimizer("adamax", lr, b1=0.9, b2=0.999, eps=1e-8)


def pretrained_optimizer(lr: float = 0.01) -> optim.Optimizer:
    """Table 1, pretrained: SGD lr 0.01, Nesterov momentum 0.1, no decay."""
    return optim.make_optimizer("sgd", lr, momentum=0.1, nesterov=True)
