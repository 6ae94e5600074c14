"""styletransfer.vgg.normalise (Gatys et al.'s normalised VGG) on a width-8 random
VGG-19: mean activations 1, features = original / μ, the style loss rescaled as
the scales predict, and ``python -m weights_convert.vgg --normalise=DIR``."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cli_harness import assert_one_line_error, run_cli
from PIL import Image

from styletransfer import losses, vgg
from styletransfer.normalise import activation_means
from styletransfer.vggnet import at_width

CFG = at_width(vgg.VGG19, 8).replace(preprocessing=vgg.CAFFE)
LAYERS = tuple(n for n in CFG.layer_names if n not in vgg.HEAD_LAYERS)


def assert_means_one(orig, got):
    """Every filter's mean is 1 ± 1e-4, a dead one (μ = 0, kept at scale 1) 0; a
    filter firing so rarely that its μ is < 1e-3 of its layer's mean is measured
    in float32 to about 1e-7 x that ratio (:func:`styletransfer.normalise.normalise`),
    so its bound is 1e-6 x the ratio."""
    alive = sum(int((m > 0).sum()) for m in orig.values())
    assert alive > 0.9 * sum(m.size for m in orig.values())
    relaxed = 0
    for name, mu in got.items():
        m = orig[name]
        tol = np.maximum(1e-4, 1e-6 * m.mean() / np.where(m > 0, m, 1.0))
        np.testing.assert_array_less(np.abs(mu - np.where(m > 0, 1.0, 0.0)), tol, err_msg=name)
        relaxed += int(np.sum(tol > 1e-4))
    assert relaxed < 0.05 * alive  # the relaxed bound is for a few filters only


@pytest.fixture(scope="module")
def nets():
    """``(params, normalised, means, images)``; normalised over two streamed batches."""
    params = vgg.init_params(CFG, jax.random.key(3), head=True)
    params = {k: {**v, "bias": 0.1 * jax.random.normal(jax.random.key(7 + i), v["bias"].shape)}
              for i, (k, v) in enumerate(params.items())}  # fmt: skip
    images = jax.random.uniform(jax.random.key(4), (6, 32, 32, 3))
    norm = vgg.normalise(CFG, params, (images[:3], images[3:]))
    means, n = activation_means(CFG, params, images)
    assert n == 6 and "fc6" not in norm
    return params, norm, means, images


def test_mean_activation_is_one_and_features_are_divided_by_mu(nets):
    params, norm, means, images = nets
    got, _ = activation_means(CFG, norm, (images[:4], images[4:]))
    assert_means_one(means, got)
    f = jax.jit(vgg.features_fn(CFG, LAYERS))
    ref, new = f(params, images), f(norm, images)
    for name in LAYERS:
        if name.startswith("pool"):  # the block's last conv
            b = int(name[4:])
            mu = means[f"conv{b}_{CFG.convs_per_block[b - 1]}"]
        else:
            mu = means["conv" + name[4:]]
        # F' = F / μ, compared in the original's units (relative to the layer's largest
        # |F|): a channel with a tiny μ is blown up in F' and would dominate the scale
        mu = np.where(mu > 0, mu, 1.0).astype(np.float32)
        want = np.asarray(ref[name])
        err = float(np.max(np.abs(np.asarray(new[name]) * mu - want)) / np.max(np.abs(want)))
        assert err <= 1e-5, (name, err)


def test_style_loss_rescaled_as_the_scales_predict(nets):
    """E'_l = sum_ij ((G_ij - A_ij) / (μ_i μ_j))^2 / (4 N^2 M^2): the normalised net's
    eq. (4) from the original net's Grams and the μ's."""
    params, norm, means, images = nets
    style_layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    f = jax.jit(vgg.features_fn(CFG, style_layers))
    style, gen = images[:1], images[1:2]
    e = {}
    for key, p in (("orig", params), ("norm", norm)):
        targets = losses.style_targets(f(p, style), style_layers)
        e[key] = losses.style_layer_losses(targets, style_layers)(f(p, gen))
    fo_s, fo_g = f(params, style), f(params, gen)
    for name in style_layers:
        mu = means["conv" + name[4:]]
        mu = jnp.asarray(np.where(mu > 0, mu, 1.0), jnp.float32)  # dead filters: scale 1
        g, a = losses.gram(fo_g[name][0]), losses.gram(fo_s[name][0])
        _, h, w, n = fo_g[name].shape
        want = jnp.sum(jnp.square((g - a) / jnp.outer(mu, mu))) / (4.0 * n**2 * (h * w) ** 2)
        np.testing.assert_allclose(e["norm"][name], want, rtol=1e-4, err_msg=name)
        assert not np.isclose(e["norm"][name], e["orig"][name], rtol=1e-2), name  # it did change


def test_cli_writes_a_normalised_directory(tmp_path, nets):
    from weights_convert import vgg as conv

    params = nets[0]
    src = conv.save(tmp_path / "src", CFG, params, source="test", source_sha256="ab" * 32)
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(((40, 52), (48, 36), (33, 33))):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(imgs / f"{i}.png")
    (imgs / "notes.txt").write_text("not an image")
    out = tmp_path / "norm"
    args = [f"--src={src}", f"--normalise={imgs}", f"--out_dir={out}", "--normalise_size=32",
            "--chunk_size=2"]  # fmt: skip
    r = run_cli("weights_convert.vgg", args)
    assert r.code == 0, r.err[-3000:]
    assert "normalised over 3 images" in r.out
    meta = json.loads((out / "metadata.json").read_text())
    info = meta["normalised"]
    assert info["images"] == 3 and info["image_side"] == 32 and meta["source_sha256"] == "ab" * 32
    assert meta["preprocessing"]["name"] == "caffe" and meta["head"] is False
    cfg, norm = vgg.load(out)
    assert cfg == CFG and "fc6" not in norm
    from weights_convert.vgg_normalise import batches, list_images

    orig, _ = activation_means(cfg, params, batches(list_images(imgs), 32, 2))
    means, _ = activation_means(cfg, norm, batches(list_images(imgs), 32, 2))
    assert info["dead_filters"] == sum(int(np.sum(m == 0)) for m in orig.values())
    assert_means_one(orig, means)
    again = run_cli("weights_convert.vgg", [f"--src={out}", f"--normalise={imgs}",
                                            f"--out_dir={tmp_path / 'x'}"])  # fmt: skip
    assert_one_line_error(again, (2,), "normalised already")
    same = run_cli("weights_convert.vgg", [f"--src={src}", f"--normalise={imgs}", f"--out_dir={src}"])
    assert_one_line_error(same, (2,), "is --src")
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = run_cli("weights_convert.vgg",
                  [f"--src={src}", f"--normalise={empty}", f"--out_dir={out}"])  # fmt: skip
    assert_one_line_error(bad, (1, 2), "--normalise")
    assert not (tmp_path / "x").exists()
