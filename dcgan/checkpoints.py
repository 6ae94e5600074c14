"""orbax checkpointing for the DCGAN trainer, and exported (embedded) weights.

A training checkpoint (``<workdir>/checkpoints/<step>/``) holds two items:

* ``state``: ``{"step", "g", "d", "g_opt", "d_opt"}`` -- both networks'
  params and BN statistics and both Adam states;
* ``meta`` (JSON): ``{"step", "examples_seen", "data"}``: the data position
  (examples consumed = step * batch size; the input pipeline is a pure function
  of the step, see :mod:`dcgan.input_pipeline`) and what the data was.

Beside them the workdir records its configs: ``config.json`` is the config the
checkpoints were trained with (written when a run starts with no checkpoint,
never replaced by a resume), ``configs/run-NNN.json`` one record per run
(time, argv, the step it resumed from, its config). :func:`check_resume` refuses,
before any compute, a resume whose config differs from ``config.json`` outside
:data:`RESUMABLE`; :func:`restore` also compares the stored shapes with the
config's before reading any array, so a mismatch is one line, never orbax's
traceback wall.

Exported weights (:func:`export`, e.g. ``dcgan/assets/embedded``) use the
project's shared converted-weights format (:mod:`neural_art.store`):
``{"generator": {...}, "discriminator": {...}}`` plus ``metadata.json`` with
the model config; :func:`dcgan.load` reads them back.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import pathlib
import shutil
import sys
from typing import Any

import jax
import numpy as np

from dcgan.model import DCGANConfig
from dcgan.steps import init_state, model_config
from neural_art import atomic, store
from neural_art.errors import UserError

# Config keys a resumed run may change: they say when to log, sample, check and
# checkpoint and where to stop (or, for init_from and data.data_dir, only matter
# without a checkpoint / locate a cache), not what the checkpointed state means.
# Any other change (model.*, data.*, lr/b1/b2/eps, batch_size, seed,
# latent_dist) would continue a different run from this state, or not restore.
RESUMABLE = ("num_steps", "log_every", "sample_every", "num_samples", "checkpoint_every",
             "keep_checkpoints", "nan_check_every", "step_delay_s", "init_from", "data.data_dir",
             # watching the run (dcgan.evaluate) never changes the trained state
             "eval_every", "stop_on_collapse",
             *(f"eval.{k}" for k in ("features", "seed", "num_real", "num_fake", "batch",
                                     "image_size", "kid_subsets", "kid_subset_size")),
             *(f"alarms.{k}" for k in ("diversity_fraction", "d_win_accuracy", "d_win_evals")))  # fmt: skip


class ResumeError(UserError):
    """The workdir's checkpoints were trained with another config (a usage error)."""


def checkpoint_steps(workdir: str | os.PathLike) -> list[int]:
    """Steps of the finished checkpoints in ``workdir`` (orbax renames a
    checkpoint's temp dir to ``<step>`` when it is complete); reads no array."""
    ck = pathlib.Path(workdir) / "checkpoints"
    return sorted(int(p.name) for p in ck.iterdir() if p.name.isdigit()) if ck.is_dir() else []


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        out |= _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v}
    return out


_ABSENT = object()


def config_changes(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    """``(dotted key, old, new)`` for every key outside :data:`RESUMABLE` whose
    value differs (a key only one side has: ``_ABSENT`` on the other)."""
    a, b = _flat(old), _flat(new)
    keys = [*a, *(k for k in b if k not in a)]
    return [(k, a.get(k, _ABSENT), b.get(k, _ABSENT)) for k in keys
            if k not in RESUMABLE and a.get(k, _ABSENT) != b.get(k, _ABSENT)]  # fmt: skip


def _show(v) -> str:
    return "(absent)" if v is _ABSENT else json.dumps(v)


def _as_flag(k: str, v) -> str:
    return f"--config.{k}={v if isinstance(v, str) else json.dumps(v)}"


def config_dict(config) -> dict:
    """The config as ``config.json`` stores it (JSON types)."""
    return json.loads(config.to_json_best_effort())


def check_resume(config, workdir: str | os.PathLike) -> None:
    """Raises :class:`ResumeError` if ``workdir`` holds a checkpoint and ``config``
    differs from its ``config.json`` outside :data:`RESUMABLE` (one line naming
    the keys, old -> new, and the flags that restore the old values). Reads files
    only: run it before any compute."""
    workdir = pathlib.Path(workdir).absolute()
    steps, recorded = checkpoint_steps(workdir), workdir / "config.json"
    if not steps:
        return
    if not recorded.exists():
        logging.warning("%s has checkpoints but no config.json: cannot check the config "
                        "against them (the shapes are checked on restore)", workdir)  # fmt: skip
        return
    changes = config_changes(json.loads(recorded.read_text()), config_dict(config))
    if not changes:
        return
    diff = ", ".join(f"{k} {_show(a)} -> {_show(b)}" for k, a, b in changes)
    back = " ".join(_as_flag(k, a) for k, a, b in changes if a is not _ABSENT and b is not _ABSENT)
    raise ResumeError(
        f"--config changed since the checkpoint in {workdir} (step {steps[-1]}; {recorded}): "
        f"{diff}; start a new --workdir{', or resume with ' + back if back else ''} "
        f"(a resume may change only {', '.join(RESUMABLE)})"
    )


def record_run(config, workdir: str | os.PathLike, argv: list[str] | None = None) -> pathlib.Path:
    """Writes ``configs/run-NNN.json`` (``{"run", "started", "argv",
    "resumed_from_step", "config"}``, NNN = the next free number) and, when the
    workdir has no checkpoint yet, ``config.json`` (a resume never replaces it).
    Returns the record's path."""
    workdir = pathlib.Path(workdir).absolute()
    steps, cfg = checkpoint_steps(workdir), config_dict(config)
    if not steps:  # a fresh start: this config is what the checkpoints will hold
        atomic.write_text(workdir / "config.json", json.dumps(cfg, indent=2) + "\n")
    runs = sorted(int(p.stem[4:]) for p in (workdir / "configs").glob("run-*.json")
                  if p.stem[4:].isdigit())  # fmt: skip
    n = runs[-1] + 1 if runs else 0
    record = {"run": n, "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "argv": list(sys.argv if argv is None else argv),
              "resumed_from_step": steps[-1] if steps else None, "config": cfg}  # fmt: skip
    return atomic.write_json(workdir / "configs" / f"run-{n:03d}.json", record)


def manager(workdir: str | os.PathLike, *, keep: int = 3, every: int = 1000):
    """``CheckpointManager`` keeping the last ``keep`` checkpoints, saving every
    ``every`` steps (``save(..., force=True)`` for final / preemption saves)."""
    import orbax.checkpoint as ocp

    opts = ocp.CheckpointManagerOptions(max_to_keep=keep, save_interval_steps=every, create=True)
    path = pathlib.Path(workdir).absolute() / "checkpoints"
    handlers = {"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()}
    return ocp.CheckpointManager(path, options=opts, item_handlers=handlers)


def save(mngr, step: int, state, meta: dict, *, force: bool = False) -> bool:
    import orbax.checkpoint as ocp

    return mngr.save(
        step,
        args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
        force=force,
    )


def _leaf_name(path) -> str:
    return ".".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def check_shapes(mngr, step: int, abstract_state) -> None:
    """Raises ``ValueError`` (one line, the first mismatching arrays) if checkpoint
    ``step`` does not hold exactly ``abstract_state``'s arrays and shapes. Reads
    orbax's metadata only."""
    stored = mngr.item_metadata(step)["state"]
    shape = lambda tree: {_leaf_name(p): tuple(a.shape)
                          for p, a in jax.tree_util.tree_leaves_with_path(tree)}  # fmt: skip
    have, want = shape(stored), shape(abstract_state)
    bad = [f"{k} {have.get(k, '(absent)')} (config: {want.get(k, '(absent)')})"
           for k in sorted(have.keys() | want.keys()) if have.get(k) != want.get(k)]  # fmt: skip
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise UserError(
            f"checkpoint {step} in {mngr.directory} does not fit the config: "
            f"{', '.join(bad[:3])}{more}; it was trained with another --config.model "
            f"(see configs/ beside it); start a new --workdir"
        )


def restore(mngr, abstract_state, step: int | None = None):
    """Returns ``(state, meta)`` of ``step`` (default: latest) or ``None`` if none.

    The stored shapes are checked first (:func:`check_shapes`). Leaves of
    ``abstract_state`` without a sharding are restored onto the first local
    device, so a checkpoint written by a run on N devices can be read on any
    machine (export, analysis) — orbax refuses a topology change otherwise."""
    import orbax.checkpoint as ocp

    step = mngr.latest_step() if step is None else step
    if step is None:
        return None
    check_shapes(mngr, step, abstract_state)
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
