"""Checks the DCGAN command lines run before any compute (usage errors, one line)."""

from __future__ import annotations

import os

from dcgan import hub
from neural_art import cli
from neural_art.hub import WeightsSpecError


def weights(spec: str | None) -> None:
    """``--weights`` must parse (:func:`dcgan.hub.parse`); ``None`` is the embedded model."""
    try:
        hub.parse(spec)
    except WeightsSpecError as e:
        raise cli.UsageError(f"--weights: {e}") from e


def out_dir(path: str | None, flag: str = "out_dir") -> str:
    """``--out_dir`` is given and is not an existing file or below one."""
    if not path:
        raise cli.UsageError(f"--{flag} is required")
    p = os.path.abspath(path)
    while p and not os.path.exists(p):
        p = os.path.dirname(p)
    if os.path.exists(p) and not os.path.isdir(p):
        raise cli.UsageError(f"--{flag}={path}: {p} is a file, not a directory")
    if not os.access(p, os.W_OK):
        raise cli.UsageError(f"--{flag}={path}: {p} is not writable")
    return path
