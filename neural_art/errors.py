"""The one exception type for mistakes in what a user gave.

:class:`UserError` is raised on purpose, by a check, about a flag value, a file,
a key or a public function's argument; its message names the culprit. The
command-line error path (:mod:`neural_art.cli`) prints it as one line. Any
other exception escaping a command is a bug and is reported as one: an
"internal error" line and the traceback saved to a file it names.
"""

from __future__ import annotations

import os
import stat


class UserError(ValueError):
    """A mistake in the user's input (flag, file, key, argument); the message names it.

    A :class:`ValueError`, so code that caught ``ValueError`` from the checks
    still does."""


def check_regular_file(path, what: str = "file") -> None:
    """Refuses ``path`` unless it is a regular file (following links): a named pipe,
    socket or device would block a read forever or read something else."""
    st = os.stat(path)  # FileNotFoundError (an OSError: one line) for a missing one
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"{path} is a directory, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{path} is not a regular file (a pipe, socket or device); give a {what}")
