"""``dcgan.load(spec)``: the one way to get DCGAN weights, in the shared
``--weights`` grammar (:func:`neural_art.hub.parse`):

* ``embedded`` (the default) -- the small model shipped in ``dcgan/assets/embedded``;
* a directory -- weights written by :func:`dcgan.checkpoints.export`
  (``python -m dcgan.export``) or by ``python -m weights_convert.dcgan``;
* a file -- a raw pytorch/examples ``netG_epoch_*.pth``, converted on load
  (names: :mod:`dcgan.torch_layout`; the shapes are read from the file, G's
  activation and init from the ``config`` preset), without a discriminator;
* ``random[:config[:width]]`` -- fresh weights of a :data:`dcgan.model.CONFIGS`
  architecture (default ``seed-64``), ``width`` = ``ngf`` = ``ndf``.

Returns ``(cfg, g_vars, d_vars, metadata)``, float32 (``d_vars`` is ``{}`` when
the source has no discriminator).
"""

from __future__ import annotations

import os
import pathlib

import jax
import numpy as np

from dcgan import torch_layout as layout
from dcgan.model import CONFIGS, DCGANConfig, init_discriminator, init_generator
from neural_art import hub, store

EMBEDDED_DIR = pathlib.Path(__file__).parent / "assets" / "embedded"
RELEASES = ("embedded",)
DEFAULT_CONFIG = "seed-64"
Loaded = tuple[DCGANConfig, dict, dict, dict]


def parse(spec: str | os.PathLike | None) -> hub.WeightsSpec:
    """Reads ``spec`` (``None``: ``embedded``) without loading anything; raises
    :class:`neural_art.hub.WeightsSpecError` (a ``ValueError``) for a bad one."""
    spec = "embedded" if spec is None else spec
    return hub.parse(spec, releases=RELEASES, configs=tuple(CONFIGS), default_config=DEFAULT_CONFIG)


def load(spec: str | os.PathLike | None = None, *, seed: int = 0,
         config: str = "radford-64") -> Loaded:  # fmt: skip
    """Loads ``spec`` (module docstring). ``seed`` roots ``random`` weights;
    ``config`` names the architecture preset a raw ``.pth`` file is read with."""
    ws = parse(spec)
    if ws.kind == "random":
        return random_weights(ws.name, ws.width, seed=seed)
    if ws.kind == "release":
        return load_dir(EMBEDDED_DIR, what="the embedded DCGAN")
    if ws.kind == "dir":
        return load_dir(ws.path)
    return load_pth(ws.path, CONFIGS[config])


def random_weights(name: str, width: int | None = None, *, seed: int = 0) -> Loaded:
    """Fresh G and D of preset ``name`` (``width``: ``ngf = ndf``), from ``key(seed)``."""
    cfg = CONFIGS[name] if width is None else CONFIGS[name].replace(ngf=width, ndf=width)
    key = jax.random.key(seed)
    g = init_generator(cfg, jax.random.fold_in(key, 1))
    d = init_discriminator(cfg, jax.random.fold_in(key, 2))
    meta = {"model": "dcgan", "random": f"{name}:{cfg.ngf}", "seed": seed}
    return cfg, _f32(g), _f32(d), meta


def load_dir(path: str | os.PathLike, *, what: str | None = None) -> Loaded:
    """Exported weights in ``path`` (the :mod:`neural_art.store` format)."""
    path = pathlib.Path(path)
    if not (path / "metadata.json").exists():
        if what:
            raise FileNotFoundError(
                f"{what} is missing from this installation (expected {path}); "
                "reinstall neural-art-jax with its package data or pass --weights=DIR"
            )
        raise FileNotFoundError(f"{path}: no metadata.json (not exported DCGAN weights)")
    tree, meta = store.load_params(path, "dcgan")
    cfg = DCGANConfig(**meta["config"])
    return cfg, _f32(tree["generator"]), _f32(tree.get("discriminator", {})), meta


def load_pth(path: str | os.PathLike, base: DCGANConfig) -> Loaded:
    """A raw pytorch/examples ``netG`` state dict, converted in memory; the shapes
    (nz, ngf, nc, resolution) are read from the file, the rest is ``base``."""
    from weights_convert.torch_io import check_tensors, load_torch_state_dict  # lazy: torch

    sd = layout.strip_prefix(load_torch_state_dict(path))
    cfg = layout.generator_config(sd, base)
    table = layout.generator_table(cfg)
    check_tensors(layout.shapes(table), sd, source=os.fspath(path), ignore_unexpected=layout.IGNORED)
    meta = {"model": "dcgan", "source": os.fspath(path), "converter": "dcgan.torch_layout"}
    return cfg, _f32(layout.from_torch(table, sd)), {}, meta


def _f32(tree):
    return jax.tree.map(lambda a: np.asarray(a, np.float32), tree)
