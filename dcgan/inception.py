"""Inception-v3 as FID's feature network: pytorch-fid's ``InceptionV3([3])`` in Flax.

FID (Heusel et al. 2017, arXiv:1706.08500) and KID (Bińkowski et al. 2018,
arXiv:1801.01401) compare pool3 features (the 2048-d output of the final
average pool) of the TensorFlow Inception graph ``inception-2015-12-05``, which
pytorch-fid ported as ``pt_inception-2015-12-05-6726825d.pth``. That graph
differs from torchvision's Inception-v3 in four places, all kept here:

* ``Mixed_5b..5d`` (``FIDInceptionA``), ``Mixed_6b..6e`` (``FIDInceptionC``)
  and ``Mixed_7b`` (``FIDInceptionE_1``): the pool branch's 3x3 average pool
  excludes the zero padding from its mean (TensorFlow's ``avg_pool``);
* ``Mixed_7c`` (``FIDInceptionE_2``): the pool branch is a 3x3 *max* pool.

Input handling is pytorch-fid's default: images are bilinearly resized to
299x299 exactly as ``F.interpolate(..., mode="bilinear", align_corners=False)``
(no antialiasing; :func:`resize_bilinear`), then fed in [-1, 1] (pytorch-fid
maps its [0, 1] input by ``2x - 1``; ours is already in [-1, 1]).

Variables mirror the checkpoint's names (``Mixed_6b/branch7x7_2/conv/kernel``
for ``Mixed_6b.branch7x7_2.conv.weight``), all in ``params`` (inference only):
each ``BasicConv2d`` is a bias-free conv (HWIO) and a BatchNorm with ``eps=1e-3``
holding ``scale``, ``bias``, ``mean`` and ``var``. The 1008-way ``fc`` is not
part of the feature network. Weights: :func:`dcgan.hub.load_fid_weights` (cache, fetch)
and :mod:`weights_convert.inception` (conversion).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

FID_SIZE = 299
POOL3_DIM = 2048
BN_EPS = 1e-3  # torchvision BasicConv2d


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``[n_out, n_in]`` weights of torch's bilinear resize along one axis
    (``align_corners=False``: source ``(i + 0.5) * n_in / n_out - 0.5``, clamped at
    0), rounded as torch's CPU kernel rounds it for float32 images: a float32
    scale, ``scale * (i + 0.5) - 0.5`` fused (one rounding), float32 weights."""
    f = np.float32
    src = np.maximum((np.float64(f(n_in / n_out)) * (np.arange(n_out) + 0.5) - 0.5).astype(f), f(0))
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0.astype(f)
    m = np.zeros((n_out, n_in), np.float32)
    np.add.at(m, (np.arange(n_out), i0), 1.0 - lam)
    np.add.at(m, (np.arange(n_out), i1), lam)
    return m


def resize_bilinear(x: jax.Array, size: int = FID_SIZE) -> jax.Array:
    """``x: [B, H, W, C]`` -> ``[B, size, size, C]`` as ``F.interpolate(bilinear,
    align_corners=False)`` (separable: two small matrix products)."""
    mh = jnp.asarray(_bilinear_matrix(x.shape[1], size))
    mw = jnp.asarray(_bilinear_matrix(x.shape[2], size))
    hi = jax.lax.Precision.HIGHEST
    x = jnp.einsum("oh,bhwc->bowc", mh, x, precision=hi)
    return jnp.einsum("pw,bowc->bopc", mw, x, precision=hi)


class FrozenBN(nn.Module):
    """Inference BatchNorm: ``(x - mean) / sqrt(var + eps) * scale + bias``."""

    @nn.compact
    def __call__(self, x):
        c = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (c,))
        bias = self.param("bias", nn.initializers.zeros, (c,))
        mean = self.param("mean", nn.initializers.zeros, (c,))
        var = self.param("var", nn.initializers.ones, (c,))
        return (x - mean) * jax.lax.rsqrt(var + BN_EPS) * scale + bias


class BasicConv2d(nn.Module):
    """torchvision's ``BasicConv2d``: conv (no bias) -> BN(eps 1e-3) -> ReLU."""

    features: int
    kernel: tuple[int, int] = (1, 1)
    stride: int = 1
    padding: tuple[int, int] = (0, 0)

    @nn.compact
    def __call__(self, x):
        ph, pw = self.padding
        x = nn.Conv(self.features, self.kernel, self.stride, padding=((ph, ph), (pw, pw)),
                    use_bias=False, precision=jax.lax.Precision.HIGHEST, name="conv")(x)  # fmt: skip
        return jax.nn.relu(FrozenBN(name="bn")(x))


def avg_pool_3x3_exclude_pad(x):
    """3x3/1 average pool, padding 1, the padding not counted (TensorFlow's)."""
    pad = ((0, 0), (1, 1), (1, 1), (0, 0))
    win, one = (1, 3, 3, 1), (1, 1, 1, 1)
    s = jax.lax.reduce_window(x, 0.0, jax.lax.add, win, one, pad)
    n = jax.lax.reduce_window(jnp.ones((1, *x.shape[1:3], 1), x.dtype), 0.0, jax.lax.add,
                              win, one, pad)  # fmt: skip
    return s / n


def max_pool_3x3(x, stride: int, pad: int = 0):
    p = ((0, 0), (pad, pad), (pad, pad), (0, 0))
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, stride, stride, 1), p)


def _c(name, feats, k=1, s=1, p=0):
    kk = (k, k) if isinstance(k, int) else k
    pp = (p, p) if isinstance(p, int) else p
    return BasicConv2d(feats, kk, s, pp, name=name)


class FIDInceptionA(nn.Module):
    pool_features: int

    @nn.compact
    def __call__(self, x):
        b1 = _c("branch1x1", 64)(x)
        b5 = _c("branch5x5_2", 64, 5, p=2)(_c("branch5x5_1", 48)(x))
        b3 = _c("branch3x3dbl_1", 64)(x)
        b3 = _c("branch3x3dbl_3", 96, 3, p=1)(_c("branch3x3dbl_2", 96, 3, p=1)(b3))
        bp = _c("branch_pool", self.pool_features)(avg_pool_3x3_exclude_pad(x))
        return jnp.concatenate([b1, b5, b3, bp], -1)


class InceptionB(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = _c("branch3x3", 384, 3, s=2)(x)
        bd = _c("branch3x3dbl_2", 96, 3, p=1)(_c("branch3x3dbl_1", 64)(x))
        bd = _c("branch3x3dbl_3", 96, 3, s=2)(bd)
        return jnp.concatenate([b3, bd, max_pool_3x3(x, 2)], -1)


class FIDInceptionC(nn.Module):
    channels_7x7: int

    @nn.compact
    def __call__(self, x):
        c7 = self.channels_7x7
        b1 = _c("branch1x1", 192)(x)
        b7 = _c("branch7x7_1", c7)(x)
        b7 = _c("branch7x7_2", c7, (1, 7), p=(0, 3))(b7)
        b7 = _c("branch7x7_3", 192, (7, 1), p=(3, 0))(b7)
        bd = _c("branch7x7dbl_1", c7)(x)
        for i, (k, p, f) in enumerate([((7, 1), (3, 0), c7), ((1, 7), (0, 3), c7),
                                       ((7, 1), (3, 0), c7), ((1, 7), (0, 3), 192)]):  # fmt: skip
            bd = _c(f"branch7x7dbl_{i + 2}", f, k, p=p)(bd)
        bp = _c("branch_pool", 192)(avg_pool_3x3_exclude_pad(x))
        return jnp.concatenate([b1, b7, bd, bp], -1)


class InceptionD(nn.Module):
    @nn.compact
    def __call__(self, x):
        b3 = _c("branch3x3_2", 320, 3, s=2)(_c("branch3x3_1", 192)(x))
        b7 = _c("branch7x7x3_1", 192)(x)
        b7 = _c("branch7x7x3_2", 192, (1, 7), p=(0, 3))(b7)
        b7 = _c("branch7x7x3_3", 192, (7, 1), p=(3, 0))(b7)
        b7 = _c("branch7x7x3_4", 192, 3, s=2)(b7)
        return jnp.concatenate([b3, b7, max_pool_3x3(x, 2)], -1)


class FIDInceptionE(nn.Module):
    """``FIDInceptionE_1`` (``max_pool=False``) or ``FIDInceptionE_2`` (True)."""

    max_pool: bool = False

    @nn.compact
    def __call__(self, x):
        b1 = _c("branch1x1", 320)(x)
        b3 = _c("branch3x3_1", 384)(x)
        b3 = jnp.concatenate([_c("branch3x3_2a", 384, (1, 3), p=(0, 1))(b3),
                              _c("branch3x3_2b", 384, (3, 1), p=(1, 0))(b3)], -1)  # fmt: skip
        bd = _c("branch3x3dbl_2", 384, 3, p=1)(_c("branch3x3dbl_1", 448)(x))
        bd = jnp.concatenate([_c("branch3x3dbl_3a", 384, (1, 3), p=(0, 1))(bd),
                              _c("branch3x3dbl_3b", 384, (3, 1), p=(1, 0))(bd)], -1)  # fmt: skip
        pooled = max_pool_3x3(x, 1, 1) if self.max_pool else avg_pool_3x3_exclude_pad(x)
        bp = _c("branch_pool", 192)(pooled)
        return jnp.concatenate([b1, b3, bd, bp], -1)


class FIDInceptionV3(nn.Module):
    """``images: [B, H, W, 3]`` in [-1, 1] -> pool3 features ``[B, 2048]``.

    ``resize_input``: first resize to 299x299 (pytorch-fid's default); the
    network itself takes any side >= 75."""

    resize_input: bool = True

    @nn.compact
    def __call__(self, x):
        if self.resize_input:
            x = resize_bilinear(x, FID_SIZE)
        x = _c("Conv2d_1a_3x3", 32, 3, s=2)(x)
        x = _c("Conv2d_2a_3x3", 32, 3)(x)
        x = max_pool_3x3(_c("Conv2d_2b_3x3", 64, 3, p=1)(x), 2)
        x = _c("Conv2d_3b_1x1", 80)(x)
        x = max_pool_3x3(_c("Conv2d_4a_3x3", 192, 3)(x), 2)
        for name, pf in (("Mixed_5b", 32), ("Mixed_5c", 64), ("Mixed_5d", 64)):
            x = FIDInceptionA(pf, name=name)(x)
        x = InceptionB(name="Mixed_6a")(x)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = FIDInceptionC(c7, name=name)(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = FIDInceptionE(False, name="Mixed_7b")(x)
        x = FIDInceptionE(True, name="Mixed_7c")(x)
        return jnp.mean(x, axis=(1, 2))


def pool3(params, images: jax.Array, *, resize_input: bool = True) -> jax.Array:
    """Pure: ``images [B, H, W, 3]`` in [-1, 1] -> pool3 features ``[B, 2048]``."""
    return FIDInceptionV3(resize_input).apply({"params": params}, images)


@functools.lru_cache(maxsize=1)
def param_shapes() -> dict:
    """Nested ``{module: {...: shape}}`` of the feature network (no compute)."""
    abstract = jax.eval_shape(
        lambda: FIDInceptionV3(False).init(jax.random.key(0), jnp.zeros((1, 75, 75, 3)))
    )
    return jax.tree.map(lambda a: tuple(a.shape), abstract["params"])


def random_params(key: jax.Array) -> dict:
    """Fixed random weights of the same network (He-normal kernels, identity BN):
    ``eval.features="random-inception"`` (cost benchmarks, smoke runs), whose
    numbers are never named FID/KID (:mod:`dcgan.evaluate`)."""
    shapes = param_shapes()
    leaves, tree = jax.tree.flatten(shapes, is_leaf=lambda s: isinstance(s, tuple))
    keys = iter(jax.random.split(key, len(leaves)))
    paths = [p for p, _ in jax.tree_util.tree_flatten_with_path(
        shapes, is_leaf=lambda s: isinstance(s, tuple))[0]]  # fmt: skip
    out = []
    for path, shape in zip(paths, leaves):
        leaf, k = str(path[-1].key), next(keys)
        if leaf == "kernel":
            fan_in = shape[0] * shape[1] * shape[2]
            out.append(jax.random.normal(k, shape) * np.sqrt(2.0 / fan_in))
        else:
            out.append(jnp.ones(shape) if leaf in ("scale", "var") else jnp.zeros(shape))
    return jax.tree.unflatten(tree, out)
