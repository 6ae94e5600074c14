"""Counts the Python interpreters the test run starts (tests/conftest.py puts this
folder on PYTHONPATH): each appends one line, its pid and command line, to the file
named by ``NEURAL_ART_TEST_INTERPRETERS``. Nothing else."""

import json
import os
import sys

_log = os.environ.get("NEURAL_ART_TEST_INTERPRETERS")
if _log:
    with open(_log, "a") as _f:
        _f.write(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "argv": sys.orig_argv}) + "\n")
