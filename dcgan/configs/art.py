"""Seed configuration: DCGAN (widths 1024..128, LeakyReLU) on a folder of artworks.

    python -m dcgan.main --config=dcgan/configs/art.py --workdir=/tmp/dcgan_art \
        --config.data.folder=/path/to/wikiart
    # CPU smoke run (tiny widths, 32x32, a few steps):
    python -m dcgan.main --config=dcgan/configs/art.py:quick --workdir=/tmp/dcgan_quick \
        --config.data.folder=/path/to/images
    # the tests' config (quick at 16x16, lr 1e-3: a train step that compiles in seconds):
    python -m dcgan.main --config=dcgan/configs/art.py:tiny --workdir=/tmp/dcgan_tiny \
        --config.data.folder=/path/to/images
"""

from dcgan.configs.common import base_config, quick


def get_config(arg: str | None = None):
    c = base_config()
    c.data.source = "folder"
    # ~100 epochs of 203k images at batch 128 (sec. 4.2).
    c.num_steps = 160_000
    return quick(c, arg)
