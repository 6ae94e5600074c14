"""A tiny VGG-shaped classifier for tests, smoke runs and benchmarks' ``--smoke``.

``apply(params, images [B,H,W,3] in [0,1]) -> (logits [B, classes], features)``
with features named like VGG's: ``conv1_1, relu1_1, pool1, conv2_1, relu2_1,
pool2, fc6, relu6, fc8`` (global average pool before ``fc6``, so any input
size works).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from neural_art.pooling import max_pool_2x2


def init_params(key: jax.Array, *, width: int = 8, classes: int = 10, hidden: int = 16) -> dict:
    k = jax.random.split(key, 4)

    def he(kk, shape, fan_in):
        return jax.random.normal(kk, shape, jnp.float32) * jnp.sqrt(2.0 / fan_in)

    return {
        "conv1_1": {"kernel": he(k[0], (3, 3, 3, width), 27), "bias": jnp.zeros((width,))},
        "conv2_1": {
            "kernel": he(k[1], (3, 3, width, 2 * width), 9 * width),
            "bias": jnp.zeros((2 * width,)),
        },
        "fc6": {"kernel": he(k[2], (2 * width, hidden), 2 * width), "bias": jnp.zeros((hidden,))},
        "fc8": {"kernel": he(k[3], (hidden, classes), hidden), "bias": jnp.zeros((classes,))},
    }


def _conv(x, p):
    y = jax.lax.conv_general_dilated(
        x, p["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return y + p["bias"]


def apply(params: dict, images: jax.Array):
    """``images``: ``[B, H, W, 3]`` in [0, 1]; normalised to mean 0.5 / std 0.25 inside."""
    f = {}
    x = (images - 0.5) / 0.25
    f["conv1_1"] = x = _conv(x, params["conv1_1"])
    f["relu1_1"] = x = jax.nn.relu(x)
    f["pool1"] = x = max_pool_2x2(x)
    f["conv2_1"] = x = _conv(x, params["conv2_1"])
    f["relu2_1"] = x = jax.nn.relu(x)
    f["pool2"] = x = max_pool_2x2(x)
    x = jnp.mean(x, axis=(1, 2))
    f["fc6"] = x = x @ params["fc6"]["kernel"] + params["fc6"]["bias"]
    f["relu6"] = x = jax.nn.relu(x)
    f["fc8"] = x = x @ params["fc8"]["kernel"] + params["fc8"]["bias"]
    return x, f
