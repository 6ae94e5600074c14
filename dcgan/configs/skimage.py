"""The embedded model: a small DCGAN on random 64x64 patches of scikit-image's
bundled photographs and textures (offline stand-in for an art corpus).

Reduced widths (ngf = ndf = 16: G 128-64-32-16, D 16-32-64-128 instead of the
seed's 1024..128, i.e. 1/8 of the seed's width), batch 64, 800 steps, lr 2e-4;
seed architecture otherwise (LeakyReLU(0.2), BN, z ~ N(0, 1) in R^100).

    python -m dcgan.main --config=dcgan/configs/skimage.py --workdir=/tmp/dcgan_skimage
    python -m dcgan.export --workdir=/tmp/dcgan_skimage --out=dcgan/assets/embedded
    # CPU smoke run:
    python -m dcgan.main --config=dcgan/configs/skimage.py:quick --workdir=/tmp/dcgan_skq
"""

from dcgan.configs.common import base_config


def get_config(arg: str | None = None):
    c = base_config()
    c.data.source = "skimage"
    c.model.ngf = c.model.ndf = 16
    c.batch_size = 64
    c.num_steps = 800
    c.log_every = 25
    c.sample_every = 200
    c.num_samples = 64
    c.checkpoint_every = 100
    c.lr = 2e-4  # pytorch/examples' rate: faster on a short CPU budget (seed: 1e-4)
    if arg == "quick":
        c.model.ngf = c.model.ndf = 8
        c.model.resolution = 32
        c.batch_size = 16
        c.num_steps = 20
        c.log_every = 5
        c.sample_every = 10
        c.checkpoint_every = 5
        c.num_samples = 16
        c.data.min_epoch_examples = 64
    elif arg:
        raise ValueError(f"unknown config variant {arg!r} (quick)")
    return c
