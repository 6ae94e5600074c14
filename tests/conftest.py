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

XLA's expensive backend passes are off for the run (``jax_disable_most_optimizations``,
``JAX_DISABLE_MOST_OPTIMIZATIONS=1`` in the environment, so subprocesses have it
too): the suite's tiny programs compile in about half the time and a tiny
program's run time hardly changes (measured 2026-12-03, summing ``--durations=0``:
1,263 worker-seconds instead of 1,700; tests/README.md). Its numbers are XLA:CPU's at that level,
which differ from the default build's in the last bits; tests compare two
programs of one setting, or with a tolerance (goldens: their block means). A
test whose claim is about the default build's numbers, or whose run time is what
it costs, takes the :func:`optimized` fixture. ``JAX_DISABLE_MOST_OPTIMIZATIONS=0
python -m pytest ...`` runs the whole suite on the default build.
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
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

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

import jax  # noqa: E402  (after the environment above)
import pytest  # noqa: E402

# the environment is read when jax is imported; a plugin may have imported it first
jax.config.update("jax_disable_most_optimizations",
                  os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"].lower() not in ("0", "false"))  # fmt: skip

from fixtures import *  # noqa: E402,F403  (the shared session fixtures)


@pytest.fixture
def optimized():
    """This test compiles as users' programs are compiled (XLA's default
    optimisation), for claims about the default build's numbers and for tests
    whose run time, not their compile time, is what they cost. Compiled programs
    held in memory do not know the setting they were compiled under, so this
    drops them first (jax's caches and the sweep engine's chunk programs);
    the persistent cache keys on the setting and is kept."""
    from neural_art.sweep import engine

    before = jax.config.values["jax_disable_most_optimizations"]
    jax.clear_caches()
    engine._COMPILED.clear()
    jax.config.update("jax_disable_most_optimizations", False)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)
        jax.clear_caches()
        engine._COMPILED.clear()


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
