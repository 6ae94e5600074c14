"""Watching a DCGAN train: FID/KID, diversity and D's accuracy, one compiled program.

Every ``config.eval_every`` steps :class:`Evaluator` runs one jitted program
(compiled once for the run, :meth:`Evaluator.__call__`) on G and D's current
variables. It generates ``eval.num_fake`` images from a fixed latent batch,
embeds them with the feature network (batches through ``lax.map``: no host
round trip per batch) and returns scalars:

* ``fid`` / ``kid`` / ``kid_std`` -- Fréchet and kernel distances
  (:mod:`neural_art.gan_metrics`) to the features of ``eval.num_real`` real
  images, computed once when the run starts. With ``eval.features="inception"``
  the network is pytorch-fid's FID Inception (:mod:`dcgan.inception`, the
  ``pt_inception-2015-12-05`` release). Offline, or with
  ``eval.features="random-inception"``, the same architecture with fixed random
  weights (``key(eval.seed)``) is used and the numbers are named
  ``fid_random_inception`` / ``kid_random_inception``: a signal to compare steps
  of one run, not an FID. Images are resized to ``eval.image_size`` (299, FID's
  input; any other size is named too, e.g. ``fid_75px``).
* ``diversity`` -- mean pairwise distance between the fixed batch's features
  (over ``diversity_real``, the same for the real images, logged once);
* ``d_acc_real`` / ``d_acc_fake`` -- D's accuracy (inference BN) on the real
  eval images and on the generated ones.

:class:`Alarms` reads those scalars on the host at each evaluation (no extra
sync) and names a collapse (diversity below ``alarms.diversity_fraction`` of
its best so far) or a diverging game (D's accuracy on real *and* fake above
``alarms.d_win_accuracy`` for ``alarms.d_win_evals`` evaluations running).
"""

from __future__ import annotations

import dataclasses
import logging

import jax
import jax.numpy as jnp
import numpy as np

from dcgan import inception
from dcgan.model import discriminate, generate, sample_latents
from neural_art import gan_metrics
from neural_art.errors import UserError
from neural_art.fetch import WeightsUnavailableError

FEATURES = ("inception", "random-inception")


def feature_network(name: str, seed: int = 0) -> tuple[str, dict]:
    """``(metric suffix, params)``: ``("", FID weights)`` or, for
    ``random-inception`` or when the FID weights cannot be had,
    ``("_random_inception", fixed random weights)``."""
    if name not in FEATURES:
        raise UserError(f"config.eval.features={name!r}: expected one of {FEATURES}")
    if name == "inception":
        try:
            return "", inception.load_fid_weights()
        except WeightsUnavailableError as e:
            logging.warning("FID Inception weights unavailable (%s); evaluating with random "
                            "Inception features instead, logged as fid_random_inception / "
                            "kid_random_inception (not an FID)", str(e).split(". ")[0])  # fmt: skip
    return "_random_inception", inception.random_params(jax.random.key(seed))


def mean_pairwise_distance(f: jax.Array) -> jax.Array:
    """Mean Euclidean distance over the ``n(n-1)`` ordered pairs of rows of ``f [n, D]``."""
    sq = jnp.sum(f * f, 1)
    d2 = jnp.clip(sq[:, None] + sq[None, :] - 2.0 * f @ f.T, 0.0)
    n = f.shape[0]
    return jnp.sum(jnp.sqrt(d2) * (1.0 - jnp.eye(n))) / (n * (n - 1))


@dataclasses.dataclass
class Evaluator:
    """Built once per run: ``ev(g_vars, d_vars) -> {name: scalar}`` (device arrays)."""

    mcfg: object
    eval_cfg: object
    real: np.ndarray  # [num_real, res, res, nc] in [-1, 1]
    seed: int

    def __post_init__(self):
        e = self.eval_cfg
        self.suffix, self.params = feature_network(e.features, e.seed)
        self.size, self.batch = int(e.image_size), int(e.batch)
        if self.size != inception.FID_SIZE:  # not the standard input: say so in the name
            self.suffix += f"_{self.size}px"
        nf = int(e.num_fake)
        if nf % self.batch or len(self.real) % self.batch:
            raise UserError(f"config.eval.num_fake ({nf}) and num_real ({len(self.real)}) must be "
                            f"multiples of config.eval.batch ({self.batch})")  # fmt: skip
        self.z = sample_latents(jax.random.fold_in(jax.random.key(self.seed), 5), nf,
                                self.mcfg.nz)  # fmt: skip
        self.kid_key = jax.random.fold_in(jax.random.key(self.seed), 6)
        self.real = jnp.asarray(self.real)
        self.real_feats = jax.jit(self._features)(self.params, self.real)  # once per run
        self.diversity_real = float(mean_pairwise_distance(self.real_feats))
        self._run = jax.jit(self._program)

    def _features(self, params, images):
        """``[N, h, w, c]`` -> ``[N, 2048]``, ``batch`` images at a time (``lax.map``)."""
        if images.shape[-1] == 1:
            images = jnp.repeat(images, 3, -1)
        x = inception.resize_bilinear(images, self.size)
        x = x.reshape(-1, self.batch, *x.shape[1:])
        f = jax.lax.map(lambda b: inception.pool3(params, b, resize_input=False), x)
        return f.reshape(-1, f.shape[-1])

    def _program(self, params, real_feats, real, z, key, g_vars, d_vars):
        fake = jax.lax.map(lambda zb: generate(self.mcfg, g_vars, zb),
                           z.reshape(-1, self.batch, z.shape[-1]))  # fmt: skip
        fake = fake.reshape(-1, *fake.shape[2:])
        ff = self._features(params, fake)
        kid, kid_std = gan_metrics.kid(real_feats, ff, key, num_subsets=int(self.eval_cfg.kid_subsets),
                                       subset_size=int(self.eval_cfg.kid_subset_size))  # fmt: skip
        acc = lambda x, label: jnp.mean((discriminate(self.mcfg, d_vars, x) > 0) == label)
        s = self.suffix
        return {f"fid{s}": gan_metrics.fid_from_features(real_feats, ff), f"kid{s}": kid,
                f"kid_std{s}": kid_std, "diversity": mean_pairwise_distance(ff),
                "d_acc_real": acc(real, True), "d_acc_fake": acc(fake, False)}  # fmt: skip

    def __call__(self, g_vars, d_vars) -> dict:
        """Runs on the first local device (a data-parallel run's replicated
        variables already hold a copy there)."""
        g_vars, d_vars = jax.device_put((g_vars, d_vars), jax.local_devices()[0])
        return self._run(self.params, self.real_feats, self.real, self.z, self.kid_key, g_vars,
                         d_vars)  # fmt: skip


class Alarms:
    """Host-side state over evaluations: :meth:`check` returns the alarm lines."""

    def __init__(self, cfg):
        self.fraction = float(cfg.diversity_fraction)
        self.win_acc, self.win_evals = float(cfg.d_win_accuracy), int(cfg.d_win_evals)
        self.best, self.d_wins = 0.0, 0

    def check(self, step: int, m: dict) -> list[str]:
        out = []
        div = float(m["diversity"])
        if div < self.fraction * self.best:
            out.append(f"collapse alarm at step {step}: diversity {div:.4g} < "
                       f"{self.fraction:g} x its best {self.best:.4g}")  # fmt: skip
        self.best = max(self.best, div)
        wins = float(m["d_acc_real"]) > self.win_acc and float(m["d_acc_fake"]) > self.win_acc
        self.d_wins = self.d_wins + 1 if wins else 0
        if self.d_wins >= self.win_evals:
            out.append(f"divergence alarm at step {step}: D's accuracy > {self.win_acc:g} on real "
                       f"and fake for {self.d_wins} evaluations running")  # fmt: skip
        return out
