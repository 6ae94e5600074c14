"""BigGAN-deep in JAX/Flax, and Janik's weight-perturbation experiments.

import jax, biggan_jax
cfg, params = biggan_jax.load("biggan-deep-256")        # download+convert once, cached
cfg, params = biggan_jax.load("random:biggan-deep-128:8")  # random init (seed 0), width 8
cfg = biggan_jax.config_for("path/to/pytorch_model.bin")   # the architecture, nothing loaded
z = biggan_jax.truncated_noise(jax.random.key(0), 4, truncation=0.4)
y = biggan_jax.class_vector(["stupa", "espresso", 980, {"stupa": .5, "volcano": .5}])
images = biggan_jax.generate(cfg, params, z, y, 0.4)    # [4, 256, 256, 3] in [-1, 1]
neural_art.images.save_grid("out.png", images)
imgs = biggan_jax.sweep(cfg, params, range(64), z, y, 0.4, root=jax.random.key(1))  # [64, 4, ...]
"""

from biggan_jax import perturb
from biggan_jax.configs import (
    BIGGAN_DEEP_128,
    BIGGAN_DEEP_256,
    BIGGAN_DEEP_512,
    CONFIGS,
    BigGANConfig,
    get_config,
)
from biggan_jax.hub import RELEASES, config_for, load
from biggan_jax.model import BigGANDeep, generate, init_params
from biggan_jax.noise import truncated_noise
from biggan_jax.sharded import Perturbation, sweep, sweep_chunks
from neural_art.imagenet import class_index, class_name, class_names, class_vector

__all__ = [
    "BIGGAN_DEEP_128",
    "BIGGAN_DEEP_256",
    "BIGGAN_DEEP_512",
    "CONFIGS",
    "RELEASES",
    "Perturbation",
    "BigGANConfig",
    "BigGANDeep",
    "class_index",
    "class_name",
    "class_names",
    "class_vector",
    "config_for",
    "generate",
    "get_config",
    "init_params",
    "load",
    "perturb",
    "sweep",
    "sweep_chunks",
    "truncated_noise",
]

