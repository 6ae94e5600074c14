"""pytorch/examples ``dcgan`` checkpoints (``netG_epoch_*.pth``, ``netD_epoch_*.pth``)
-> DCGAN weights directory (the names and layouts: :mod:`dcgan.torch_layout`).

CLI::

    python -m weights_convert.dcgan --netG=netG_epoch_24.pth --netD=netD_epoch_24.pth \
        --config=radford-64 --out_dir=DIR

Sizes (latent, widths, channels, resolution: any power of two, one ConvT per
doubling) come from the files; ``--config`` gives what weights cannot tell.

``dcgan.load("netG_epoch_24.pth")`` reads a netG file directly (:mod:`dcgan.hub`).
"""

from __future__ import annotations

import dataclasses
import os

from absl import flags

from dcgan import torch_layout as layout
from dcgan.model import CONFIGS, DCGANConfig
from neural_art import cli, store
from neural_art.errors import check_regular_file
from neural_art.fetch import sha256_file
from weights_convert.torch_io import check_tensors, load_torch_state_dict

_NET_G = flags.DEFINE_string("netG", None, "pytorch/examples netG_epoch_*.pth.")
_NET_D = flags.DEFINE_string("netD", None, "pytorch/examples netD_epoch_*.pth (optional).")
_CONFIG = flags.DEFINE_enum("config", "radford-64", list(CONFIGS),
                            "Architecture preset (activation, init); sizes are read from the files.")
_OUT_DIR = cli.define_out_dir(None, "Output directory (params + metadata.json).")
_OVERWRITE = cli.define_overwrite()


def read(sd: dict, table: list[layout.Row], path: str | os.PathLike) -> dict:
    """Checks a (prefix-stripped) state dict read from ``path`` strictly against
    ``table``, returns ``{"params", "batch_stats"}``."""
    check_tensors(layout.shapes(table), sd, source=os.fspath(path), ignore_unexpected=layout.IGNORED)
    return layout.from_torch(table, sd)


def convert(
    net_g: str | os.PathLike,
    net_d: str | os.PathLike | None,
    cfg: DCGANConfig,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
):
    """Reads ``netG`` (and optionally ``netD``) safely, converts, saves to ``out``
    as ``{"generator": ..., "discriminator": ...}`` with metadata.

    ``cfg`` is the preset for what weights cannot tell (activation, init); the
    sizes -- ``nz``, ``ngf``, ``nc``, the resolution (one ConvT per doubling)
    and, from netD, ``ndf`` and the head's bias -- are read from the files, so a
    128x128 or 256x256 netG converts with any preset."""
    sd_g = layout.strip_prefix(load_torch_state_dict(net_g))
    cfg = layout.generator_config(sd_g, cfg)
    sd_d = layout.strip_prefix(load_torch_state_dict(net_d)) if net_d else None
    if sd_d is not None:
        cfg = layout.discriminator_config(sd_d, cfg)
    tree = {"generator": read(sd_g, layout.generator_table(cfg), net_g)}
    meta = {
        "model": "dcgan",
        "config": dataclasses.asdict(cfg),
        "source": os.fspath(net_g),
        "source_sha256": sha256_file(net_g),
        "converter": "weights_convert.dcgan",
    }
    if net_d:
        tree["discriminator"] = read(sd_d, layout.discriminator_table(cfg), net_d)
        meta["source_discriminator"] = os.fspath(net_d)
        meta["source_discriminator_sha256"] = sha256_file(net_d)
    return store.save_params(out, tree, meta, overwrite=overwrite)


def main(argv):
    del argv
    if not _NET_G.value or not _OUT_DIR.value:
        raise cli.UsageError("--netG and --out_dir are required")
    for flag in (_NET_G, _NET_D):
        if flag.value and not os.path.exists(flag.value):
            raise cli.UsageError(f"--{flag.name}={flag.value}: no such file")
        if flag.value:
            check_regular_file(flag.value, f"--{flag.name} .pth file")
    cli.check_out_dir(_OUT_DIR.value)  # a file, or not creatable: before anything is read
    store.check_target(_OUT_DIR.value, {"model": "dcgan"}, overwrite=_OVERWRITE.value)
    print(convert(_NET_G.value, _NET_D.value, CONFIGS[_CONFIG.value], _OUT_DIR.value,
                  overwrite=_OVERWRITE.value))


def run() -> None:
    cli.run(main)


if __name__ == "__main__":
    run()
