"""Converted params on disk: an orbax checkpoint plus ``metadata.json``.

Layout of a converted-weights directory::

    <dir>/params/          orbax StandardCheckpointer tree (numpy/jax arrays)
    <dir>/metadata.json    {"format": ..., "model": ..., "config": {...},
                            "source": ..., "source_sha256": ...,
                            "converter": "<module> <version>", ...}

Writes go to ``<dir>.tmp-*`` and are renamed into place (``metadata.json``
last), so a crash never leaves a half-written directory that later loads as
valid; other files in ``<dir>`` are left alone.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from neural_art import outlock
from neural_art.errors import UserError
from neural_art.perturb import path_str

CONVERTER_VERSION = "1"
FORMAT = "neural-art-jax/params-v1"


class NonFiniteError(UserError):
    """A weights tensor holds NaN or ±inf (the message names it and its file)."""


def check_finite(tensors: Any, source: str) -> None:
    """Raises :class:`NonFiniteError` naming ``source`` (a file or directory) and the
    first tensor of ``tensors`` (a pytree, e.g. ``{name: array}``) holding a NaN or
    ±inf: such weights draw garbage, so every loader and converter refuses them."""
    for path, x in jax.tree_util.tree_flatten_with_path(tensors)[0]:
        a = np.asarray(x)
        if not jax.numpy.issubdtype(a.dtype, jax.numpy.inexact):
            continue
        bad = ~np.isfinite(a)
        if bad.any():
            name = path_str(path)
            at = np.argwhere(bad)[0].tolist() if a.ndim else []
            raise NonFiniteError(f"{source}: tensor {name} holds {int(bad.sum())} non-finite value(s) "
                                 f"({a[bad].flat[0]} at index {at}); refusing these weights")  # fmt: skip


def check_target(
    path: str | os.PathLike, metadata: Mapping[str, Any], *, overwrite: bool = False
) -> None:
    """Raises ``FileExistsError`` if writing ``metadata``'s model into ``path`` would
    replace something else: a ``params`` entry not written by this module, another
    model's (or another config's) converted weights, or a training workdir
    (``checkpoints/``). ``overwrite=True`` (the CLIs' ``--overwrite``) allows the
    last two. Reads only; call it before any compute."""
    path = pathlib.Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} is a file, not a directory")
    if (path / "params").exists() and not (path / "metadata.json").exists():
        raise FileExistsError(
            f"{path}/params exists and is not part of a converted-weights directory; "
            "not overwriting"
        )
    if overwrite:
        return
    if (path / "checkpoints").is_dir():
        raise FileExistsError(f"{path} is a training workdir (has checkpoints/); use another "
                              "directory or --overwrite")  # fmt: skip
    if (path / "metadata.json").exists():
        try:
            old = json.loads((path / "metadata.json").read_text())
        except (OSError, ValueError):
            old = {}
        for key in ("model", "config"):
            if key in old and key in metadata and old[key] != metadata[key]:
                what = old.get("config_name") or old.get("model")
                raise FileExistsError(f"{path} holds other weights ({what}); use another "
                                      "directory or --overwrite to replace them")  # fmt: skip


def save_params(
    path: str | os.PathLike, params: Any, metadata: Mapping[str, Any], *, overwrite: bool = False
) -> pathlib.Path:
    """Saves ``params`` (any pytree of arrays) and ``metadata`` to directory ``path``
    as ``params/`` and ``metadata.json``.

    Other files in ``path`` (a README, a loss plot) are kept. Refuses what
    :func:`check_target` refuses (another model's weights, a training workdir,
    a foreign ``params`` entry) unless ``overwrite``.
    The new tree is written beside ``path`` first; ``metadata.json`` is removed
    before the swap and written last, so an interrupted save never loads as valid.
    """
    import orbax.checkpoint as ocp

    path = pathlib.Path(path).absolute()
    check_target(path, metadata, overwrite=overwrite)
    check_finite(params, f"the weights to save in {path}")
    outlock.make_parent(path / "metadata.json")  # mkdir -p, unless a held --out_dir was removed
    tmp = pathlib.Path(tempfile.mkdtemp(dir=path.parent, prefix=path.name + ".tmp-"))
    try:
        ckpt = ocp.StandardCheckpointer()
        ckpt.save(tmp / "params", jax.tree.map(np.asarray, params))
        ckpt.wait_until_finished()
        meta = {"format": FORMAT, "converter_version": CONVERTER_VERSION, **metadata}
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        (path / "metadata.json").unlink(missing_ok=True)  # invalid from here ...
        if (path / "params").exists():
            shutil.rmtree(path / "params")
        os.replace(tmp / "params", path / "params")
        os.replace(tmp / "metadata.json", path / "metadata.json")  # ... valid again
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def read_metadata(path: str | os.PathLike, model: str | None = None) -> dict[str, Any]:
    """The ``metadata.json`` of a converted directory; with ``model``, refuses another model's."""
    path = pathlib.Path(path)
    meta_file = path / "metadata.json"
    if not meta_file.exists():
        raise FileNotFoundError(f"{path} is not a converted-weights directory (no metadata.json)")
    try:
        meta = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{meta_file}: damaged, not JSON ({e}); convert the weights again") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise UserError(f"{meta_file}: unknown format {got!r}, expected {FORMAT!r}")
    if model is not None and meta.get("model") != model:
        raise UserError(f"{path} holds converted weights of {meta.get('model')!r}, not {model!r}")
    return meta


def load_params(path: str | os.PathLike, model: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Returns ``(params, metadata)`` from a directory written by :func:`save_params`;
    with ``model``, another model's directory is refused (:func:`read_metadata`)."""
    import orbax.checkpoint as ocp

    path = pathlib.Path(path).absolute()
    meta = read_metadata(path, model)
    params = jax.tree.map(np.asarray, ocp.StandardCheckpointer().restore(path / "params"))
    check_finite(params, str(path))
    return params, meta
