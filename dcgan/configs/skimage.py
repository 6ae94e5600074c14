"""The embedded model: a small DCGAN on random 64x64 patches of scikit-image's
bundled photographs and textures (offline stand-in for an art corpus).

Reduced widths (ngf = ndf = 32: G 256-128-64-32, D 32-64-128-256 instead of the
seed's 1024..128, i.e. 1/4 of the seed's width), batch 64, 1500 steps, lr 2e-4;
seed architecture otherwise (LeakyReLU(0.2), BN, z ~ N(0, 1) in R^100). Sized
for a CPU: the committed model took 19 CPU-minutes (32 min wall on 2 shared
cores, 0.5-1.5 steps/s); see dcgan/assets/embedded/README.md.

    python -m dcgan.main --config=dcgan/configs/skimage.py --workdir=/tmp/dcgan_skimage
    python -m dcgan.export --workdir=/tmp/dcgan_skimage --out_dir=dcgan/assets/embedded \
        --precision=bfloat16
    # CPU smoke run:
    python -m dcgan.main --config=dcgan/configs/skimage.py:quick --workdir=/tmp/dcgan_skq
"""

from dcgan.configs.common import base_config, quick


def get_config(arg: str | None = None):
    c = base_config()
    c.data.source = "skimage"
    c.model.ngf = c.model.ndf = 32
    c.batch_size = 64
    c.num_steps = 1500
    c.log_every = 25
    c.sample_every = 300
    c.num_samples = 64
    c.checkpoint_every = 150
    c.lr = 2e-4  # pytorch/examples' rate: faster on a short CPU budget (seed: 1e-4)
    return quick(c, arg)
