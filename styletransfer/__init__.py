"""VGG-16/19 in JAX and Gatys et al. neural style transfer driven by optax.

    import styletransfer as st
    net = st.Net(*st.vgg.load("vgg19"))                 # download + convert once, cached
    content = st.load_image("photo.jpg", max_size=512)  # [H, W, 3] in [0, 1]
    style = st.load_image("starry.jpg", max_size=512)
    out = st.stylize(net, content, [style], st.Settings(steps=300))
    st.save_image("out.png", out.image)

Modules: :mod:`~styletransfer.vgg` (network, loading), :mod:`~styletransfer.losses`
(Gatys eqs. 1-7, Gram style vectors), :mod:`~styletransfer.settings` (the one
settings dataclass, fields named as the CLI flags), :mod:`neural_art.optim`
(the jitted optax loop shared with featvis, also reachable as ``styletransfer.optim``),
:mod:`~styletransfer.objective` (the loss of an image),
:mod:`~styletransfer.color` (YIQ, original colours), :mod:`~styletransfer.transfer`
(modes), :mod:`~styletransfer.pipeline` (what the CLI does), :mod:`~styletransfer.scores`
(VGG-feature scores for the sweep galleries' ``--score_with``); images are read and
written by :mod:`neural_art.images`.
"""

from neural_art import images, optim
from neural_art.images import ImageError, load_image
from neural_art.optim import NonFiniteLossError, make_optimizer, run
from styletransfer import color, losses, objective, scores, settings, transfer, vgg
from styletransfer.losses import (
    CONTENT_LAYERS,
    STYLE_LAYERS,
    content_loss,
    gatys,
    gram,
    style_loss,
    style_representation,
    style_targets,
    total_variation,
)
from styletransfer.objective import Net
from styletransfer.settings import Settings
from styletransfer.transfer import (
    Result,
    reconstruct_content,
    stylize,
    sweep,
    synthesize_texture,
)
from styletransfer.vgg import VGG16, VGG19, VGGConfig, load


def save_image(path, image):
    """Writes an ``[H, W, 3]`` image in [0, 1] as PNG (via :mod:`neural_art.images`)."""
    return images.save_image(path, image, value_range=(0.0, 1.0))


__all__ = [
    "CONTENT_LAYERS",
    "STYLE_LAYERS",
    "VGG16",
    "VGG19",
    "ImageError",
    "Net",
    "NonFiniteLossError",
    "Result",
    "Settings",
    "VGGConfig",
    "color",
    "content_loss",
    "gatys",
    "gram",
    "load",
    "load_image",
    "losses",
    "make_optimizer",
    "objective",
    "optim",
    "reconstruct_content",
    "run",
    "save_image",
    "scores",
    "settings",
    "style_loss",
    "style_representation",
    "style_targets",
    "stylize",
    "sweep",
    "synthesize_texture",
    "total_variation",
    "transfer",
    "vgg",
]
