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
:mod:`featvis.render` (the loop, vmapped over targets: one ``lax.scan`` program on
GPU/TPU, Python-driven jitted blocks on CPU),
:mod:`featvis.models`, :mod:`featvis.app` (what the CLI does).

Why the loop is not ``styletransfer.optim.run``: featvis' step needs, besides
``loss(params)``, (1) a per-step key ``fold_in(k, step)`` for the
parameterisation's noise (Despraz' ε) and the random transforms, (2) the
step number inside the objective (redirected ReLU for the first steps),
(3) a projection after each update (pixel clipping, blur every k steps),
(4) frozen pytrees (pretrained decoder, VGG params) as jit arguments, and
(5) a vmapped target axis with per-target keys and init, all inside one
jit. A loss-only ``run(loss_fn, init_params, optimizer, num_steps,
snapshot_every)`` covers none of (1)-(5) without closures that would defeat
the vmap; :mod:`featvis.render`'s step is 20 lines, driven by a
``lax.scan`` or by Python per backend.
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
