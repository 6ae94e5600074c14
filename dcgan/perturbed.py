"""The DCGAN generator in the one sweep engine (:mod:`neural_art.sweep`): Janik's
eq. (2) (arXiv:2109.08103) on G's weights, many networks per compiled program,
chunks, manifest, exact resume, gallery; the library behind ``python -m dcgan.sweep``.

G runs in inference mode (running BN statistics); eq. (2) perturbs the ``params``
collection (:func:`neural_art.perturb.trainable`), not the BN statistics. Its blocks
(``--alpha_per_block`` / ``--blocks``) are G's layers: ``convt0``..``convt4`` (one
per doubling, :mod:`dcgan.model`) and ``bn0``.. . Rows are latents:
``sample_latents(key(seed), latents)`` (latent i is row i, ``z<i>.png``), and
network k's key is ``fold_in(key(seed + 1), k)`` (``--seed`` roots both: the
perturbation root is ``seed + 1``).
"""

from __future__ import annotations

import dataclasses
import functools
import shlex
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from dcgan import hub
from dcgan.model import DCGANConfig, generate, sample_latents
from neural_art import sweep
from neural_art.sweep.networks import NO_HOOKS, Hooks

__all__ = ["DCGANGenerator", "images", "model", "perturbation_root"]


@dataclasses.dataclass(frozen=True)
class DCGANGenerator:
    """Inference-mode G of ``cfg`` as the engine's :class:`~neural_art.sweep.engine.Generator`:
    rows ``z [L, nz]``, no constants; a 1-channel G's images repeated to RGB."""

    cfg: DCGANConfig
    hooks: Hooks = NO_HOOKS

    def generate(self, theta, rows, consts):
        x = generate(self.cfg, theta, rows).astype(jnp.float32)
        return jnp.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x

    def prepare(self, theta, consts):
        return theta


def perturbation_root(seed: int) -> int:
    """The engine's root seed for ``--seed``: perturbation keys ``fold_in(key(seed + 1), k)``."""
    return seed + 1


def settings(weights: str | None, seed: int, latents: int) -> dict:
    """DCGAN's part of a sweep's manifest settings (a re-run must match them)."""
    meta = hub.metadata(weights)
    return {"weights": str(weights or "embedded"), "model": {k: meta[k] for k in ("config", "trained_steps", "dtype",
            "random", "seed", "source") if k in meta}, "latent_seed": seed, "latents": latents}  # fmt: skip


def model(weights: str | None, *, seed: int, latents: int, command: str = "") -> sweep.Model:
    """What the DCGAN supplies to the engine for ``weights`` (None: the embedded model)."""
    load = functools.cache(lambda: hub.load(weights))

    def loaded(n: int) -> sweep.Loaded:
        cfg, params = load()
        return sweep.Loaded(DCGANGenerator(cfg), params["generator"], sample_latents(jax.random.key(seed), n, cfg.nz))

    rows = tuple({"row": i, "latent": i} for i in range(latents))
    base = command or shlex.join(["python", "-m", "dcgan.sweep", f"--weights={weights or 'embedded'}",
                                  f"--latents={latents}", f"--seed={seed}"])  # fmt: skip
    return sweep.Model(title=f"DCGAN sweep {weights or 'embedded'}", command=base,
                       settings=settings(weights, seed, latents), n_rows=latents,
                       describe=lambda: (rows, tuple(f"z{i}.png" for i in range(latents)),
                                         tuple(f"z{i}" for i in range(latents))),
                       load=lambda: loaded(latents), abstract=lambda: loaded(1), rows_flag="latents")  # fmt: skip


def images(weights: str | None, seeds: Sequence, *, seed: int = 0, latents: int = 6, **kw):
    """``[S, L, H, W, 3]`` in [-1, 1]: the sweep's images of ``seeds`` (ints or lineage
    strings) in memory (:func:`neural_art.sweep.engine.sweep`; ``kw``: its keywords,
    e.g. ``perturbation``, ``chunk_size``, ``breeding``)."""
    lo = model(weights, seed=seed, latents=latents).load()
    return sweep.sweep(lo.gen, lo.params, seeds, lo.rows, lo.consts,
                       root=jax.random.key(perturbation_root(seed)), **kw)  # fmt: skip
