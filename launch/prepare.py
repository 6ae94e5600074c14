"""``python -m launch.prepare --weights=biggan-deep-256``: what a worker runs before a
sweep, so that the sweep starts with its weights in place: a release is downloaded,
verified (sha256) and converted once into the worker's cache
(:func:`biggan_jax.hub.load`); later runs, and the sweep, read the converted params.
"""

from __future__ import annotations

from biggan_jax import hub
from neural_art import cli

_WEIGHTS = cli.define_weights(hub.DEFAULT_CONFIG, "BigGAN-deep weights to have ready on this machine.")


def main(argv) -> None:
    try:
        hub.config_for(_WEIGHTS.value)  # a bad spec: one line, before any download
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    cfg, _ = hub.load(_WEIGHTS.value)
    print(f"weights ready: {_WEIGHTS.value} ({cfg.name})")


def run() -> None:
    cli.run(main)


if __name__ == "__main__":
    run()
