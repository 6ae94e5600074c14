"""``python -m featvis``: see :mod:`featvis.main`."""

from featvis.main import run

run()
