"""``python -m styletransfer`` (see :mod:`styletransfer.main`)."""

from styletransfer.main import run

run()
