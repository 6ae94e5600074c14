"""Subprocesses in tests: only where the process boundary is what is tested
(signals, two processes, the README command, an installed console script).

:func:`python_env` is the environment a test's subprocess gets: this one (the
run's XLA cache, the interpreter counter of tests/conftest.py), the repository on
``PYTHONPATH`` before anything else, CPU only."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def python_env(**extra: str) -> dict[str, str]:
    """``os.environ`` + the repository first on PYTHONPATH (keeping the counter)
    + ``extra``."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": path, **extra}


def run_python(args: list[str], *, timeout: float = 300, env: dict | None = None,
               cwd=ROOT, **kw) -> subprocess.CompletedProcess:  # fmt: skip
    """``python *args`` in a new interpreter, output captured as text."""
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          env=env or python_env(), cwd=cwd, timeout=timeout, **kw)  # fmt: skip
