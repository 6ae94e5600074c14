"""The one exception type for mistakes in what a user gave.

:class:`UserError` is raised on purpose, by a check, about a flag value, a file,
a key or a public function's argument; its message names the culprit. The
command-line error path (:mod:`neural_art.cli`) prints it as one line. Any
other exception escaping a command is a bug and is reported as one: an
"internal error" line and the traceback saved to a file it names.
"""

from __future__ import annotations


class UserError(ValueError):
    """A mistake in the user's input (flag, file, key, argument); the message names it.

    A :class:`ValueError`, so code that caught ``ValueError`` from the checks
    still does."""
