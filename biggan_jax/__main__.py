"""``python -m biggan_jax``: the sweep CLI (:mod:`biggan_jax.main`)."""

from biggan_jax.main import run

run()
