"""What every command line shares: the common flags, the one error path, the
XLA compilation cache.

Flags every CLI spells the same way (README, "Command-line language"):
``--out_dir`` (training: ``--workdir``), ``--weights`` (:mod:`neural_art.hub`
grammar), ``--steps``, ``--learning_rate``, ``--seeds`` (ranges, inclusive),
``--seed`` (the single RNG root), ``--precision``, ``--chunk_size``.

The error path: :func:`run` runs an absl ``main``; a :class:`UsageError`
(a bad flag value) prints ``error: <message>`` and exits 2; any other
:data:`USER_ERRORS` (a :class:`~neural_art.errors.UserError` raised by a check
on the user's input, a missing or unreadable file, a failed download,
non-finite weights, an ``--out_dir`` another run is writing: :mod:`neural_art.outlock`)
prints the same one line and exits 1; SIGINT (Ctrl-C)
and SIGTERM print one line too and exit 130 / 143, finished files kept. No
traceback, unless ``--verbosity=1`` (or higher) is given. Anything else is a
bug, not a user mistake: one ``internal error`` line naming the exception and
the file its traceback was written to, exit 70.
"""

from __future__ import annotations

import contextlib
import math
import os
import pathlib
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable

from absl import app, flags, logging

from neural_art import outlock
from neural_art.errors import UserError
from neural_art.fetch import WeightsUnavailableError, cache_dir
from neural_art.ranges import SEED_UPPER

PRECISIONS = ("float32", "bfloat16")


class UsageError(UserError):
    """A user mistake in the command line: exit 2, one line."""


USER_ERRORS = (UserError, OSError, WeightsUnavailableError)
INTERNAL_ERROR_EXIT = 70  # sysexits' EX_SOFTWARE


def define_out_dir(default: str | None, help: str = "Output directory.") -> flags.FlagHolder:
    return flags.DEFINE_string("out_dir", default, help)


def define_weights(default: str | None, help: str) -> flags.FlagHolder:
    return flags.DEFINE_string(
        "weights", default, help + " Grammar: a release name | a converted dir | a "
        "checkpoint file | random[:config[:width]].",
    )


def define_steps(default: int, help: str = "Optimisation steps.") -> flags.FlagHolder:
    return flags.DEFINE_integer("steps", default, help, lower_bound=1)


def define_learning_rate(default: float | None, help: str = "Learning rate.") -> flags.FlagHolder:
    return flags.DEFINE_float("learning_rate", default, help)


def define_seeds(default: str, help: str = "Seeds: inclusive ranges, e.g. '0-10,15,20-25'.") -> flags.FlagHolder:
    return flags.DEFINE_string("seeds", default, help)


def define_seed(
    default: int = 0, help: str = "Root of every random draw.", name: str = "seed"
) -> flags.FlagHolder:
    """An RNG root flag (``--seed``, or ``name``): an integer in ``[0, 2**31)``, as ``--seeds``."""
    return flags.DEFINE_integer(name, default, help, lower_bound=0, upper_bound=SEED_UPPER - 1)


def define_precision(default: str = "float32", help: str = "Compute precision.") -> flags.FlagHolder:
    return flags.DEFINE_enum("precision", default, list(PRECISIONS), help)


def define_chunk_size(default: int, help: str) -> flags.FlagHolder:
    return flags.DEFINE_integer("chunk_size", default, help, lower_bound=0)


def define_overwrite() -> flags.FlagHolder:
    return flags.DEFINE_bool(
        "overwrite", False, "Replace another model's weights or a training workdir in --out_dir."
    )


def check_out_dir(path: str | os.PathLike | None, flag: str = "out_dir") -> pathlib.Path:
    """``--out_dir`` (or ``flag``) is given, is not a file (nor below one) and can be
    created and written (a directory is made in its nearest existing ancestor and
    removed at once). Creates nothing: a failing run leaves no directory behind.
    Raises :class:`UsageError` (missing, or a file: exit 2) or ``PermissionError``
    (not writable: exit 1), each naming the flag."""
    if not path:
        raise UsageError(f"--{flag} is required")
    p = pathlib.Path(path).expanduser().absolute()
    parent = p
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"--{flag}={os.fspath(path)}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"--{flag}={os.fspath(path)}: {parent} is not writable")
    try:  # the real test (root passes os.access; /proc, read-only mounts and quotas do not)
        os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".neural_art_probe-"))
    except OSError as e:
        raise PermissionError(f"--{flag}={os.fspath(path)}: cannot create a directory in {parent} "
                              f"({e.strerror or e})") from None  # fmt: skip
    return p


def use_compilation_cache() -> None:
    """Persistent XLA cache under the project cache, so a re-run (resume) of the
    same program skips compilation. Leaves a cache the user configured alone."""
    import jax

    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "xla"))


def fail(message: str, code: int = 2) -> None:
    """Prints ``error: message`` to stderr and exits with ``code``."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as SIGINT raises ``KeyboardInterrupt``."""


def _raise_terminated(signum, frame):
    raise Terminated()


def internal_error(e: BaseException) -> None:
    """A bug: writes the traceback to a file, prints one line naming it, exits 70."""
    fd, path = tempfile.mkstemp(prefix="neural_art_traceback_", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write("".join(traceback.format_exception(e)))
    first = (str(e) or "").splitlines()[0][:300] if str(e) else ""
    fail(f"internal error (a bug, not a mistake in your input): {type(e).__name__}"
         + (f": {first}" if first else "") + f"; traceback written to {path}", INTERNAL_ERROR_EXIT)


def _out_dir_lock() -> contextlib.AbstractContextManager:
    """The ``--out_dir`` (training: ``--workdir``) lock (:mod:`neural_art.outlock`)
    of a command that has one; none for ``--multihost`` runs (their processes may
    share one directory, which process 0 alone writes)."""
    flag = next((f for f in ("out_dir", "workdir") if f in flags.FLAGS), None)
    out = flags.FLAGS[flag].value if flag else None
    multihost = "multihost" in flags.FLAGS and flags.FLAGS["multihost"].value
    if not out or multihost:
        return contextlib.nullcontext()
    return outlock.hold(out, flag=flag)


def _guarded(main: Callable[[list[str]], object], resume: str | Callable[[], str]) -> Callable[[list[str]], object]:
    def wrapped(argv):
        if len(argv) > 1:
            fail(f"unexpected arguments: {' '.join(argv[1:])}")
        old = None
        if threading.current_thread() is threading.main_thread():  # (signal handlers live there)
            old = signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            with _out_dir_lock():
                return main(argv)
        except KeyboardInterrupt as e:
            if logging.get_verbosity() >= 1:
                raise
            name, code = ("SIGTERM", 143) if isinstance(e, Terminated) else ("SIGINT", 130)
            how = resume() if callable(resume) else resume
            fail(f"interrupted ({name}); finished files are kept" + (f"; {how}" if how else ""), code)
        except (app.UsageError, UsageError) as e:
            if logging.get_verbosity() >= 1:
                raise
            fail(str(e), 2)
        except USER_ERRORS as e:
            if logging.get_verbosity() >= 1:
                raise
            msg = str(e) or type(e).__name__
            fail(msg.splitlines()[0] if len(msg) > 2000 else msg.replace("\n", " "), 1)
        except Exception as e:
            if logging.get_verbosity() >= 1:
                raise
            internal_error(e)
        finally:
            if old is not None:
                signal.signal(signal.SIGTERM, old)

    return wrapped


def non_finite_flags() -> list[str]:
    """``--NAME must be finite, got VALUE`` for every parsed float flag that is NaN or infinite (no
    command has a use for one: a NaN weight or rate only shows up as NaN pixels
    or a NaN loss later)."""
    bad = []
    for name, fl in flags.FLAGS.flags_by_module_dict().items():
        for f in fl:
            if isinstance(f.value, float) and not math.isfinite(f.value):
                bad.append(f"--{f.name} must be finite, got {f.value}")
    return sorted(set(bad))


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, a bad value reported as one line (exit 2), a NaN or
    infinite float flag included."""
    try:
        rest = flags.FLAGS(argv)
    except flags.Error as e:
        msg = str(e)
        if "Traceback (most recent call last)" in msg:  # ml_collections embeds one: keep its cause
            msg = msg.split("Traceback (most recent call last)")[0] + msg.strip().splitlines()[-1]
        fail(" ".join(msg.split()) + " (see --helpfull)", 2)
    bad = non_finite_flags()
    if bad:
        fail("; ".join(bad), 2)
    return rest


def run(main: Callable[[list[str]], object], argv: list[str] | None = None, *,
        resume: str | Callable[[], str] = "") -> None:  # fmt: skip
    """``absl.app.run(main)`` with the one error path (module docstring). SIGINT
    (Ctrl-C) and SIGTERM end it with one line, ``interrupted (SIGINT); finished
    files are kept`` plus ``resume`` (e.g. "re-run the same command to resume")
    where the command can resume (a callable: asked then, e.g. from the parsed
    flags, when only some modes resume), and exit 130 / 143 (128 + the signal)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app.run(_guarded(main, resume), argv=argv, flags_parser=_parse_flags)
