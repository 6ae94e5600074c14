"""Export a training checkpoint's G and D as standalone weights (e.g. the embedded model).

python -m dcgan.export --workdir=/tmp/dcgan_skimage --out=dcgan/assets/embedded [--dtype=bfloat16]
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import jax
import ml_collections
from absl import app, flags, logging

from dcgan import checkpoints, train


def export_workdir(
    workdir, out, *, step: int | None = None, dtype: str = "float32", extra: dict | None = None
):
    """Reads ``workdir``'s config and checkpoint ``step`` (default latest), writes ``out``.

    Also copies the run's ``losses.png``; other files already in ``out`` (e.g. a
    README describing the model) are kept.
    """
    workdir = pathlib.Path(workdir)
    if not (workdir / "config.json").exists():
        raise FileNotFoundError(f"{workdir} is not a DCGAN training workdir (no config.json)")
    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    abstract = jax.eval_shape(lambda: train.init_state(config, jax.random.key(0)))
    mngr = checkpoints.manager(workdir, keep=config.keep_checkpoints, every=config.checkpoint_every)
    restored = checkpoints.restore(mngr, abstract, step)
    if restored is None:
        raise FileNotFoundError(f"no checkpoint in {workdir}/checkpoints")
    state, meta = restored
    mngr.close()
    md = {"trained_steps": int(meta["step"]), "data": meta.get("data"), "train_config": config.to_dict(),
          "dtype": dtype, **(extra or {})}  # fmt: skip
    path = checkpoints.export(
        out, train.model_config(config), state["g"], state["d"], md, dtype=dtype
    )
    if (workdir / "losses.png").exists():
        shutil.copyfile(workdir / "losses.png", path / "losses.png")
    return path


FLAGS = flags.FLAGS


def define_flags() -> None:
    """The CLI's flags (defined on demand, so importing this module defines none)."""
    flags.DEFINE_string("workdir", None, "training workdir (with config.json and checkpoints/)")
    flags.DEFINE_string("out", None, "output directory")
    flags.DEFINE_integer("step", None, "checkpoint step (default: latest)")
    flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "storage dtype")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)
    if not os.path.isfile(os.path.join(FLAGS.workdir, "config.json")):
        raise app.UsageError(f"--workdir={FLAGS.workdir}: not a training workdir (no config.json)")
    print(export_workdir(FLAGS.workdir, FLAGS.out, step=FLAGS.step, dtype=FLAGS.dtype))


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["workdir", "out"])
    app.run(main)
