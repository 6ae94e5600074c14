"""Training CLI: ``python -m dcgan.main --config=dcgan/configs/art.py --workdir=DIR``.

Overrides as ``--config.batch_size=64``; ``--config=...py:quick`` for a CPU run.
Re-running with the same workdir resumes exactly from the last checkpoint; the
config may then change only in :data:`dcgan.checkpoints.RESUMABLE` (steps,
intervals), anything else is refused in one line naming the keys. Every run is
recorded in ``<workdir>/configs/run-NNN.json``.
"""

import logging as std_logging

from absl import flags, logging
from ml_collections import config_flags

from neural_art import cli

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "ml_collections config file (dcgan/configs/*.py[:quick])."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples, metrics.")
flags.mark_flags_as_required(["config", "workdir"])


class QuietOrbax(std_logging.Filter):
    """Drops orbax's per-checkpoint INFO chatter from the training log."""

    def filter(self, record):
        return record.levelno >= std_logging.WARNING or "orbax" not in record.pathname


def main(argv):
    del argv
    from dcgan import checkpoints, train

    cli.check_out_dir(_WORKDIR.value, flag="workdir")  # a file, or not creatable
    try:  # before any compute: the config, then whether the workdir's checkpoints fit it
        train.check_config(_CONFIG.value)
        checkpoints.check_resume(_CONFIG.value, _WORKDIR.value)
    except (train.ConfigError, checkpoints.ResumeError) as e:
        raise cli.UsageError(str(e)) from e
    logging.set_verbosity(logging.INFO)
    logging.get_absl_handler().addFilter(QuietOrbax())
    train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


def run() -> None:
    cli.run(main)


if __name__ == "__main__":
    run()
