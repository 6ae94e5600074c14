"""The three key layouts of VGG state dicts in the wild, and their conversion to
our params (:mod:`styletransfer.vggnet`).

* ``torchvision`` -- ``vgg16-397923af.pth`` / ``vgg19-dcbb9e9d.pth`` (and
  ProGamerGov/neural-style-pt's renamed copies of the Caffe models):
  ``features.N.{weight,bias}`` (OIHW) and ``classifier.{0,3,6}`` for fc6..fc8
  (``[out, in]``); the name table is :func:`styletransfer.vggnet.torch_names`.
* ``jcjohnson`` -- jcjohnson/pytorch-vgg's conversions of the Caffe models
  (``vgg19-d01eb7cb.pth``, ``vgg16-00b39a1b.pth``): the same ``features.N``, and
  the early torchvision head ``classifier.{1,4,6}`` (a Dropout first).
* ``gatys`` -- Gatys et al.'s ``vgg_conv.pth``: conv layers only, keyed by the
  paper's names ``conv1_1.weight`` ... ``conv5_4.bias`` (32 tensors for VGG-19).

fc6 reads the pooled ``[C, 7, 7]`` map flattened in NCHW order (c, h, w); ours
flattens NHWC (h, w, c), so its input axis is permuted. A state dict with no
head tensors at all converts to features-only params. Checks are strict both
ways and name tensors as the file does.
"""

from __future__ import annotations

import re

import numpy as np

from neural_art.errors import UserError
from styletransfer.vggnet import CONFIGS, VGGConfig, at_width, param_shapes, torch_names
from weights_convert.torch_io import check_tensors

LAYOUTS = ("torchvision", "jcjohnson", "gatys")
# the input convention each layout's files were trained with, unless --preprocessing says otherwise
DEFAULT_PREPROCESSING = {"torchvision": "torchvision", "jcjohnson": "caffe", "gatys": "caffe"}
_GATYS_KEY = re.compile(r"conv\d_\d\.(weight|bias)")


def detect_layout(sd) -> str:
    """``gatys`` if any key is ``convB_L.*``, ``jcjohnson`` if the head is
    ``classifier.1/.4``, else ``torchvision``."""
    if any(_GATYS_KEY.fullmatch(k) for k in sd):
        return "gatys"
    if any(k.startswith(("classifier.1.", "classifier.4.")) for k in sd):
        return "jcjohnson"
    return "torchvision"


def source_names(cfg: VGGConfig, layout: str) -> dict[str, str]:
    """Our layer name -> the layout's module prefix (``conv1_1`` -> ``features.0``)."""
    if layout == "gatys":
        return {n: n for n in cfg.conv_names}
    names = torch_names(cfg)
    if layout == "jcjohnson":
        names.update({"fc6": "classifier.1", "fc7": "classifier.4"})
    elif layout != "torchvision":
        raise UserError(f"unknown VGG key layout {layout!r}; known: {', '.join(LAYOUTS)}")
    return names


def has_head(sd, layout: str) -> bool:
    return layout != "gatys" and any(k.startswith("classifier.") for k in sd)


def source_shapes(cfg: VGGConfig, layout: str, *, head: bool = True) -> dict[str, tuple[int, ...]]:
    """State-dict name -> shape, in ``layout``'s names."""
    names = source_names(cfg, layout)
    out = {}
    for layer, leaves in param_shapes(cfg, head=head and layout != "gatys").items():
        k = leaves["kernel"]
        out[f"{names[layer]}.weight"] = (k[3], k[2], k[0], k[1]) if len(k) == 4 else (k[1], k[0])
        out[f"{names[layer]}.bias"] = leaves["bias"]
    return out


def detect_config(sd, name: str | None = None) -> VGGConfig:
    """vgg16 or vgg19 (``name``, else from the number of conv weights in ``sd``, any
    layout) at the channel width of the first conv (:func:`at_width`; 64: the real one)."""
    n = sum(1 for k in sd if k.endswith(".weight")
            and (k.startswith("features.") or _GATYS_KEY.fullmatch(k)))  # fmt: skip
    found = CONFIGS.get(name) or next((c for c in CONFIGS.values() if len(c.conv_names) == n), None)
    if found is None:
        raise UserError(f"{n} conv weights: not a VGG-16 (13) or VGG-19 (16) state dict in any of "
                        f"the layouts {', '.join(LAYOUTS)}")  # fmt: skip
    first = sd.get("conv1_1.weight", sd.get("features.0.weight"))
    width = int(np.shape(first)[0]) if first is not None and np.ndim(first) == 4 else 64
    return at_width(found, width)


def from_state_dict(
    cfg: VGGConfig, sd, *, layout: str | None = None, source: str = "state dict"
) -> dict:
    """A state dict (numpy) in ``layout`` (default: detected) -> ``{layer: {"kernel", "bias"}}``.

    Strict both ways: every missing, unexpected or misshapen tensor is named."""
    layout = layout or detect_layout(sd)
    head = has_head(sd, layout)
    check_tensors(source_shapes(cfg, layout, head=head), sd, source=source)
    names = source_names(cfg, layout)
    params = {}
    for layer in param_shapes(cfg, head=head):
        w = np.asarray(sd[f"{names[layer]}.weight"], np.float32)
        b = np.asarray(sd[f"{names[layer]}.bias"], np.float32)
        if layer.startswith("conv"):
            k = w.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        elif layer == "fc6":
            c, s = cfg.widths[-1], cfg.pool_size
            # [out, c*s*s] (c, h, w order) -> [h, w, c, out] -> [(h, w, c), out]
            k = w.reshape(-1, c, s, s).transpose(2, 3, 1, 0).reshape(s * s * c, -1)
        else:
            k = w.T
        params[layer] = {"kernel": np.ascontiguousarray(k), "bias": b}
    return params


def to_state_dict(cfg: VGGConfig, params, *, layout: str = "torchvision") -> dict[str, np.ndarray]:
    """Inverse of :func:`from_state_dict` (tests, export); ``gatys`` drops the head."""
    names = source_names(cfg, layout)
    out = {}
    for layer, p in params.items():
        if layer not in names:
            continue
        k = np.asarray(p["kernel"], np.float32)
        if layer.startswith("conv"):
            w = k.transpose(3, 2, 0, 1)
        elif layer == "fc6":
            c, s = cfg.widths[-1], cfg.pool_size
            w = k.reshape(s, s, c, -1).transpose(3, 2, 0, 1).reshape(k.shape[1], -1)
        else:
            w = k.T
        out[f"{names[layer]}.weight"] = np.ascontiguousarray(w)
        out[f"{names[layer]}.bias"] = np.asarray(p["bias"], np.float32)
    return out
