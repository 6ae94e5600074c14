"""Checks the DCGAN command lines run before any compute (usage errors, one line)."""

from __future__ import annotations

from dcgan import hub
from neural_art import cli
from neural_art.hub import WeightsSpecError


def weights(spec: str | None) -> None:
    """``--weights`` must parse (:func:`dcgan.hub.parse`); ``None`` is the embedded model."""
    try:
        hub.parse(spec)
    except WeightsSpecError as e:
        raise cli.UsageError(f"--weights: {e}") from e
