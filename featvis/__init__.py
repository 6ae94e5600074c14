"""Feature visualisation: activation maximisation of VGG-16 (lucid-style and Despraz et al.).

    import jax, featvis as fv
    model = fv.models.vgg("vgg16", layers=["fc8", "relu4_2"])
    out = fv.render_many(lambda n: fv.objectives.channel("relu4_2", n), jax.numpy.arange(64),
                         fv.param.fft(128, 128), model, key=jax.random.key(0), steps=512,
                         transforms=fv.transform.standard(), chunk_size=16)
    out.images            # [64, 1 snapshot, 1, 128, 128, 3] in [0, 1]

Modules: :mod:`featvis.objectives` (composable objectives), :mod:`featvis.param`
(pixels, Fourier), :mod:`featvis.despraz` (their generator, both modes),
:mod:`featvis.autoencoder` (the decoder's training), :mod:`featvis.transform`,
:mod:`featvis.render` (rendering, vmapped over targets),
:mod:`featvis.models`, :mod:`featvis.app` (what the CLI does).

The loop is :func:`neural_art.optim.run`, the one style transfer runs:
featvis' loss takes the step (``step_arg=True``: per-step keys
``fold_in(k, step)`` for the parameterisation's noise and the random
transforms, the step inside the objective, the projection after each update),
the frozen networks and per-target keys are loss arguments (vmapped over the
target axis), and the per-step objective is the loss's aux (``trace_aux``).
"""

from featvis import app, autoencoder, despraz, models, objectives, param, render, transform
from featvis.objectives import Objective
from featvis.param import Param
from featvis.render import Model, RenderResult, evaluate, render_many
from featvis.render import render as render_one

__all__ = [
    "Model",
    "Objective",
    "Param",
    "RenderResult",
    "app",
    "autoencoder",
    "despraz",
    "evaluate",
    "models",
    "objectives",
    "param",
    "render",
    "render_many",
    "render_one",
    "transform",
]
