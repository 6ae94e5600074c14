"""BigGAN's extras to the shared perturbations (:mod:`neural_art.perturb`):
spectral normalisation, as the :data:`HOOKS` its sweeps pass to
:class:`neural_art.sweep.networks.Perturbation` (the description of what each
network of a sweep gets).

BigGAN's convolutions and linears are spectrally normalised: the weight used is
``W_orig / σ`` with ``σ = uᵀ W_orig v`` from stored power-iteration vectors
(``spectral`` collection). Eq. (2) of Janik (arXiv:2109.08103) perturbs
``W_orig`` as the reference's parameters are; :func:`multiplicative` with
``effective=True`` instead perturbs the *normalised* weight by exactly
``(1 + αε)``. Eq. (3) replaces kernels wholesale, so the sweep passes
:func:`rederive_spectral` as :func:`neural_art.perturb.replace_block`'s model
hook: it re-derives their power-iteration vectors.
"""

from __future__ import annotations

import jax

from biggan_jax.layers import power_iteration, sn_sigma
from neural_art import perturb as core
from neural_art.perturb import Where
from neural_art.sweep.networks import Hooks, Perturbation

__all__ = ["HOOKS", "Perturbation", "multiplicative", "rederive_spectral"]
SN_ITERS = 10  # power iterations re-deriving a replaced kernel's spectral-norm vectors


def multiplicative(params, key: jax.Array, *, alpha=0.35, where: Where | None = None,
                   effective: bool = False):
    """Eq. (2) (:func:`neural_art.perturb.multiplicative`). With ``effective`` the
    normalised weight W_orig/σ is perturbed by exactly (1 + αε): ``u`` is rescaled so
    that σ keeps its unperturbed value. Default ``False``: each layer's σ is
    recomputed from the perturbed weight, so its overall scale moves by σ/σ'."""
    new = core.multiplicative(params, key, alpha=alpha, where=where)
    return _keep_sigma(params, new) if effective else new


def _with_spectral(params, fn):
    """Returns ``params`` with spectral[...] = fn(module_path, kernel, u, v) -> (u, v)."""

    def walk(spec, par, prefix):
        if "u" in spec:
            u, v = fn(prefix, par["kernel"], spec["u"], spec["v"])
            return {**spec, "u": u, "v": v}
        return {k: walk(spec[k], par[k], (*prefix, k)) for k in spec}

    return {**params, "spectral": walk(params["spectral"], params["params"], ())}


def _keep_sigma(old, new):
    def fn(prefix, kernel, u, v):
        k0 = old["params"]
        for p in prefix:
            k0 = k0[p]
        s0 = sn_sigma(k0["kernel"], u, v)
        s1 = sn_sigma(kernel, u, v)
        return u * (s0 / s1), v

    return _with_spectral(new, fn)


def rederive_spectral(params, where: Where | None = None, *, n_iter: int = SN_ITERS,
                      eps: float = 1e-12):  # fmt: skip
    """Re-runs the spectral-norm power iteration (from the stored ``u``) for the
    kernels selected by ``where`` (default: all), so σ estimates the new
    kernels' top singular value rather than the old vectors' meaningless
    projection of it. The eq.-(3) hook of :func:`neural_art.perturb.replace`:
    ``replace_block(params, key, "B2", after=rederive_spectral)``. A tree without
    a ``spectral`` collection is returned as is."""
    if not (isinstance(params, dict) and "spectral" in params):
        return params

    def fn(prefix, kernel, u, v):
        path = "/".join(("params", *prefix, "kernel"))
        if where is not None and not where(path, kernel):
            return u, v
        return power_iteration(kernel, u, n_iter=n_iter, eps=eps)

    return _with_spectral(params, fn)




HOOKS = Hooks(after_replace=rederive_spectral, effective=_keep_sigma)
"""BigGAN's :class:`neural_art.sweep.networks.Hooks`: eq. (3) re-derives the replaced
kernels' spectral-norm vectors; ``effective`` keeps each layer's σ (:func:`multiplicative`)."""
