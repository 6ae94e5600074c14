"""Training CLI: ``python -m dcgan.main --config=dcgan/configs/art.py --workdir=DIR``.

Overrides as ``--config.batch_size=64``; ``--config=...py:quick`` for a CPU run.
Re-running with the same workdir resumes exactly from the last checkpoint.
"""

import logging as std_logging

from absl import app, flags, logging
from ml_collections import config_flags

from dcgan import train

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "ml_collections config file (dcgan/configs/*.py[:quick])."
)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples, metrics.")
flags.mark_flags_as_required(["config", "workdir"])


class _QuietOrbax(std_logging.Filter):
    """Drops orbax's per-checkpoint INFO chatter from the training log."""

    def filter(self, record):
        return record.levelno >= std_logging.WARNING or "orbax" not in record.pathname


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.INFO)
    logging.get_absl_handler().addFilter(_QuietOrbax())
    try:
        train.check_config(FLAGS.config)
    except train.ConfigError as e:
        raise app.UsageError(str(e)) from e
    train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
    app.run(main)
