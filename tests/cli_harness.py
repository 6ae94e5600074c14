"""Every CLI called in-process: ``run_cli("biggan_jax.main", [...])`` returns the exit
code, stdout and stderr of ``python -m biggan_jax ...`` without a new interpreter.

Each CLI defines its absl flags on the global ``flags.FLAGS`` when its module is
imported, so two CLIs cannot share a process as they are. Before each call the
harness removes every flag that absl itself did not define (ml_collections'
``--config.*`` overrides included), drops the CLI entry modules from
``sys.modules`` and imports the one asked for afresh, so its flags are defined
once more on a clean slate and parsed from ``argv`` as on a command line. Library
modules are never re-imported: their classes (``cli.UsageError``) and compiled
functions stay the same objects, so a program compiled by one call is reused by
the next. ``env`` and ``cwd`` are applied for the call and restored.

A crash (any exception but ``SystemExit``) is a result too: ``code`` is then the
string ``"crash"`` and ``err`` holds the traceback, so that a test asserting an
exit code of 1 or 2 fails on it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import logging
import os
import sys
import traceback

from absl import flags
from absl import logging as absl_logging

# Modules whose import defines flags (the CLIs' entry points). Re-imported per call.
ENTRY_MODULES = (
    "biggan_jax.main", "biggan_jax.__main__", "styletransfer.main", "styletransfer.__main__",
    "featvis.main", "featvis.__main__", "featvis.train_autoencoder",
    "dcgan.main", "dcgan.sample", "dcgan.sweep", "dcgan.analysis", "dcgan.export",
    "weights_convert.biggan", "weights_convert.biggan_cli", "weights_convert.vgg",
    "weights_convert.dcgan", "launch.tpu_vm", "launch.prepare",
)  # fmt: skip
# What `python -m X` runs, for the modules whose run() lives in X.main.
RUN_MODULE = {"biggan_jax": "biggan_jax.main", "styletransfer": "styletransfer.main",
              "featvis": "featvis.main"}  # fmt: skip
# weights_convert.vgg is also a library (styletransfer.hub imports it): its flags are
# defined by run(), so it is never dropped from sys.modules.
_LIBRARIES = {"weights_convert.vgg", "weights_convert.biggan"}


@dataclasses.dataclass
class CliResult:
    code: int | str
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]


def _absl_flag_names() -> set[str]:
    names = set()
    for module, fl in flags.FLAGS.flags_by_module_dict().items():
        if module.startswith("absl."):
            # ml_collections' --config.* overrides are registered under absl's flag
            # module too: they belong to the CLI that parsed them, so they go
            names.update(f.name for f in fl if "." not in f.name)
    return names | {"undefok", "flagfile", "help", "helpfull", "helpshort", "helpxml", "only_check_args"}


def _clean_flags() -> None:
    keep = _absl_flag_names()
    for name in list(flags.FLAGS):
        if name not in keep and name in flags.FLAGS:
            delattr(flags.FLAGS, name)
    for name in ENTRY_MODULES:
        if name not in _LIBRARIES and sys.modules.pop(name, None) is not None:
            parent, _, child = name.rpartition(".")
            if parent in sys.modules and getattr(sys.modules[parent], child, None) is not None:
                delattr(sys.modules[parent], child)  # else `from pkg import child` finds the old one
    flags.FLAGS.unparse_flags()


@contextlib.contextmanager
def _environment(env: dict[str, str | None] | None, cwd: str | os.PathLike | None):
    old_env = {k: os.environ.get(k) for k in (env or {})}
    old_cwd = os.getcwd()
    old_argv = sys.argv
    old_verbosity = absl_logging.get_verbosity()
    old_root_level = logging.getLogger().level  # a CLI may raise it to INFO
    handler = absl_logging.get_absl_handler().python_handler
    old_stream = handler.stream
    try:
        for k, v in (env or {}).items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if cwd is not None:
            os.chdir(cwd)
        yield handler
    finally:
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        os.chdir(old_cwd)
        sys.argv = old_argv
        absl_logging.set_verbosity(old_verbosity)
        logging.getLogger().setLevel(old_root_level)
        handler.stream = old_stream


def run_cli(module: str, argv: list[str], *, env: dict[str, str | None] | None = None,
            cwd: str | os.PathLike | None = None) -> CliResult:  # fmt: skip
    """Runs ``python -m module *argv`` in this process (module docstring)."""
    module = RUN_MODULE.get(module, module)
    _clean_flags()
    err, out = io.StringIO(), io.StringIO()
    with _environment(env, cwd) as handler:
        mod = importlib.import_module(module)
        sys.argv = [module, *map(str, argv)]
        handler.stream = err
        code: int | str = 0
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                mod.run()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException as e:  # a crash is a result to report
                code = "crash"
                err.write("Traceback (harness)\n" + "".join(traceback.format_exception(e)))
    _clean_flags()
    return CliResult(code, out.getvalue(), err.getvalue())


def assert_one_line_error(r: CliResult, codes=(1, 2), contains: str = "") -> str:
    """A user mistake: exit code in ``codes`` exactly, one ``error:`` line naming
    ``contains``, no traceback. Returns the line."""
    assert r.code in codes, (r.code, r.err[-3000:])
    assert "Traceback" not in r.err, r.err[-3000:]
    assert len(r.error_lines) == 1, r.err[-3000:]
    assert contains in r.error_lines[0], (contains, r.error_lines[0])
    return r.error_lines[0]
