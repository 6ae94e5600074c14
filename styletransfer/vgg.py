"""VGG-16 and VGG-19 (Simonyan & Zisserman, arXiv:1409.1556): the network
(:mod:`styletransfer.vggnet`) and its loader (:mod:`styletransfer.hub`) in one
namespace.

    from styletransfer import vgg
    cfg, params = vgg.load("vgg19")        # or "random:vgg16", a converted dir, a .pth
    logits, feats = vgg.apply(cfg, params, images, layers=("relu4_2", "conv5_1"))
"""

from styletransfer.hub import load
from styletransfer.normalise import normalise
from styletransfer.preprocessing import CAFFE, IMAGENET_MEAN, IMAGENET_STD, TORCHVISION, Preprocessing
from styletransfer.vggnet import (
    CONFIGS,
    HEAD_LAYERS,
    VGG,
    VGG16,
    VGG19,
    VGGConfig,
    adaptive_avg_pool,
    apply,
    check_params,
    features_fn,
    fold_head,
    get_config,
    init_params,
    normalize,
    param_shapes,
    torch_names,
)

__all__ = [
    "CAFFE",
    "CONFIGS",
    "HEAD_LAYERS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VGG",
    "VGG16",
    "VGG19",
    "Preprocessing",
    "TORCHVISION",
    "VGGConfig",
    "adaptive_avg_pool",
    "apply",
    "check_params",
    "features_fn",
    "fold_head",
    "get_config",
    "init_params",
    "load",
    "normalise",
    "normalize",
    "param_shapes",
    "torch_names",
]
