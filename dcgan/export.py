"""Export a training checkpoint's G and D as standalone weights (e.g. the embedded model).

python -m dcgan.export --workdir=/tmp/dcgan_skimage --out_dir=dcgan/assets/embedded \
    [--precision=bfloat16 --step=N]

Library: :func:`dcgan.checkpoints.export_workdir`.
"""

from __future__ import annotations

import os

from absl import flags, logging

from neural_art import cli, store

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir (with config.json and checkpoints/).")
_OUT_DIR = cli.define_out_dir(None, "Output directory (params + metadata.json; other files kept).")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).", lower_bound=0)
_PRECISION = cli.define_precision("float32", "Storage precision of the exported weights.")
_OVERWRITE = cli.define_overwrite()


def main(argv):
    del argv
    if not _WORKDIR.value:
        raise cli.UsageError("--workdir is required")
    if not os.path.isfile(os.path.join(_WORKDIR.value, "config.json")):
        raise cli.UsageError(f"--workdir={_WORKDIR.value}: not a training workdir (no config.json)")
    out_dir = cli.check_out_dir(_OUT_DIR.value)
    store.check_target(out_dir, {"model": "dcgan"}, overwrite=_OVERWRITE.value)
    logging.set_verbosity(logging.WARNING)
    from dcgan.checkpoints import export_workdir

    print(export_workdir(_WORKDIR.value, out_dir, step=_STEP.value, dtype=_PRECISION.value,
                         overwrite=_OVERWRITE.value))  # fmt: skip


def run() -> None:
    cli.run(main)


if __name__ == "__main__":
    run()
