"""MNIST proof of concept (sec. 4.1): seed architecture, 1 channel, 64x64, 15 epochs.

python -m dcgan.main --config=dcgan/configs/mnist.py --workdir=/tmp/dcgan_mnist
python -m dcgan.main --config=dcgan/configs/mnist.py:quick --workdir=/tmp/dcgan_mnist_quick
"""

from dcgan.configs.common import base_config


def get_config(arg: str | None = None):
    c = base_config()
    c.data.source = "mnist"
    c.model.nc = 1
    c.num_steps = 15 * 60_000 // 128  # 15 epochs
    if arg == "quick":
        c.model.ngf = c.model.ndf = 8
        c.model.resolution = 32
        c.batch_size = 16
        c.num_steps = 20
        c.log_every = 5
        c.sample_every = 10
        c.checkpoint_every = 5
        c.num_samples = 16
    elif arg:
        raise ValueError(f"unknown config variant {arg!r} (quick)")
    return c
