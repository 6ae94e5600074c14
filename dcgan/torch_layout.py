"""pytorch/examples ``dcgan`` state-dict names <-> our Flax variables (numpy only).

pytorch/examples builds both nets as ``nn.Sequential`` named ``main``, so the
state-dict names are layer indices: G is ``[ConvT, BN, act] * n_up + [ConvT,
Tanh]`` and D is ``Conv, LReLU, [Conv, BN, LReLU] * (n_up - 1), Conv, Sigmoid``.
Renames (the only ones):

* ``main.{j}.weight`` of a ConvTranspose2d ``[in, out, kh, kw]`` -> ``convt{i}/kernel``
  ``[kh, kw, in, out]``; of a Conv2d ``[out, in, kh, kw]`` -> ``conv{i}/kernel`` (HWIO).
* BN ``weight``/``bias``/``running_mean``/``running_var`` -> ``bn{i}`` ``scale``/
  ``bias`` (params) and ``mean``/``var`` (batch_stats); ``num_batches_tracked``
  is ignored (momentum is fixed at 0.1).
* D's final ``Conv2d(C, 1, 4, 1, 0)`` on the 4x4 map is a dense layer:
  ``[1, C, 4, 4]`` -> ``head/kernel`` ``[4*4*C, 1]`` flattened in (h, w, c) order.

A ``module.`` prefix (``nn.DataParallel``) is stripped. File reading and the
strict tensor check live in :mod:`weights_convert` (torch is needed there only).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dcgan.model import DCGANConfig
from neural_art.errors import UserError

Row = tuple[str, str, tuple, str]  # (torch name, our path "coll/layer/leaf", torch shape, kind)
IGNORED = ("num_batches_tracked",)


def generator_table(cfg: DCGANConfig) -> list[Row]:
    rows, j, cin = [], 0, cfg.nz
    for i, w in enumerate(cfg.g_widths()):
        rows.append((f"main.{j}.weight", f"params/convt{i}/kernel", (cin, w, 4, 4), "convt"))
        rows += _bn_rows(f"main.{j + 1}", f"bn{i}", w)
        j += 3
        cin = w
    rows.append(
        (f"main.{j}.weight", f"params/convt{cfg.n_up}/kernel", (cin, cfg.nc, 4, 4), "convt")
    )
    return rows


def discriminator_table(cfg: DCGANConfig) -> list[Row]:
    rows, j, cin = [], 0, cfg.nc
    for i, w in enumerate(cfg.d_widths()):
        rows.append((f"main.{j}.weight", f"params/conv{i}/kernel", (w, cin, 4, 4), "conv"))
        if i == 0:
            j += 2
        else:
            rows += _bn_rows(f"main.{j + 1}", f"bn{i}", w)
            j += 3
        cin = w
    rows.append((f"main.{j}.weight", "params/head/kernel", (1, cin, 4, 4), "head"))
    if cfg.head_bias:
        rows.append((f"main.{j}.bias", "params/head/bias", (1,), "id"))
    return rows


def _bn_rows(pt, ours, c):
    return [
        (f"{pt}.weight", f"params/{ours}/scale", (c,), "id"),
        (f"{pt}.bias", f"params/{ours}/bias", (c,), "id"),
        (f"{pt}.running_mean", f"batch_stats/{ours}/mean", (c,), "id"),
        (f"{pt}.running_var", f"batch_stats/{ours}/var", (c,), "id"),
    ]


def shapes(table: list[Row]) -> dict[str, tuple]:
    """torch name -> torch shape, for a strict check of a state dict."""
    return {t: s for t, _, s, _ in table}


def strip_prefix(sd: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k.removeprefix("module."): v for k, v in sd.items()}


_FROM = {
    "convt": lambda a: a.transpose(2, 3, 0, 1),  # [in, out, kh, kw] -> [kh, kw, in, out]
    "conv": lambda a: a.transpose(2, 3, 1, 0),  # [out, in, kh, kw] -> HWIO
    "head": lambda a: a[0].transpose(1, 2, 0).reshape(-1, 1),  # [1, C, 4, 4] -> [(h w c), 1]
    "id": lambda a: a,
}
_TO = {
    "convt": lambda a: a.transpose(2, 3, 0, 1),
    "conv": lambda a: a.transpose(3, 2, 0, 1),
    "id": lambda a: a,
}


def from_torch(table: list[Row], sd: Mapping[str, np.ndarray]) -> dict:
    """A (checked, prefix-stripped) state dict -> ``{"params", "batch_stats"}``."""
    out: dict = {}
    for t, path, _, kind in table:
        node = out
        *parents, leaf = path.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = np.array(_FROM[kind](np.asarray(sd[t], np.float32)), copy=True, order="C")
    return out


def to_torch(table: list[Row], variables) -> dict[str, np.ndarray]:
    """Inverse of :func:`from_torch` (export to pytorch/examples)."""
    out = {}
    for t, path, shape, kind in table:
        a = variables
        for p in path.split("/"):
            a = a[p]
        a = np.asarray(a, np.float32)
        if kind == "head":
            a = a[:, 0].reshape(4, 4, shape[1]).transpose(2, 0, 1)[None]
        else:
            a = _TO[kind](a)
        out[t] = np.ascontiguousarray(a)
    return out


def generator_from_torch(cfg: DCGANConfig, sd: Mapping[str, np.ndarray]) -> dict:
    """pytorch/examples ``netG`` state dict (numpy) -> ``{"params", "batch_stats"}``
    (no strict check: :mod:`weights_convert.dcgan` checks files)."""
    return from_torch(generator_table(cfg), strip_prefix(sd))


def discriminator_from_torch(cfg: DCGANConfig, sd: Mapping[str, np.ndarray]) -> dict:
    return from_torch(discriminator_table(cfg), strip_prefix(sd))


def generator_to_torch(cfg: DCGANConfig, variables) -> dict[str, np.ndarray]:
    return to_torch(generator_table(cfg), variables)


def discriminator_to_torch(cfg: DCGANConfig, variables) -> dict[str, np.ndarray]:
    return to_torch(discriminator_table(cfg), variables)


def generator_config(sd: Mapping[str, np.ndarray], base: DCGANConfig) -> DCGANConfig:
    """``base`` with ``nz``, ``ngf``, ``nc`` and ``resolution`` read from a netG
    state dict's shapes (G's activation and init cannot be read from weights)."""
    convts = sorted(
        (int(k.split(".")[1]), np.shape(v)) for k, v in sd.items()
        if k.startswith("main.") and k.endswith(".weight") and np.ndim(v) == 4
    )  # fmt: skip
    if len(convts) < 3:
        raise UserError(f"not a pytorch/examples netG state dict ({len(convts)} ConvT layers)")
    n_up = len(convts) - 1
    nz, w0 = convts[0][1][:2]
    ngf = int(w0) // 2 ** (n_up - 1)  # ndf: D is not in the file; the same width
    return base.replace(nz=int(nz), ngf=ngf, ndf=ngf, nc=int(convts[-1][1][1]),
                        resolution=2 ** (n_up + 2))  # fmt: skip


def discriminator_config(sd: Mapping[str, np.ndarray], cfg: DCGANConfig) -> DCGANConfig:
    """``cfg`` with ``ndf`` and ``head_bias`` read from a netD state dict; its
    depth must be ``cfg``'s (read from netG): D has one conv per G up-block."""
    convs = sorted(
        (int(k.split(".")[1]), np.shape(v)) for k, v in sd.items()
        if k.startswith("main.") and k.endswith(".weight") and np.ndim(v) == 4
    )  # fmt: skip
    if len(convs) != cfg.n_up + 1:
        raise UserError(
            f"netD has {len(convs)} conv layers; a {cfg.resolution}x{cfg.resolution} netG "
            f"needs {cfg.n_up + 1} (each doubling of the side adds one)"
        )
    head = f"main.{convs[-1][0]}.bias"
    return cfg.replace(ndf=int(convs[0][1][0]), head_bias=head in sd)
