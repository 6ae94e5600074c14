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

Returns ``(cfg, params)``, the shape every model's ``load`` returns
(:func:`biggan_jax.hub.load`, :func:`styletransfer.hub.load`): ``params`` is
``{"generator": g_vars, "discriminator": d_vars}``, float32, each
``{"params", "batch_stats"}`` (``d_vars`` is ``{}`` when the source has no
discriminator). What the weights record (training steps, dtype, source) is
:func:`metadata`, read from the same spec without loading the arrays.

The FID network's weights (:mod:`dcgan.inception`) load here too
(:func:`load_fid_weights`): a release converted once into the cache is read
through :mod:`neural_art.store` alone; the raw ``pt_inception-2015-12-05``
release is converted by :mod:`weights_convert.inception`, imported lazily the
first time (the hub's stated converter edge, tests/test_architecture.py).
"""

from __future__ import annotations

import os
import pathlib

import jax
import numpy as np

from dcgan import torch_layout as layout
from dcgan.model import CONFIGS, DCGANConfig, init_discriminator, init_generator
from neural_art import hub, store
from neural_art.fetch import cache_dir

EMBEDDED_DIR = pathlib.Path(__file__).parent / "assets" / "embedded"
RELEASES = ("embedded",)
DEFAULT_CONFIG = "seed-64"
FID_CONVERTED_NAME = "fid-inception-flax"


def parse(spec: str | os.PathLike | None) -> hub.WeightsSpec:
    """Reads ``spec`` (``None``: ``embedded``) without loading anything; raises
    :class:`neural_art.hub.WeightsSpecError` (a ``ValueError``) for a bad one."""
    spec = "embedded" if spec is None else spec
    return hub.parse(spec, releases=RELEASES, configs=tuple(CONFIGS), default_config=DEFAULT_CONFIG)


def load(spec: str | os.PathLike | None = None, *, seed: int = 0,
         config: str = "radford-64") -> tuple[DCGANConfig, dict]:  # fmt: skip
    """Returns ``(cfg, params)``, ``params = {"generator": ..., "discriminator": ...}``
    (module docstring). ``seed`` roots ``random`` weights; ``config`` names the
    architecture preset a raw ``.pth`` file is read with."""
    ws = parse(spec)
    if ws.kind == "random":
        return random_weights(ws.name, ws.width, seed=seed)
    if ws.kind == "release":
        return load_dir(EMBEDDED_DIR, what="the embedded DCGAN")
    if ws.kind == "dir":
        return load_dir(ws.path)
    return load_pth(ws.path, CONFIGS[config])


def metadata(spec: str | os.PathLike | None = None, *, seed: int = 0) -> dict:
    """What the weights ``spec`` names record, without loading them: an exported
    directory's (or the embedded model's) ``metadata.json`` (``trained_steps``,
    ``dtype``, ``config``, ``source``...); for ``random``, ``{"model", "random":
    "<config>:<width>", "seed"}``; for a raw ``.pth``, ``{"model", "source",
    "converter"}``."""
    ws = parse(spec)
    if ws.kind == "random":
        cfg = _random_config(ws.name, ws.width)
        return {"model": "dcgan", "random": f"{ws.name}:{cfg.ngf}", "seed": seed}
    if ws.kind == "file":
        return {"model": "dcgan", "source": os.fspath(ws.path), "converter": "dcgan.torch_layout"}
    path = EMBEDDED_DIR if ws.kind == "release" else ws.path
    _check_dir(path, what="the embedded DCGAN" if ws.kind == "release" else None)
    return store.read_metadata(path, "dcgan")


def random_weights(name: str, width: int | None = None, *, seed: int = 0) -> tuple[DCGANConfig, dict]:
    """``(cfg, params)``: fresh G and D of preset ``name`` (``width``: ``ngf = ndf``),
    from ``key(seed)``."""
    cfg = _random_config(name, width)
    key = jax.random.key(seed)
    g = init_generator(cfg, jax.random.fold_in(key, 1))
    d = init_discriminator(cfg, jax.random.fold_in(key, 2))
    return cfg, {"generator": _f32(g), "discriminator": _f32(d)}


def load_dir(path: str | os.PathLike, *, what: str | None = None) -> tuple[DCGANConfig, dict]:
    """``(cfg, params)`` of the exported weights in ``path`` (the :mod:`neural_art.store`
    format); ``what`` names a directory that ships with the package."""
    path = pathlib.Path(path)
    _check_dir(path, what)
    tree, meta = store.load_params(path, "dcgan")
    cfg = DCGANConfig(**meta["config"])
    return cfg, {"generator": _f32(tree["generator"]),
                 "discriminator": _f32(tree.get("discriminator", {}))}  # fmt: skip


def load_pth(path: str | os.PathLike, base: DCGANConfig) -> tuple[DCGANConfig, dict]:
    """``(cfg, params)`` of a raw pytorch/examples ``netG`` state dict, converted in
    memory (``discriminator``: ``{}``); the shapes (nz, ngf, nc, resolution) are
    read from the file, the rest is ``base``."""
    from weights_convert.torch_io import check_tensors, load_torch_state_dict  # lazy: torch

    sd = layout.strip_prefix(load_torch_state_dict(path))
    cfg = layout.generator_config(sd, base)
    table = layout.generator_table(cfg)
    check_tensors(layout.shapes(table), sd, source=os.fspath(path), ignore_unexpected=layout.IGNORED)
    return cfg, {"generator": _f32(layout.from_torch(table, sd)), "discriminator": {}}


def _random_config(name: str, width: int | None) -> DCGANConfig:
    return CONFIGS[name] if width is None else CONFIGS[name].replace(ngf=width, ndf=width)


def _check_dir(path: pathlib.Path, what: str | None) -> None:
    if not (pathlib.Path(path) / "metadata.json").exists():
        if what:
            raise FileNotFoundError(
                f"{what} is missing from this installation (expected {path}); "
                "reinstall neural-art-jax with its package data or pass --weights=DIR"
            )
        raise FileNotFoundError(f"{path}: no metadata.json (not exported DCGAN weights)")


def _f32(tree):
    return jax.tree.map(lambda a: np.asarray(a, np.float32), tree)


def fid_converted_dir(cache: str | os.PathLike | None = None) -> pathlib.Path:
    """Where the converted FID release is cached (:func:`weights_convert.inception.load_release`):
    ``$NEURAL_ART_JAX_CACHE/fid-inception-flax`` (default cache ``~/.cache/neural-art-jax``)."""
    return cache_dir(cache) / FID_CONVERTED_NAME


def load_fid_weights(cache: str | os.PathLike | None = None) -> dict:
    """The FID network's params: the converted release from the cache, or fetched
    and converted once (needs network and torch that one time). Raises
    :class:`neural_art.fetch.WeightsUnavailableError` offline."""
    if (fid_converted_dir(cache) / "metadata.json").exists():
        return store.load_params(fid_converted_dir(cache), "fid-inception")[0]
    from weights_convert import inception as conv  # lazy: a raw release needs the converter

    return conv.load_release(cache=cache)
