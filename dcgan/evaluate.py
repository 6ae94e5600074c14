"""Watching a DCGAN train: FID/KID or a named stand-in, diversity, D's accuracy; one program.

Every ``config.eval_every`` steps :class:`Evaluator` runs one jitted program
(compiled once for the run, :meth:`Evaluator.__call__`) on G and D's current
variables. It generates ``eval.num_fake`` images from a fixed latent batch,
embeds them with the feature network (batches through ``lax.map``: no host
round trip per batch) and returns scalars. Which feature network, and so which
names (:func:`feature_network`; ``config.eval.features``):

* ``"inception"`` (default) -- pytorch-fid's FID Inception (:mod:`dcgan.inception`,
  the ``pt_inception-2015-12-05`` release, fetched and converted once by
  :func:`dcgan.hub.load_fid_weights`), pool3 features of images resized to
  ``eval.image_size``: ``fid`` / ``kid`` / ``kid_std`` (Fréchet and kernel
  distances, :mod:`neural_art.gan_metrics`, to the features of ``eval.num_real``
  real images computed once when the run starts) and ``diversity``. An input
  other than FID's 299 is named: ``fid_75px``, ``kid_75px``, ``diversity_75px``.
  Where those weights cannot be had (offline), the fallbacks below follow, each
  announced by one warning line.
* ``"vgg19"`` -- the project's VGG-19 (the ``vgg19`` release as converted into the
  weights cache, ``$NEURAL_ART_JAX_CACHE/vgg19-flax``; never fetched here; read by
  :mod:`neural_art.vgg_features`): the activations of :data:`VGG_LAYER`
  (``relu5_1``, 512 channels) averaged over their spatial positions, of images
  resized to ``eval.image_size``. The same statistics are named for what they
  are: ``frechet_vgg19_relu5_1`` (Fréchet distance of Gaussians fitted to these
  features), ``mmd_vgg19_relu5_1`` / ``mmd_std_vgg19_relu5_1`` (the unbiased
  polynomial-kernel MMD^2 over ``eval.kid_subsets`` subsets of
  ``eval.kid_subset_size``, KID's estimator) and ``diversity_vgg19_relu5_1``; an
  input other than VGG's 224 adds ``_<size>px``, a narrow network saved as
  ``vgg19-w8`` (tests) says ``vgg19_w8``.
  Never called FID or KID: the numbers are not comparable to published ones.
  Chosen explicitly, missing weights are an error (one line, how to get them);
  as the ``"inception"`` fallback, they are the next thing tried.
* neither available -- no feature statistics at all: random-weight features have
  no meaning, so none are computed. One warning line names the missing weights
  and how to get them; the evaluation keeps ``diversity_pixels`` (the mean
  pairwise distance between the generated images themselves, [-1, 1] pixels),
  D's accuracy and the alarms (training rows keep the gradient norms).
* ``"random-inception"`` -- only when asked for (cost benchmarks, smoke runs): the
  Inception architecture with fixed random weights (``key(eval.seed)``), its
  numbers named ``frechet_random_inception`` / ``mmd_random_inception`` /
  ``diversity_random_inception`` (``_<size>px`` off 299): the arithmetic of FID,
  not an FID.

Besides: ``d_acc_real`` / ``d_acc_fake`` -- D's accuracy (inference BN) on the real
eval images and on the generated ones; ``diversity*`` is the mean pairwise
distance between the fixed batch's features (:attr:`Evaluator.diversity_real`:
the same for the real images, computed once).

:class:`Alarms` reads those scalars on the host at each evaluation (no extra
sync) and names a collapse (the ``diversity*`` scalar below
``alarms.diversity_fraction`` of its best so far) or a diverging game (D's
accuracy on real *and* fake above ``alarms.d_win_accuracy`` for
``alarms.d_win_evals`` evaluations running).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dcgan import hub, inception
from dcgan.model import discriminate, generate, sample_latents
from neural_art import gan_metrics, vgg_features
from neural_art.errors import UserError
from neural_art.fetch import WeightsUnavailableError

FEATURES = ("inception", "vgg19", "random-inception")
VGG_RELEASE = "vgg19"
VGG_LAYER = "relu5_1"  # the deepest block's first ReLU: 512 channels, spatially averaged
VGG_SIZE = 224  # VGG's ImageNet input side; any other eval.image_size is named


@dataclasses.dataclass(frozen=True)
class FeatureNet:
    """The evaluation's feature space.

    Attributes:
      names: role -> metric name; roles ``frechet``, ``mmd``, ``mmd_std`` (absent
        where there are no feature statistics) and ``diversity``.
      params: the network's params (None for pixels).
      embed: ``(params, images [B, size, size, 3] in [-1, 1]) -> [B, D]``; None:
        the images' own pixels, not resized.
      size: the side images are resized to before ``embed``.
      description: for the log (``"vgg19 relu5_1 (spatial mean), 75px"``).
    """

    names: dict
    params: Any = None
    embed: Callable | None = None
    size: int | None = None
    description: str = ""


def _named(tag: str) -> dict:
    return {"frechet": f"frechet_{tag}", "mmd": f"mmd_{tag}", "mmd_std": f"mmd_std_{tag}",
            "diversity": f"diversity_{tag}"}  # fmt: skip


def _px(size: int, standard: int) -> str:
    return "" if size == standard else f"_{size}px"


def _inception_net(params, size: int, *, random: bool) -> FeatureNet:
    px = _px(size, inception.FID_SIZE)
    if random:
        names = _named("random_inception" + px)
    else:
        names = {"frechet": f"fid{px}", "mmd": f"kid{px}", "mmd_std": f"kid_std{px}",
                 "diversity": f"diversity{px}"}  # fmt: skip
    embed = lambda p, x: inception.pool3(p, x, resize_input=False)
    what = "random-weight Inception" if random else "FID Inception"
    return FeatureNet(names, params, embed, size, f"{what} pool3, {size}px")


def vgg_net(path, size: int, layer: str = VGG_LAYER) -> FeatureNet:
    """The converted VGG at ``path`` as the feature network: ``layer``'s activations
    averaged over positions; names ``frechet_<net>_<layer>[_<size>px]`` etc."""
    net, params = vgg_features.load(path)
    tag = f"{net.name.replace('-', '_')}_{layer}{_px(size, VGG_SIZE)}"
    embed = lambda p, x: vgg_features.pooled_features(net, p, (x + 1.0) / 2.0, layer)
    what = f"{net.name} {layer} (spatial mean), {size}px"
    return FeatureNet(_named(tag), params, embed, size, what)


PIXELS = FeatureNet({"diversity": "diversity_pixels"}, description="pixels (no feature network)")


def how_to_get_weights(cache=None) -> str:
    """The commands that put each feature network's weights into the cache."""
    inc, vgg = hub.fid_converted_dir(cache), vgg_features.release_dir(VGG_RELEASE, cache)
    return (f"the FID Inception is fetched and converted into the cache by any run with network "
            f"access (torch needed once), or by hand: python -m weights_convert.inception "
            f"--src=pt_inception-2015-12-05-6726825d.pth --out_dir={inc}; the VGG fallback: "
            f"python -m weights_convert.vgg --src=vgg19-dcbb9e9d.pth --out_dir={vgg}, or any "
            f"--weights=vgg19 run with network access")  # fmt: skip


def feature_network(eval_cfg) -> FeatureNet:
    """The feature network ``eval_cfg.features`` asks for, or the fallback the
    module doc describes (a warning line when one is taken)."""
    name, size = eval_cfg.features, int(eval_cfg.image_size)
    if name not in FEATURES:
        raise UserError(f"config.eval.features={name!r}: expected one of {FEATURES}")
    if name == "random-inception":
        return _inception_net(inception.random_params(jax.random.key(int(eval_cfg.seed))), size,
                              random=True)  # fmt: skip
    missing = []
    if name == "inception":
        try:
            return _inception_net(hub.load_fid_weights(), size, random=False)
        except WeightsUnavailableError as e:
            missing.append(f"FID Inception weights unavailable ({str(e).split('. ')[0]})")
    vgg_dir = vgg_features.cached_release(VGG_RELEASE)
    if vgg_dir is not None:
        net = vgg_net(vgg_dir, size)
        if missing:
            logging.warning("%s; evaluating with %s features instead, logged as %s / %s "
                            "(not FID/KID)", missing[0], net.description, net.names["frechet"],
                            net.names["mmd"])  # fmt: skip
        return net
    missing.append(f"no converted {VGG_RELEASE} in {vgg_features.release_dir(VGG_RELEASE)}")
    if name == "vgg19":
        raise UserError(f"config.eval.features='vgg19': {missing[0]}; {how_to_get_weights()}")
    logging.warning("evaluating without feature statistics (no FID/KID, no VGG stand-in): %s; "
                    "logging diversity_pixels and D's accuracy only. To get them: %s",
                    "; ".join(missing), how_to_get_weights())  # fmt: skip
    return PIXELS


def mean_pairwise_distance(f: jax.Array) -> jax.Array:
    """Mean Euclidean distance over the ``n(n-1)`` ordered pairs of rows of ``f [n, D]``."""
    sq = jnp.sum(f * f, 1)
    d2 = jnp.clip(sq[:, None] + sq[None, :] - 2.0 * f @ f.T, 0.0)
    n = f.shape[0]
    return jnp.sum(jnp.sqrt(d2) * (1.0 - jnp.eye(n))) / (n * (n - 1))


@dataclasses.dataclass
class Evaluator:
    """Built once per run: ``ev(g_vars, d_vars) -> {name: scalar}`` (device arrays);
    :attr:`net` is the feature space (:func:`feature_network`) and names the scalars."""

    mcfg: object
    eval_cfg: object
    real: np.ndarray  # [num_real, res, res, nc] in [-1, 1]
    seed: int

    def __post_init__(self):
        e = self.eval_cfg
        self.net = feature_network(e)
        self.params = self.net.params
        self.batch = int(e.batch)
        nf = int(e.num_fake)
        if nf % self.batch or len(self.real) % self.batch:
            raise UserError(f"config.eval.num_fake ({nf}) and num_real ({len(self.real)}) must be "
                            f"multiples of config.eval.batch ({self.batch})")  # fmt: skip
        logging.info("evaluation features: %s; metrics %s", self.net.description,
                     ", ".join(self.net.names.values()))  # fmt: skip
        self.z = sample_latents(jax.random.fold_in(jax.random.key(self.seed), 5), nf,
                                self.mcfg.nz)  # fmt: skip
        self.kid_key = jax.random.fold_in(jax.random.key(self.seed), 6)
        self.real = jnp.asarray(self.real)
        self.real_feats = jax.jit(self._features)(self.params, self.real)  # once per run
        self.diversity_real = float(mean_pairwise_distance(self.real_feats))
        self._run = jax.jit(self._program)

    def _features(self, params, images):
        """``[N, h, w, c]`` in [-1, 1] -> ``[N, D]``, ``batch`` images at a time (``lax.map``)."""
        if self.net.embed is None:  # pixels
            return images.reshape(images.shape[0], -1)
        if images.shape[-1] == 1:
            images = jnp.repeat(images, 3, -1)
        x = inception.resize_bilinear(images, self.net.size)
        x = x.reshape(-1, self.batch, *x.shape[1:])
        f = jax.lax.map(lambda b: self.net.embed(params, b), x)
        return f.reshape(-1, f.shape[-1])

    def _program(self, params, real_feats, real, z, key, g_vars, d_vars):
        fake = jax.lax.map(lambda zb: generate(self.mcfg, g_vars, zb),
                           z.reshape(-1, self.batch, z.shape[-1]))  # fmt: skip
        fake = fake.reshape(-1, *fake.shape[2:])
        ff = self._features(params, fake)
        acc = lambda x, label: jnp.mean((discriminate(self.mcfg, d_vars, x) > 0) == label)
        n = self.net.names
        out = {n["diversity"]: mean_pairwise_distance(ff), "d_acc_real": acc(real, True),
               "d_acc_fake": acc(fake, False)}  # fmt: skip
        if "frechet" in n:
            e = self.eval_cfg
            mmd, mmd_std = gan_metrics.kid(real_feats, ff, key, num_subsets=int(e.kid_subsets),
                                           subset_size=int(e.kid_subset_size))  # fmt: skip
            out |= {n["frechet"]: gan_metrics.fid_from_features(real_feats, ff), n["mmd"]: mmd,
                    n["mmd_std"]: mmd_std}  # fmt: skip
        return out

    def __call__(self, g_vars, d_vars) -> dict:
        """Runs on the first local device (a data-parallel run's replicated
        variables already hold a copy there)."""
        g_vars, d_vars = jax.device_put((g_vars, d_vars), jax.local_devices()[0])
        return self._run(self.params, self.real_feats, self.real, self.z, self.kid_key, g_vars,
                         d_vars)  # fmt: skip


def diversity_key(m: dict) -> str:
    """The one ``diversity`` / ``diversity_<space>`` scalar of an evaluation."""
    keys = [k for k in m if k == "diversity" or k.startswith("diversity_")]
    if len(keys) != 1:
        raise ValueError(f"expected one diversity scalar, got {keys}")
    return keys[0]


class Alarms:
    """Host-side state over evaluations: :meth:`check` returns the alarm lines."""

    def __init__(self, cfg):
        self.fraction = float(cfg.diversity_fraction)
        self.win_acc, self.win_evals = float(cfg.d_win_accuracy), int(cfg.d_win_evals)
        self.best, self.d_wins = 0.0, 0

    def check(self, step: int, m: dict) -> list[str]:
        out = []
        name = diversity_key(m)
        div = float(m[name])
        if div < self.fraction * self.best:
            out.append(f"collapse alarm at step {step}: {name} {div:.4g} < "
                       f"{self.fraction:g} x its best {self.best:.4g}")  # fmt: skip
        self.best = max(self.best, div)
        wins = float(m["d_acc_real"]) > self.win_acc and float(m["d_acc_fake"]) > self.win_acc
        self.d_wins = self.d_wins + 1 if wins else 0
        if self.d_wins >= self.win_evals:
            out.append(f"divergence alarm at step {step}: D's accuracy > {self.win_acc:g} on real "
                       f"and fake for {self.d_wins} evaluations running")  # fmt: skip
        return out
