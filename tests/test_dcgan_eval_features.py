"""DCGAN's in-training evaluation when the FID Inception is unavailable (dcgan/evaluate.py):

* with the ``vgg19`` release converted in the weights cache, the statistics are
  computed on the project's VGG (:mod:`neural_art.vgg_features`, equal to
  ``styletransfer.vggnet.apply``) and named ``frechet_vgg19_relu5_1`` /
  ``mmd_vgg19_relu5_1``, never FID/KID; the numbers equal a Fréchet distance and
  an unbiased MMD^2 computed by hand on styletransfer's features;
* with neither network's weights: no feature statistics, one warning line that
  names both and the commands to get them, ``diversity_pixels`` and D's accuracy.

Tiny sizes: ``random:vgg19:8`` (saved as a converted directory), DCGAN ``:tiny``
(16x16), 8 images at 32 px. The Inception fetch is replaced by an offline failure.
"""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from fixtures_dcgan import dcgan_tiny_config

from dcgan import evaluate, hub, inception, steps
from dcgan.model import generate, init_discriminator, init_generator
from neural_art import gan_metrics, vgg_features
from neural_art.errors import UserError
from neural_art.fetch import WeightsUnavailableError

EVAL = dict(features="inception", seed=0, num_real=8, num_fake=8, batch=8, image_size=32,
            kid_subsets=3, kid_subset_size=6)  # fmt: skip


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty weights cache, and the FID Inception fetch failing as it does offline."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("NEURAL_ART_JAX_CACHE", str(cache))

    def no_network(cache=None):
        raise WeightsUnavailableError("could not download pt_inception-2015-12-05-6726825d.pth "
                                      "(no network). Fetch it by hand from ...")  # fmt: skip

    monkeypatch.setattr(hub, "load_fid_weights", no_network)
    return cache


@pytest.fixture
def cached_vgg19(offline, tiny_vgg19):
    """The session's tiny VGG-19 converted into the cache as the ``vgg19`` release."""
    from weights_convert import vgg as vgg_conv

    cfg, params = tiny_vgg19
    vgg_conv.save(vgg_features.release_dir("vgg19"), cfg, params, source="test",
                  source_sha256=None, release="vgg19")  # fmt: skip
    return cfg, params


def _evaluator(seed=0, **eval_kw):
    cfg = dcgan_tiny_config()
    mcfg = steps.model_config(cfg)
    e = ml_collections.ConfigDict({**EVAL, **eval_kw})
    real = np.asarray(jax.random.uniform(jax.random.key(1), (e.num_real, mcfg.resolution,
                                         mcfg.resolution, mcfg.nc), minval=-1, maxval=1))  # fmt: skip
    g = init_generator(mcfg, jax.random.key(2))
    d = init_discriminator(mcfg, jax.random.key(3))
    return evaluate.Evaluator(mcfg, e, real, seed), mcfg, real, g, d


def _frechet_by_hand(a, b):
    """Eq. 6 of Heusel et al. in float64: Tr((S1 S2)^(1/2)) from the eigenvalues
    of S1^(1/2) S2 S1^(1/2) (not the SVD route fid_from_features takes here)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    tr = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(r @ s2 @ r), 0, None)))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr)


@pytest.mark.parametrize("prep", ["torchvision", "caffe"])
def test_vgg_features_equal_styletransfer(tmp_path, tiny_vgg19, prep):
    """The core's VGG reader runs the converted directory as styletransfer does,
    input convention (RGB/BGR, scale, mean/std) included; same cache path."""
    from styletransfer import hub, preprocessing, vggnet
    from weights_convert import vgg as vgg_conv

    cfg, params = tiny_vgg19
    cfg = cfg.replace(preprocessing=preprocessing.get(prep))
    vgg_conv.save(tmp_path / "vgg", cfg, params, source="test", source_sha256=None)
    net, conv = vgg_features.load(tmp_path / "vgg")
    assert net.name == "vgg19-w8" and not any(k.startswith("fc") for k in conv)
    x = jax.random.uniform(jax.random.key(0), (2, 37, 33, 3))
    layers = ("conv1_1", "relu3_2", "pool4", "relu5_1", "pool5")
    want = vggnet.apply(cfg, params, x, layers)[1]
    for layer in layers:
        got = vgg_features.features(net, conv, x, layer)
        np.testing.assert_allclose(got, want[layer], rtol=1e-5, atol=1e-5, err_msg=layer)
    assert vgg_features.release_dir("vgg19", tmp_path) == hub.release_dir("vgg19", tmp_path)


def test_vgg_fallback_is_named_and_equals_frechet_by_hand(cached_vgg19, caplog):
    """Inception unavailable, vgg19 in the cache: one warning, metrics named after
    VGG's layer and size (no 'fid'/'kid'), values equal the hand computation on
    styletransfer's relu5_1 features of the same (resized) images."""
    from styletransfer import vggnet

    caplog.set_level(logging.WARNING)
    ev, mcfg, real, g, d = _evaluator()
    m = {k: float(v) for k, v in jax.device_get(ev(g, d)).items()}
    tag = "vgg19_w8_relu5_1_32px"  # the test network's width in the name; a release's is vgg19
    assert set(m) == {f"frechet_{tag}", f"mmd_{tag}", f"mmd_std_{tag}", f"diversity_{tag}",
                      "d_acc_real", "d_acc_fake"}  # fmt: skip
    assert not any("fid" in k or "kid" in k for k in m)
    warns = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warns) == 1 and "FID Inception weights unavailable" in warns[0]
    assert f"frechet_{tag}" in warns[0] and "not FID/KID" in warns[0]

    cfg, params = cached_vgg19
    feats = lambda x: np.asarray(jnp.mean(vggnet.apply(
        cfg, params, (inception.resize_bilinear(x, 32) + 1) / 2, ["relu5_1"])[1]["relu5_1"],
        axis=(1, 2)), np.float64)  # fmt: skip
    fake = generate(mcfg, g, ev.z)
    fr, ff = feats(jnp.asarray(real)), feats(fake)
    assert fr.shape == (8, 64) and np.std(ff) > 0
    want = _frechet_by_hand(fr, ff)
    assert want > 0 and abs(m[f"frechet_{tag}"] - want) <= 1e-3 * want, (m[f"frechet_{tag}"], want)
    ix, iy = map(np.asarray, gan_metrics.kid_subsets(ev.kid_key, 8, 8, 3, 6))
    d = fr.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3
    mmd = [(k(fr[i], fr[i]).sum() - np.trace(k(fr[i], fr[i]))) / 30
           + (k(ff[j], ff[j]).sum() - np.trace(k(ff[j], ff[j]))) / 30
           - 2 * k(fr[i], ff[j]).mean() for i, j in zip(ix, iy)]  # fmt: skip
    np.testing.assert_allclose([m[f"mmd_{tag}"], m[f"mmd_std_{tag}"]], [np.mean(mmd), np.std(mmd)],
                               rtol=1e-3, atol=1e-6)  # fmt: skip
    np.testing.assert_allclose(ev.diversity_real, np.mean(
        [np.linalg.norm(a - b) for i, a in enumerate(fr) for j, b in enumerate(fr) if i != j]),
        rtol=1e-4)  # fmt: skip


def test_nothing_available_skips_feature_statistics_with_one_warning(offline, caplog):
    """Neither weights: no Fréchet/MMD (random features would mean nothing), one
    warning naming both networks and how to get them; pixel diversity and D's
    accuracy remain, and the collapse alarm reads the pixel diversity."""
    caplog.set_level(logging.WARNING)
    ev, mcfg, real, g, d = _evaluator()
    m = {k: float(v) for k, v in jax.device_get(ev(g, d)).items()}
    assert set(m) == {"diversity_pixels", "d_acc_real", "d_acc_fake"}
    warns = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warns) == 1 and "\n" not in warns[0], warns
    w = warns[0]
    assert "without feature statistics" in w and "FID Inception weights unavailable" in w
    assert f"no converted vgg19 in {offline / 'vgg19-flax'}" in w
    assert "python -m weights_convert.inception" in w and "python -m weights_convert.vgg" in w
    fake = np.asarray(generate(mcfg, g, ev.z)).reshape(8, -1)
    want = np.mean([np.linalg.norm(a - b) for i, a in enumerate(fake) for j, b in enumerate(fake)
                    if i != j])  # fmt: skip
    np.testing.assert_allclose(m["diversity_pixels"], want, rtol=1e-4)
    alarms = evaluate.Alarms(ml_collections.ConfigDict(
        dict(diversity_fraction=0.5, d_win_accuracy=0.95, d_win_evals=3)))  # fmt: skip
    assert alarms.check(1, m) == []
    assert alarms.check(2, {**m, "diversity_pixels": 0.0})[0].startswith(
        "collapse alarm at step 2: diversity_pixels 0 <")  # fmt: skip


def test_vgg19_asked_for_without_weights_is_one_user_error(offline):
    with pytest.raises(UserError, match=r"config.eval.features='vgg19': no converted vgg19 in .*"
                                        r"python -m weights_convert.vgg"):  # fmt: skip
        evaluate.feature_network(ml_collections.ConfigDict({**EVAL, "features": "vgg19"}))


def test_random_inception_is_named_as_such_never_fid(offline, monkeypatch):
    """The explicit random-weight option (benchmarks, smoke runs) keeps FID's
    arithmetic but not its name."""
    seeds = []
    monkeypatch.setattr(inception, "random_params", lambda key: seeds.append(key) or "random")
    net = evaluate.feature_network(ml_collections.ConfigDict(
        {**EVAL, "features": "random-inception", "image_size": 75}))  # fmt: skip
    assert net.names == {"frechet": "frechet_random_inception_75px",
                         "mmd": "mmd_random_inception_75px",
                         "mmd_std": "mmd_std_random_inception_75px",
                         "diversity": "diversity_random_inception_75px"}  # fmt: skip
    assert not any("fid" in n or "kid" in n for n in net.names.values())
    assert net.params == "random" and len(seeds) == 1
    with pytest.raises(UserError, match="expected one of"):
        evaluate.feature_network(ml_collections.ConfigDict({**EVAL, "features": "random"}))


def test_fid_names_only_for_the_fid_inception(offline, monkeypatch, cached_vgg19, caplog):
    """With the FID weights the names are FID's (the input size named off 299),
    and the cached VGG is not used; no warning."""
    monkeypatch.setattr(hub, "load_fid_weights", lambda cache=None: "fid weights")
    caplog.set_level(logging.WARNING)
    for size, px in ((299, ""), (75, "_75px")):
        net = evaluate.feature_network(ml_collections.ConfigDict({**EVAL, "image_size": size}))
        assert net.params == "fid weights" and net.size == size
        assert net.names == {"frechet": f"fid{px}", "mmd": f"kid{px}", "mmd_std": f"kid_std{px}",
                             "diversity": f"diversity{px}"}  # fmt: skip
    assert not caplog.records
