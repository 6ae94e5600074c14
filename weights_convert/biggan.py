"""BigGAN-deep checkpoints -> Flax params -> orbax.

Sources:

* the PyTorch release of ``pytorch_pretrained_biggan`` (Hugging Face):
  ``biggan-deep-{128,256,512}-pytorch_model.bin`` + ``-config.json``;
* the TF-Hub modules ``deepmind/biggan-deep-{128,256,512}``
  (:mod:`weights_convert.biggan_tfhub`).

Both go through one name table (:mod:`weights_convert.biggan_names`), so a
TF-Hub conversion and a ``.bin`` conversion of the same weights give the same
params. The command line (flags in :mod:`weights_convert.biggan_cli`, so that
importing this library defines no flags)::

    python -m weights_convert.biggan --src=biggan-deep-256-pytorch_model.bin --out_dir=DIR
    python -m weights_convert.biggan --src=tfhub_module_dir --config=biggan-deep-256 --out_dir=DIR
    python -m weights_convert.biggan --src=ckpt_prefix --bn_stats=stats.npz \
        --config=biggan-deep-256 --out_dir=DIR
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from biggan_jax.configs import BigGANConfig, get_config, read_config
from biggan_jax.hub import find_config
from neural_art import store
from neural_art.fetch import sha256_file
from weights_convert.biggan_names import get_leaf, name_table, set_leaf
from weights_convert.biggan_tfhub import convert_tfhub, extract_bn_stats
from weights_convert.torch_io import check_tensors, load_torch_state_dict


def from_torch_state_dict(
    cfg: BigGANConfig, sd: dict[str, np.ndarray], *, source: str = "state dict"
) -> dict:
    """Reference state dict (numpy) -> our ``{"params", "spectral", "batch_stats"}``.

    Strict: every missing, unexpected or wrongly shaped tensor is reported.
    A computed ``X.weight`` beside ``X.weight_orig`` (older spectral-norm state
    dicts) is redundant and ignored.
    """
    sd = {k: v for k, v in sd.items() if not (k.endswith(".weight") and k + "_orig" in sd)}
    table = name_table(cfg)
    check_tensors({e.torch: e.torch_shape for e in table}, sd, source=source)
    tree: dict = {}
    for e in table:
        set_leaf(tree, e.path, e.from_torch(np.asarray(sd[e.torch], np.float32)))
    return tree


def to_torch_state_dict(cfg: BigGANConfig, params) -> dict[str, np.ndarray]:
    """Inverse of :func:`from_torch_state_dict` (for tests and export)."""
    return {
        e.torch: e.to_torch(np.asarray(get_leaf(params, e.path), np.float32))
        for e in name_table(cfg)
    }


def convert_torch(bin_path: str | os.PathLike, cfg: BigGANConfig) -> dict:
    """Reads a reference ``pytorch_model.bin`` safely and converts it."""
    return from_torch_state_dict(cfg, load_torch_state_dict(bin_path), source=str(bin_path))


def save(
    out: str | os.PathLike, cfg: BigGANConfig, params, *, source: str, source_sha256: str | None,
    overwrite: bool = False,
) -> pathlib.Path:
    return store.save_params(
        out,
        params,
        {
            "model": "biggan-deep",
            "config_name": cfg.name,
            "config": cfg.to_hf_dict(),
            "source": source,
            "source_sha256": source_sha256,
            "converter": "weights_convert.biggan",
        },
        overwrite=overwrite,
    )


def resolve_config(config: str | None, src: str) -> BigGANConfig:
    """``--config``: a name, a ``config.json``, or (``None``) the one beside ``src``."""
    if config is None:
        return read_config(find_config(src))
    if os.path.exists(config):
        return read_config(config)
    return get_config(config)


def is_torch_file(src: str) -> bool:
    return os.path.isfile(src) and not src.endswith((".index", ".data-00000-of-00001"))


def convert(src: str, out_dir: str, config: str | None = None, bn_stats: str | None = None,
            *, overwrite: bool = False) -> pathlib.Path:  # fmt: skip
    """Converts ``src`` (``.bin``, TF-Hub module dir or TF checkpoint prefix) into ``out_dir``."""
    cfg = resolve_config(config, src)
    if is_torch_file(src):
        params, digest = convert_torch(src, cfg), sha256_file(src)
    else:
        params = convert_tfhub(src, cfg, bn_stats or extract_bn_stats(src))
        digest = None
    return save(out_dir, cfg, params, source=os.path.abspath(src), source_sha256=digest,
                overwrite=overwrite)  # fmt: skip


def run() -> None:
    """``python -m weights_convert.biggan`` (flags: :mod:`weights_convert.biggan_cli`)."""
    from weights_convert import biggan_cli

    biggan_cli.run()


if __name__ == "__main__":
    run()
