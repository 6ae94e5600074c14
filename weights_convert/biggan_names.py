"""BigGAN-deep's one name table: our param path <-> reference torch name <-> TF-Hub name.

Both converters (:mod:`weights_convert.biggan` for the PyTorch ``.bin``,
:mod:`weights_convert.biggan_tfhub` for TF-Hub) read through it, so a TF-Hub
conversion and a ``.bin`` conversion of the same weights give the same params.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from biggan_jax.configs import BigGANConfig, BlockSpec

_T = lambda a: np.ascontiguousarray(a.T)  # linear weight [out, in] -> kernel [in, out]
_CONV = lambda a: np.ascontiguousarray(a.transpose(2, 3, 1, 0))  # OIHW -> HWIO
_CONV_INV = lambda a: np.ascontiguousarray(a.transpose(3, 2, 0, 1))
_ID = lambda a: np.ascontiguousarray(a)


def _conv_v(kernel_shape):  # torch v over (I, kh, kw) -> ours over (kh, kw, I)
    kh, kw, i, _ = kernel_shape
    return lambda a: np.ascontiguousarray(a.reshape(i, kh, kw).transpose(1, 2, 0))


def _conv_v_inv(kernel_shape):
    return lambda a: np.ascontiguousarray(a.transpose(2, 0, 1).reshape(-1))


@dataclasses.dataclass(frozen=True)
class Entry:
    """One tensor: where it lives in our tree, its torch name and TF-Hub name."""

    path: tuple[str, ...]  # (collection, module..., leaf)
    shape: tuple[int, ...]  # our shape
    torch: str
    torch_shape: tuple[int, ...]
    from_torch: Callable[[np.ndarray], np.ndarray]
    to_torch: Callable[[np.ndarray], np.ndarray]
    tf: str | None  # None: not a TF variable (v, stats)


def _same(path, shape, torch, tf=None) -> Entry:
    return Entry(path, shape, torch, shape, _ID, _ID, tf)


def _linear(mod, pt, tf, fan_in, fan_out, bias) -> list[Entry]:
    out = [Entry(("params", *mod, "kernel"), (fan_in, fan_out), f"{pt}.weight_orig",
                 (fan_out, fan_in), _T, _T, f"{tf}w/ema_0.9999")]  # fmt: skip
    if bias:
        out.append(_same(("params", *mod, "bias"), (fan_out,), f"{pt}.bias", f"{tf}b/ema_0.9999"))
    out.append(_same(("spectral", *mod, "u"), (fan_out,), f"{pt}.weight_u", f"{tf}u0"))
    out.append(_same(("spectral", *mod, "v"), (fan_in,), f"{pt}.weight_v"))
    return out


def _conv(mod, pt, tf, k, cin, cout, bias) -> list[Entry]:
    ks = (k, k, cin, cout)
    out = [Entry(("params", *mod, "kernel"), ks, f"{pt}.weight_orig", (cout, cin, k, k), _CONV,
                 _CONV_INV, f"{tf}w/ema_0.9999")]  # fmt: skip
    if bias:
        out.append(_same(("params", *mod, "bias"), (cout,), f"{pt}.bias", f"{tf}b/ema_0.9999"))
    out.append(_same(("spectral", *mod, "u"), (cout,), f"{pt}.weight_u", f"{tf}u0"))
    out.append(Entry(("spectral", *mod, "v"), (k, k, cin), f"{pt}.weight_v", (cin * k * k,),
                     _conv_v(ks), _conv_v_inv(ks), None))  # fmt: skip
    return out


def _stats(cfg: BigGANConfig, mod, pt, c) -> list[Entry]:
    return [_same(("batch_stats", *mod, n), (cfg.n_stats, c), f"{pt}.{n}")
            for n in ("running_means", "running_vars")]  # fmt: skip


def _attention(spec: BlockSpec, pt: str) -> list[Entry]:
    tf, c, name = "Generator/attention/", spec.in_ch, spec.name
    out = []
    for sub, tfsub, ci, co in (("snconv1x1_theta", "theta", c, c // 8), ("snconv1x1_phi", "phi", c, c // 8),
                               ("snconv1x1_g", "g", c, c // 2), ("snconv1x1_o_conv", "o_conv", c // 2, c)):  # fmt: skip
        out += _conv((name, sub), f"{pt}.{sub}", f"{tf}{tfsub}/", 1, ci, co, False)
    out.append(_same(("params", name, "gamma"), (1,), f"{pt}.gamma", f"{tf}gamma/ema_0.9999"))
    return out


def _gblock(cfg: BigGANConfig, spec: BlockSpec, pt: str, tf: str) -> list[Entry]:
    name, mid = spec.name, spec.mid_ch
    chans = (spec.in_ch, mid, mid, mid)
    out = []
    for i in range(4):
        bn_tf = tf + ("BatchNorm/" if i == 0 else f"BatchNorm_{i}/")
        for part in ("scale", "offset"):
            out += _linear((name, f"bn_{i}", part), f"{pt}.bn_{i}.{part}", f"{bn_tf}{part}/",
                           cfg.cond_dim, chans[i], False)  # fmt: skip
        out += _stats(cfg, (name, f"bn_{i}"), f"{pt}.bn_{i}", chans[i])
    for i, (kk, ci, co) in enumerate(
        ((1, spec.in_ch, mid), (3, mid, mid), (3, mid, mid), (1, mid, spec.out_ch))
    ):
        out += _conv((name, f"conv_{i}"), f"{pt}.conv_{i}", f"{tf}conv{i}/", kk, ci, co, True)
    return out


def name_table(cfg: BigGANConfig) -> list[Entry]:
    """Every tensor of the model, in the reference's order (the TF-Hub module's
    BN statistics come in this order too)."""
    ch = cfg.channel_width
    out = [Entry(("params", "embeddings"), (cfg.num_classes, cfg.class_embed_dim), "embeddings.weight",
                 (cfg.class_embed_dim, cfg.num_classes), _T, _T, "linear/w/ema_0.9999")]  # fmt: skip
    out += _linear(("gen_z",), "generator.gen_z", "Generator/GenZ/G_linear/", cfg.cond_dim,
                   16 * 16 * ch, True)  # fmt: skip
    gblock = 0
    for k, spec in enumerate(cfg.blocks()):
        pt = f"generator.layers.{k}"
        if spec.kind == "attention":
            out += _attention(spec, pt)
            continue
        tf = "Generator/GBlock/" if gblock == 0 else f"Generator/GBlock_{gblock}/"
        gblock += 1
        out += _gblock(cfg, spec, pt, tf)
    out.append(_same(("params", "bn", "weight"), (ch,), "generator.bn.weight",
                     "Generator/BatchNorm/scale/ema_0.9999"))  # fmt: skip
    out.append(_same(("params", "bn", "bias"), (ch,), "generator.bn.bias",
                     "Generator/BatchNorm/offset/ema_0.9999"))  # fmt: skip
    out += _stats(cfg, ("bn",), "generator.bn", ch)
    out += _conv(("conv_to_rgb",), "generator.conv_to_rgb", "Generator/conv_to_rgb/", 3, ch, ch, True)
    return out


def set_leaf(tree: dict, path: tuple[str, ...], value) -> None:
    """``tree[path[0]][path[1]]... = value``, creating the dicts on the way."""
    for p in path[:-1]:
        tree = tree.setdefault(p, {})
    tree[path[-1]] = value


def get_leaf(tree, path: tuple[str, ...]):
    """``tree[path[0]][path[1]]...``."""
    for p in path:
        tree = tree[p]
    return tree
