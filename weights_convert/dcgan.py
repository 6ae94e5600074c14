"""pytorch/examples ``dcgan`` checkpoints (``netG_epoch_*.pth``, ``netD_epoch_*.pth``)
-> DCGAN Flax variables -> orbax.

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

A ``module.`` prefix (``nn.DataParallel``) is stripped.

CLI::

    python -m weights_convert.dcgan --netG=netG_epoch_24.pth --netD=netD_epoch_24.pth \
        --config=radford-64 --out=DIR
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from dcgan.model import CONFIGS, DCGANConfig
from neural_art import store
from neural_art.fetch import sha256_file
from weights_convert.torch_io import check_tensors, load_torch_state_dict


def _g_table(cfg: DCGANConfig) -> list[tuple[str, str, tuple, str]]:
    """(torch name, our path "coll/layer/leaf", torch shape, kind)."""
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


def _d_table(cfg: DCGANConfig) -> list[tuple[str, str, tuple, str]]:
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


def _convert(table, sd, source):
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    check_tensors(
        {t: s for t, _, s, _ in table},
        sd,
        source=source,
        ignore_unexpected=("num_batches_tracked",),
    )
    out: dict = {}
    for t, path, _, kind in table:
        node = out
        *parents, leaf = path.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = np.array(_FROM[kind](np.asarray(sd[t], np.float32)), copy=True, order="C")
    return out


def generator_from_torch(cfg: DCGANConfig, sd, *, source: str = "netG state dict") -> dict:
    """pytorch/examples ``netG`` state dict (numpy) -> ``{"params", "batch_stats"}``. Strict."""
    return _convert(_g_table(cfg), sd, source)


def discriminator_from_torch(cfg: DCGANConfig, sd, *, source: str = "netD state dict") -> dict:
    """pytorch/examples ``netD`` state dict (numpy) -> ``{"params", "batch_stats"}``. Strict."""
    return _convert(_d_table(cfg), sd, source)


def _to_torch(table, variables, cfg):
    out = {}
    for t, path, shape, kind in table:
        a = variables
        for p in path.split("/"):
            a = a[p]
        a = np.asarray(a, np.float32)
        if kind == "head":
            c = shape[1]
            a = a[:, 0].reshape(4, 4, c).transpose(2, 0, 1)[None]
        else:
            a = _TO[kind](a)
        out[t] = np.ascontiguousarray(a)
    return out


def generator_to_torch(cfg: DCGANConfig, variables) -> dict[str, np.ndarray]:
    """Inverse of :func:`generator_from_torch` (export to pytorch/examples)."""
    return _to_torch(_g_table(cfg), variables, cfg)


def discriminator_to_torch(cfg: DCGANConfig, variables) -> dict[str, np.ndarray]:
    return _to_torch(_d_table(cfg), variables, cfg)


def convert(
    net_g: str | os.PathLike,
    net_d: str | os.PathLike | None,
    cfg: DCGANConfig,
    out: str | os.PathLike,
):
    """Reads ``netG`` (and optionally ``netD``) safely, converts, saves to ``out``
    as ``{"generator": ..., "discriminator": ...}`` with metadata."""
    tree = {"generator": generator_from_torch(cfg, load_torch_state_dict(net_g), source=str(net_g))}
    meta = {
        "model": "dcgan",
        "config": dataclasses.asdict(cfg),
        "source": os.fspath(net_g),
        "source_sha256": sha256_file(net_g),
        "converter": "weights_convert.dcgan",
    }
    if net_d:
        tree["discriminator"] = discriminator_from_torch(
            cfg, load_torch_state_dict(net_d), source=str(net_d)
        )
        meta["source_discriminator"] = os.fspath(net_d)
        meta["source_discriminator_sha256"] = sha256_file(net_d)
    return store.save_params(out, tree, meta)


def main(argv=None):  # pragma: no cover - thin CLI
    from absl import app, flags

    flags.DEFINE_string("netG", None, "pytorch/examples netG_epoch_*.pth", required=True)
    flags.DEFINE_string("netD", None, "pytorch/examples netD_epoch_*.pth (optional)")
    flags.DEFINE_enum("config", "radford-64", list(CONFIGS), "architecture preset")
    flags.DEFINE_integer("nc", None, "override image channels (1 for MNIST)")
    flags.DEFINE_string("out", None, "output directory", required=True)
    FLAGS = flags.FLAGS

    def run(_):
        cfg = CONFIGS[FLAGS.config]
        if FLAGS.nc:
            cfg = cfg.replace(nc=FLAGS.nc)
        print(convert(FLAGS.netG, FLAGS.netD, cfg, FLAGS.out))

    app.run(run, argv)


if __name__ == "__main__":
    main()
