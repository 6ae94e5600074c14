"""DCGAN on art (Beyers & Loane): models, tfds input, training, analyses.

import jax, dcgan
cfg, params = dcgan.load()            # the embedded model (offline); or load("random:seed-64:8"), DIR, netG.pth
z = dcgan.sample_latents(jax.random.key(0), 16, cfg.nz)
images = dcgan.generate(cfg, params["generator"], z)   # [16, 64, 64, 3] in [-1, 1]

``params`` is ``{"generator": ..., "discriminator": ...}`` (``(cfg, params)``, as
every model's ``load``); ``dcgan.hub.metadata(spec)`` is what the weights record.

Training: ``python -m dcgan.main --config=dcgan/configs/<x>.py --workdir=DIR``
(:mod:`dcgan.train`, :mod:`dcgan.input_pipeline`); tools: :mod:`dcgan.sample`,
:mod:`dcgan.sweep`, :mod:`dcgan.analysis`, :mod:`dcgan.export`. Importing this
package does not import TensorFlow or torch.
"""

from dcgan.hub import EMBEDDED_DIR, load
from dcgan.model import (
    CONFIGS,
    RADFORD_64,
    SEED_64,
    SEED_128,
    DCGANConfig,
    discriminate,
    generate,
    init_discriminator,
    init_generator,
    sample_latents,
)

__all__ = [
    "CONFIGS",
    "EMBEDDED_DIR",
    "RADFORD_64",
    "SEED_64",
    "SEED_128",
    "DCGANConfig",
    "discriminate",
    "generate",
    "init_discriminator",
    "init_generator",
    "load",
    "sample_latents",
]
