"""One sweep engine for every generator (:mod:`neural_art.sweep.engine`: chunked,
sharded programs sized from their own memory analysis; :mod:`neural_art.sweep.driver`:
the output directory, manifest, exact resume, scores and gallery per chunk, grids;
:mod:`neural_art.sweep.multihost`: several processes, one directory). A model
package supplies its generator as pure functions and its rows
(:class:`~neural_art.sweep.driver.Model`); BigGAN (``python -m biggan_jax``) and the
DCGAN (``python -m dcgan.sweep``) sweep through it."""

from neural_art.sweep.driver import Job, Loaded, Model, run
from neural_art.sweep.engine import Generator, SweepPlan, sweep, sweep_chunks, sweep_plan
from neural_art.sweep.networks import Hooks, Networks, Perturbation

__all__ = ["Generator", "Hooks", "Job", "Loaded", "Model", "Networks", "Perturbation", "SweepPlan", "run",
           "sweep", "sweep_chunks", "sweep_plan"]  # fmt: skip
