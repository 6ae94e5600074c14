"""``python -m featvis``: see :mod:`featvis.main`."""

from absl import app

from featvis.main import main

app.run(main)
