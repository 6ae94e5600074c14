"""orbax checkpointing for the DCGAN trainer, and exported (embedded) weights.

A training checkpoint (``<workdir>/checkpoints/<step>/``) holds two items:

* ``state``: ``{"step", "g", "d", "g_opt", "d_opt"}`` -- both networks'
  params and BN statistics and both Adam states;
* ``meta`` (JSON): ``{"step", "examples_seen", "config"}``: the data position
  (examples consumed = step * batch size; the input pipeline is a pure function
  of the step, see :mod:`dcgan.input_pipeline`) and the model config.

Exported weights (:func:`export`, e.g. ``dcgan/assets/embedded``) use the
project's shared converted-weights format (:mod:`neural_art.store`):
``{"generator": {...}, "discriminator": {...}}`` plus ``metadata.json`` with
the model config; :func:`dcgan.load` reads them back.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
from typing import Any

import jax
import numpy as np

from dcgan.model import DCGANConfig
from dcgan.steps import init_state, model_config
from neural_art import store


def manager(workdir: str | os.PathLike, *, keep: int = 3, every: int = 1000):
    """``CheckpointManager`` keeping the last ``keep`` checkpoints, saving every
    ``every`` steps (``save(..., force=True)`` for final / preemption saves)."""
    import orbax.checkpoint as ocp

    opts = ocp.CheckpointManagerOptions(max_to_keep=keep, save_interval_steps=every, create=True)
    path = pathlib.Path(workdir).absolute() / "checkpoints"
    return ocp.CheckpointManager(path, options=opts, item_names=("state", "meta"))


def save(mngr, step: int, state, meta: dict, *, force: bool = False) -> bool:
    import orbax.checkpoint as ocp

    return mngr.save(
        step,
        args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
        force=force,
    )


def restore(mngr, abstract_state, step: int | None = None):
    """Returns ``(state, meta)`` of ``step`` (default: latest) or ``None`` if none.

    Leaves of ``abstract_state`` without a sharding are restored onto the first
    local device, so a checkpoint written by a run on N devices can be read on
    any machine (export, analysis) — orbax refuses a topology change otherwise."""
    import jax
    import orbax.checkpoint as ocp

    step = mngr.latest_step() if step is None else step
    if step is None:
        return None
    one = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract_state = jax.tree.map(
        lambda a: a if getattr(a, "sharding", None) is not None
        else jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=one),
        abstract_state,
    )  # fmt: skip
    out = mngr.restore(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()
        ),
    )
    return out["state"], out["meta"]


def export(
    path: str | os.PathLike,
    cfg: DCGANConfig,
    g_vars,
    d_vars,
    metadata: dict[str, Any],
    *,
    dtype=None,
    overwrite: bool = False,
):
    """Saves G and D variables (optionally cast, e.g. to ``bfloat16``) with metadata
    (:func:`neural_art.store.save_params`: another model's weights or a workdir in
    ``path`` are refused unless ``overwrite``)."""
    cast = (lambda a: np.asarray(a).astype(dtype)) if dtype is not None else np.asarray
    tree = {"generator": jax.tree.map(cast, g_vars), "discriminator": jax.tree.map(cast, d_vars)}
    meta = {"model": "dcgan", "config": dataclasses.asdict(cfg), **metadata}
    return store.save_params(path, tree, meta, overwrite=overwrite)


def export_workdir(workdir, out, *, step: int | None = None, dtype: str = "float32",
                   extra: dict | None = None, overwrite: bool = False) -> pathlib.Path:  # fmt: skip
    """Reads ``workdir``'s config and checkpoint ``step`` (default latest), writes ``out``.

    Also copies the run's ``losses.png``; other files already in ``out`` (e.g. a
    README describing the model) are kept.
    """
    import ml_collections

    workdir = pathlib.Path(workdir)
    if not (workdir / "config.json").exists():
        raise FileNotFoundError(f"{workdir} is not a DCGAN training workdir (no config.json)")
    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    abstract = jax.eval_shape(lambda: init_state(config, jax.random.key(0)))
    mngr = manager(workdir, keep=config.keep_checkpoints, every=config.checkpoint_every)
    restored = restore(mngr, abstract, step)
    mngr.close()
    if restored is None:
        raise FileNotFoundError(f"no checkpoint in {workdir}/checkpoints")
    state, meta = restored
    md = {"trained_steps": int(meta["step"]), "data": meta.get("data"),
          "train_config": config.to_dict(), "dtype": dtype, **(extra or {})}  # fmt: skip
    path = export(out, model_config(config), state["g"], state["d"], md, dtype=dtype,
                  overwrite=overwrite)  # fmt: skip
    if (workdir / "losses.png").exists():
        shutil.copyfile(workdir / "losses.png", path / "losses.png")
    return path
