"""Runs many invocations of one CLI in one process (the bad-input table): for each
argv, flags reset to their defaults (ml_collections' ``--config.*`` overrides,
which each parse defines, removed), ``<module>.run()`` called, exit code and
stderr captured. Prints one JSON line per case. Used by tests/test_bad_inputs.py
so the table costs one interpreter start (jax import) per CLI, not per case.

    python tests/cli_harness.py MODULE < cases.json   # [[argv...], ...]
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys


def main() -> None:
    module = importlib.import_module(sys.argv[1])
    from absl import flags

    cases = json.load(sys.stdin)
    for argv in cases:
        for name in list(flags.FLAGS):  # ml_collections' overrides, defined anew by each parse
            if "." in name and name.split(".")[0] in flags.FLAGS:
                delattr(flags.FLAGS, name)
        flags.FLAGS.unparse_flags()
        err, out = io.StringIO(), io.StringIO()
        sys.argv = [sys.argv[1], *argv]
        code = 0
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                module.run()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException as e:  # a crash is a result to report
                import traceback

                code = "crash"
                err.write("Traceback (harness)\n" + "".join(traceback.format_exception(e)))
        print(json.dumps({"argv": argv, "code": code, "stderr": err.getvalue()}), flush=True)


if __name__ == "__main__":
    main()
