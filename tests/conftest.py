"""Shared pytest setup: CPU only, float32, deterministic, one XLA cache per run.

The persistent compilation cache is shared by the whole run (both xdist workers
and every CLI subprocess, which inherit the environment): a program that several
tests compile — the same tiny sweep through several CLIs — compiles once. A cache
hit returns the same executable, so outputs are bit-identical; compile-count
tests still see the compile event (jax records it around cache lookups too).
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

if "JAX_COMPILATION_CACHE_DIR" not in os.environ and "PYTEST_XDIST_WORKER" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="neural-art-tests-xla-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
