"""VGG-16 and VGG-19 (Simonyan & Zisserman, arXiv:1409.1556) as pure JAX functions.

    from styletransfer import vgg
    cfg, params = vgg.load("vgg19")                     # download + convert once (styletransfer.hub)
    logits, feats = vgg.apply(cfg, params, images, layers=("relu4_2", "conv5_1"))
    # images: [B, H, W, 3] float32 RGB in [0, 1]; feats["relu4_2"]: [B, H/8, W/8, 512]

Architecture and layout follow torchvision's ``vgg16`` / ``vgg19`` (the
weights of ``vgg16-397923af.pth`` / ``vgg19-dcbb9e9d.pth``): 3x3 convs with
padding 1, ReLU, 2x2 stride-2 pooling, adaptive average pooling to 7x7, then
``Linear(25088, 4096)-ReLU-Dropout-Linear(4096, 4096)-ReLU-Dropout-Linear(4096, 1000)``
(dropout is the identity at inference). Images are RGB in [0, 1], turned
inside into the weights' own input convention (``cfg.preprocessing``:
torchvision's ImageNet mean/std, or Caffe's BGR x255 minus the mean pixel;
:mod:`styletransfer.preprocessing`).

The architecture is the Flax module :class:`VGG`; :func:`apply` runs it as a
pure function of a plain params pytree ``{layer: {"kernel", "bias"}}`` (Flax's
conventions: conv kernels HWIO, dense kernels ``[in, out]``). Name table (VGG-19; VGG-16
drops conv3_4, conv4_4, conv5_4 and its indices shift accordingly; see
:func:`torch_names`)::

    features.0  conv1_1    features.19 conv4_1
    features.2  conv1_2    features.21 conv4_2
    features.5  conv2_1    features.23 conv4_3
    features.7  conv2_2    features.25 conv4_4
    features.10 conv3_1    features.28 conv5_1
    features.12 conv3_2    features.30 conv5_2
    features.14 conv3_3    features.32 conv5_3
    features.16 conv3_4    features.34 conv5_4
    classifier.0 fc6   classifier.3 fc7   classifier.6 fc8

The only unavoidable rename besides the indices: fc6's input axis is
flattened from NHWC here (h, w, c) but from NCHW in torchvision (c, h, w);
:mod:`weights_convert.vgg` permutes it.

Feature keys: ``convB_L`` (pre-ReLU), ``reluB_L``, ``poolB`` for every block,
then ``fc6``, ``relu6``, ``fc7``, ``relu7``, ``fc8`` (= logits). Computation
stops at the deepest layer requested; any input size works for the conv
features (pool5 needs >= 32 px), the head accepts any size too through the
adaptive 7x7 average pool (as torchvision), and is exact at 224².
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from neural_art import pooling
from neural_art.errors import UserError
from neural_art.vgg_features import block_layer_names
from styletransfer.preprocessing import TORCHVISION, Preprocessing, preprocess



@dataclasses.dataclass(frozen=True)
class VGGConfig:
    """One VGG variant.

    Attributes:
      name: ``vgg16`` / ``vgg19`` (or a test name).
      convs_per_block: 3x3 convs in each of the 5 blocks.
      widths: output channels of each block.
      hidden: width of fc6 / fc7.
      num_classes: outputs of fc8.
      pool_size: side of the adaptive average pool before fc6.
      preprocessing: the weights' input convention (:mod:`styletransfer.preprocessing`),
        applied by :func:`apply` to RGB [0, 1] images; read from a converted
        directory's metadata.
    """

    name: str
    convs_per_block: tuple[int, ...]
    widths: tuple[int, ...] = (64, 128, 256, 512, 512)
    hidden: int = 4096
    num_classes: int = 1000
    pool_size: int = 7
    preprocessing: Preprocessing = TORCHVISION

    def replace(self, **kw) -> VGGConfig:
        return dataclasses.replace(self, **kw)

    @property
    def conv_names(self) -> tuple[str, ...]:
        return tuple(
            f"conv{b + 1}_{i + 1}" for b, n in enumerate(self.convs_per_block) for i in range(n)
        )

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Every feature key, in forward order."""
        return (*block_layer_names(self.convs_per_block), "fc6", "relu6", "fc7", "relu7", "fc8")


# Simonyan & Zisserman Table 1, configurations D (VGG-16) and E (VGG-19);
# torchvision.models.vgg ``cfgs["D"]`` / ``cfgs["E"]``.
VGG16 = VGGConfig("vgg16", (2, 2, 3, 3, 3))
VGG19 = VGGConfig("vgg19", (2, 2, 4, 4, 4))
CONFIGS: dict[str, VGGConfig] = {"vgg16": VGG16, "vgg19": VGG19}

HEAD_LAYERS = ("fc6", "relu6", "fc7", "relu7", "fc8")


def at_width(cfg: VGGConfig, width: int) -> VGGConfig:
    """``cfg`` at channel width ``width`` (the ``random:vgg16:W`` spec): block widths
    ``W, 2W, 4W, 8W, 8W`` and fc6/fc7 ``64W`` (``width=64`` is the real network);
    the classes, layer names and feature keys are unchanged. Named ``<name>-w<W>``
    so that weights of another width are never taken for the release."""
    if width < 1:
        raise UserError(f"VGG width must be >= 1, got {width}")
    if width == 64:
        return cfg
    return cfg.replace(
        name=f"{cfg.name}-w{width}",
        widths=tuple(w * width // 64 for w in cfg.widths),
        hidden=cfg.hidden * width // 64,
    )


def get_config(name: str) -> VGGConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise UserError(f"unknown VGG config {name!r}; known: {', '.join(CONFIGS)}") from None


def torch_names(cfg: VGGConfig) -> dict[str, str]:
    """Our layer name -> torchvision module prefix (``conv1_1`` -> ``features.0``)."""
    out, idx = {}, 0
    for b, n in enumerate(cfg.convs_per_block):
        for i in range(n):
            out[f"conv{b + 1}_{i + 1}"] = f"features.{idx}"
            idx += 2  # conv, ReLU
        idx += 1  # MaxPool2d
    out.update({"fc6": "classifier.0", "fc7": "classifier.3", "fc8": "classifier.6"})
    return out


def param_shapes(cfg: VGGConfig, *, head: bool = True) -> dict[str, dict[str, tuple[int, ...]]]:
    """The params tree's shapes: ``{layer: {"kernel": ..., "bias": ...}}``."""
    out, cin = {}, 3
    for b, n in enumerate(cfg.convs_per_block):
        for i in range(n):
            cout = cfg.widths[b]
            out[f"conv{b + 1}_{i + 1}"] = {"kernel": (3, 3, cin, cout), "bias": (cout,)}
            cin = cout
    if head:
        flat = cfg.pool_size * cfg.pool_size * cin
        for name, fi, fo in (
            ("fc6", flat, cfg.hidden),
            ("fc7", cfg.hidden, cfg.hidden),
            ("fc8", cfg.hidden, cfg.num_classes),
        ):
            out[name] = {"kernel": (fi, fo), "bias": (fo,)}
    return out


def init_params(cfg: VGGConfig, key: jax.Array, *, head: bool = True) -> dict:
    """Random params as torchvision initialises VGG: convs Kaiming-normal
    (fan_out, ReLU gain), linears N(0, 0.01), biases 0."""
    shapes = param_shapes(cfg, head=head)
    sizes = [int(np.prod(s["kernel"])) for s in shapes.values()]
    flat = jax.random.normal(key, (sum(sizes),), jnp.float32)  # one draw: one compile
    params, off = {}, 0
    for (name, s), size in zip(shapes.items(), sizes, strict=True):
        ks = s["kernel"]
        std = np.sqrt(2.0 / (ks[0] * ks[1] * ks[3])) if name.startswith("conv") else 0.01
        params[name] = {
            "kernel": std * flat[off : off + size].reshape(ks),
            "bias": jnp.zeros(s["bias"], jnp.float32),
        }
        off += size
    return params


def check_params(cfg: VGGConfig, params, *, source: str = "params") -> None:
    """Raises ``ValueError`` naming every missing/unexpected/misshapen tensor.

    The head (fc6..fc8) may be absent as a whole (features-only weights)."""
    head = any(n in params for n in HEAD_LAYERS)
    want = param_shapes(cfg, head=head)
    errs = []
    for name, leaves in want.items():
        for leaf, shape in leaves.items():
            got = params.get(name, {}).get(leaf)
            if got is None:
                errs.append(f"missing {name}/{leaf} {shape}")
            elif tuple(np.shape(got)) != shape:
                errs.append(f"{name}/{leaf}: expected {shape}, got {tuple(np.shape(got))}")
    for name in params:
        if name not in want:
            errs.append(f"unexpected {name}")
        else:
            errs += [f"unexpected {name}/{leaf}" for leaf in params[name] if leaf not in want[name]]
    if errs:
        raise UserError(f"{source} does not match {cfg.name}:\n  " + "\n  ".join(errs))


def normalize(images: jax.Array, prep: Preprocessing) -> jax.Array:
    """``[..., 3]`` RGB in [0, 1] -> the input of weights of convention ``prep``
    (``cfg.preprocessing``: no default, so that no caller feeds Caffe weights
    torchvision's input)."""
    return preprocess(prep, images)


def _pool(x, kind: str):
    if kind == "max":
        return pooling.max_pool_2x2(x)
    if kind == "avg":
        return pooling.avg_pool_2x2(x)
    raise UserError(f"pooling must be 'max' or 'avg', got {kind!r}")


def _adaptive_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Averaging matrix of torch's ``adaptive_avg_pool``: bin i covers
    ``[floor(i*n_in/n_out), ceil((i+1)*n_in/n_out))``."""
    m = np.zeros((n_out, n_in), np.float32)
    for i in range(n_out):
        lo, hi = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def adaptive_avg_pool(x: jax.Array, size: int) -> jax.Array:
    """``[B, H, W, C]`` -> ``[B, size, size, C]`` as ``torch.nn.AdaptiveAvgPool2d``."""
    h, w = x.shape[1:3]
    if (h, w) == (size, size):
        return x
    mh, mw = _adaptive_matrix(h, size), _adaptive_matrix(w, size)
    return jnp.einsum("ih,jw,bhwc->bijc", mh, mw, x, precision=jax.lax.Precision.HIGHEST).astype(
        x.dtype
    )


def pool5_side(cfg: VGGConfig, side: int) -> int:
    """Side of pool5's map for an input side (each 2x2 pool floors)."""
    for _ in cfg.convs_per_block:
        side //= 2
    return side


@functools.partial(jax.jit, static_argnums=2)
def _fold_fc6(w: jax.Array, a: np.ndarray, channels: int) -> jax.Array:
    """fc6's ``[P*P*C, O]`` kernel -> ``[s*s*C, O]``: ``sum_ij a[i, h] a[j, w] W[i, j]``."""
    p, s = a.shape
    k = w.astype(jnp.float32).reshape(p, p, channels, w.shape[-1])
    k = jnp.einsum("ih,jw,ijco->hwco", a, a, k, precision=jax.lax.Precision.HIGHEST)
    return k.reshape(s * s * channels, -1).astype(w.dtype)


def fold_head(cfg: VGGConfig, params, image_hw: tuple[int, int]):
    """``(cfg', params')`` computing the same logits for ``image_hw`` inputs with
    the adaptive average pool folded into fc6.

    Below 224² pool5 is ``s x s`` with ``s < 7`` and the 7x7 adaptive pool only
    averages/replicates it, so ``fc6 . pool`` is one linear map of pool5 with an
    ``s*s*512``-row kernel instead of 25,088 rows: ``W'[h, w] = sum_ij A[i, h]
    A[j, w] W[i, j]`` (``A`` the pool's averaging matrix). Equal up to float
    rounding; fc6's kernel read dominates the head's cost at small sizes (VGG-16,
    64², batch 8: ~26% of forward + gradient). ``cfg'`` has ``pool_size = s``, so
    its head accepts only ``image_hw`` inputs. Unchanged where nothing folds:
    non-square pool5, ``s >= 7``, or no head in ``params``.
    """
    s = pool5_side(cfg, image_hw[0])
    if "fc6" not in params or s != pool5_side(cfg, image_hw[1]) or not 0 < s < cfg.pool_size:
        return cfg, params
    a = _adaptive_matrix(s, cfg.pool_size)  # [7, s]
    fc6 = {**params["fc6"], "kernel": _fold_fc6(params["fc6"]["kernel"], a, cfg.widths[-1])}
    return cfg.replace(pool_size=s), {**params, "fc6": fc6}


class VGG(nn.Module):
    """The network as a Flax (Linen) module; :func:`apply` is its pure-function face.

    Submodules are named as the paper/torchvision layers (``conv1_1`` ...
    ``conv5_4``, ``fc6``, ``fc7``, ``fc8``), so ``{"params": params}`` with the
    pytree of :func:`param_shapes` is its variables. ``want`` are the feature
    keys to record and ``depth`` the index (in ``cfg.layer_names``) after which
    to stop: submodules past it are never called, so their params may be absent.
    Returns ``(logits_or_None, features)``.
    """

    cfg: VGGConfig
    want: frozenset[str]
    depth: int
    pooling: str = "max"
    dtype: Any = None  # computation dtype (default: the input's)

    def _conv(self, name, x):
        return nn.Conv(
            self._width(name), (3, 3), padding=((1, 1), (1, 1)), dtype=self.dtype,
            precision=jax.lax.Precision.HIGHEST, name=name,
        )(x)  # fmt: skip

    def _width(self, name: str) -> int:
        return self.cfg.widths[int(name[4]) - 1]

    def _dense(self, name, width, x):
        return nn.Dense(width, dtype=self.dtype, precision=jax.lax.Precision.HIGHEST, name=name)(x)

    @nn.compact
    def __call__(self, images: jax.Array):
        names = self.cfg.layer_names
        feats: dict[str, jax.Array] = {}

        def record(name, value):
            if name in self.want:
                feats[name] = value
            return names.index(name) >= self.depth  # done?

        x = normalize(images, self.cfg.preprocessing)
        for b, n in enumerate(self.cfg.convs_per_block):
            for i in range(n):
                s = f"{b + 1}_{i + 1}"
                x = self._conv(f"conv{s}", x)
                if record(f"conv{s}", x):
                    return None, feats
                x = jax.nn.relu(x)
                if record(f"relu{s}", x):
                    return None, feats
            x = _pool(x, self.pooling)
            if record(f"pool{b + 1}", x):
                return None, feats
        x = adaptive_avg_pool(x, self.cfg.pool_size).reshape(x.shape[0], -1)
        for k in (6, 7):
            x = self._dense(f"fc{k}", self.cfg.hidden, x)
            if record(f"fc{k}", x):
                return None, feats
            x = jax.nn.relu(x)
            if record(f"relu{k}", x):
                return None, feats
        logits = self._dense("fc8", self.cfg.num_classes, x)
        record("fc8", logits)
        return logits, feats


def apply(
    cfg: VGGConfig,
    params,
    images: jax.Array,
    layers: Sequence[str] | None = None,
    *,
    pooling: str = "max",
    head: bool = False,
) -> tuple[jax.Array | None, dict[str, jax.Array]]:
    """Runs VGG on ``images`` and returns ``(logits_or_None, features)``.

    Args:
      cfg: the variant.
      params: ``{layer: {"kernel", "bias"}}`` (see :func:`param_shapes`).
      images: ``[B, H, W, 3]`` float RGB in [0, 1] (``cfg.preprocessing`` applied inside); the
        computation runs in the images' dtype (e.g. bfloat16).
      layers: feature keys to return (see :attr:`VGGConfig.layer_names`).
        Computation stops at the deepest one. ``None``: every conv-part layer
        (and the head's, if ``head``).
      pooling: ``"max"`` (torchvision) or ``"avg"`` (Gatys et al.).
      head: run the classifier to the logits even if no head layer is asked.

    Returns:
      ``logits`` ``[B, num_classes]`` if fc8 was computed, else None; and the
      requested features (NHWC for conv layers, ``[B, F]`` for the head).
    """
    names = cfg.layer_names
    if images.ndim != 4 or images.shape[-1] != 3:
        raise UserError(f"images must be [B, H, W, 3], got shape {images.shape}")
    if pooling not in ("max", "avg"):
        raise UserError(f"pooling must be 'max' or 'avg', got {pooling!r}")
    if layers is None:
        want = set(names) if head else {n for n in names if n not in HEAD_LAYERS}
    else:
        want = set(layers)
        bad = sorted(want - set(names))
        if bad:
            raise UserError(f"unknown {cfg.name} layer(s) {bad}; known: {', '.join(names)}")
    depth = len(names) - 1 if head else (max(names.index(n) for n in want) if want else -1)
    if depth >= names.index("fc6") and "fc6" not in params:
        raise UserError(f"{cfg.name} params have no classifier head (features-only weights): "
                        f"{names[depth]} needs it")
    module = VGG(cfg, frozenset(want), depth, pooling, images.dtype)
    return module.apply({"params": params}, images)


def features_fn(cfg: VGGConfig, layers: Sequence[str], *, pooling: str = "max"):
    """``f(params, images) -> features`` for fixed layers (a closure, jit-friendly)."""
    layers = tuple(layers)
    return functools.partial(_features, cfg, layers, pooling)


def _features(cfg, layers, pooling, params, images):
    return apply(cfg, params, images, layers, pooling=pooling)[1]
