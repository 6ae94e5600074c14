"""Shared pytest setup: CPU only, float32, deterministic, one XLA cache per run,
the interpreter count, and the shared tiny-model fixtures (tests/fixtures.py).

The persistent compilation cache is shared by the whole run (both xdist workers
and every subprocess, which inherit the environment): a program that several
tests compile compiles once. A cache hit returns the same executable, so outputs
are bit-identical; compile-count tests still see the compile event (jax records
it around cache lookups too).

Every Python interpreter the run starts (a subprocess of a test, or of that
subprocess) appends a line to one log (tests/interpreters/sitecustomize.py, put on
``PYTHONPATH`` here; subprocesses get it through :func:`procs.python_env`); the
summary at the end says how many there were besides pytest's own workers.
"""

import atexit
import json
import os
import pathlib
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

_COUNTER_DIR = str(pathlib.Path(__file__).parent / "interpreters")

if "PYTEST_XDIST_WORKER" not in os.environ:  # the controller (or a run without xdist)
    _tmp = tempfile.mkdtemp(prefix="neural-art-tests-")
    atexit.register(shutil.rmtree, _tmp, ignore_errors=True)
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(_tmp, "xla")
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    os.environ["NEURAL_ART_TEST_INTERPRETERS"] = os.path.join(_tmp, "interpreters.jsonl")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (_COUNTER_DIR, os.environ.get("PYTHONPATH")) if p
    )

from fixtures import *  # noqa: E402,F403  (the shared session fixtures)


def _interpreters() -> list[dict]:
    log = pathlib.Path(os.environ["NEURAL_ART_TEST_INTERPRETERS"])
    if not log.exists():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    # pytest-xdist's workers (execnet's popen gateways) are pytest's own
    return [r for r in rows if "import sys;exec(eval(sys.stdin.readline()))" not in r["argv"]]


def pytest_terminal_summary(terminalreporter):
    if "PYTEST_XDIST_WORKER" in os.environ:
        return
    rows = _interpreters()
    terminalreporter.write_line(
        f"python interpreters started by tests (besides pytest's workers): {len(rows)}"
    )
    if os.environ.get("NEURAL_ART_TEST_LIST_INTERPRETERS"):
        for r in rows:
            terminalreporter.write_line("  " + " ".join(r["argv"])[:200])
