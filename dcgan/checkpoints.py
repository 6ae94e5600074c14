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
the model config.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any

import jax
import numpy as np

from dcgan.model import DCGANConfig

EMBEDDED_DIR = pathlib.Path(__file__).parent / "assets" / "embedded"


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


def start_cli(argv, weights: str | None) -> None:
    """Common start of the CLIs that read exported weights (sample, sweep,
    analysis): no stray arguments, quiet logs, and ``--weights`` (default: the
    embedded model) must be a directory — usage errors, before any work."""
    from absl import app, logging

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    if weights is not None and not os.path.isdir(weights):
        raise app.UsageError(f"--weights={weights}: no such directory")


def export(
    path: str | os.PathLike,
    cfg: DCGANConfig,
    g_vars,
    d_vars,
    metadata: dict[str, Any],
    *,
    dtype=None,
):
    """Saves G and D variables (optionally cast, e.g. to ``bfloat16``) with metadata."""
    from neural_art import store

    cast = (lambda a: np.asarray(a).astype(dtype)) if dtype is not None else np.asarray
    tree = {"generator": jax.tree.map(cast, g_vars), "discriminator": jax.tree.map(cast, d_vars)}
    meta = {"model": "dcgan", "config": dataclasses.asdict(cfg), **metadata}
    return store.save_params(path, tree, meta)


def load(path: str | os.PathLike | None = None) -> tuple[DCGANConfig, dict, dict, dict]:
    """Loads exported weights (default: the embedded model) as float32.

    Returns ``(cfg, g_vars, d_vars, metadata)``.
    """
    from neural_art import store

    if path is None:
        path = EMBEDDED_DIR
        if not (path / "metadata.json").exists():
            raise FileNotFoundError(
                f"the embedded DCGAN is missing from this installation (expected {path}); "
                "reinstall neural-art-jax with its package data or pass exported weights"
            )
    tree, meta = store.load_params(pathlib.Path(path))
    if meta.get("model") != "dcgan":
        raise ValueError(f"{path} holds {meta.get('model')!r} weights, not a DCGAN")
    cfg = DCGANConfig(**meta["config"])
    f32 = lambda t: jax.tree.map(lambda a: np.asarray(a, np.float32), t)
    return cfg, f32(tree["generator"]), f32(tree.get("discriminator", {})), meta
