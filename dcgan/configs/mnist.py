"""MNIST proof of concept (sec. 4.1): seed architecture, 1 channel, 64x64, 15 epochs.

python -m dcgan.main --config=dcgan/configs/mnist.py --workdir=/tmp/dcgan_mnist
python -m dcgan.main --config=dcgan/configs/mnist.py:quick --workdir=/tmp/dcgan_mnist_quick
"""

from dcgan.configs.common import base_config, quick


def get_config(arg: str | None = None):
    c = base_config()
    c.data.source = "mnist"
    c.model.nc = 1
    c.num_steps = 15 * 60_000 // 128  # 15 epochs
    return quick(c, arg)
