"""``python -m styletransfer --preset=gatys2015`` on a normalised random-weight
VGG-19 (width 8, 32 px, 2 L-BFGS steps), its refusals, the Fig. 3 layout on two
rows, and the README's loss-weight table checked numerically."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cli_harness import assert_one_line_error, run_cli
from PIL import Image

from neural_art import store
from styletransfer import Settings, losses, presets, vgg
from styletransfer.vggnet import at_width

CFG = at_width(vgg.VGG19, 8).replace(preprocessing=vgg.CAFFE)


@pytest.fixture(scope="module")
def normalised(tmp_path_factory):
    """A normalised width-8 VGG-19 directory, and content/style pictures."""
    d = tmp_path_factory.mktemp("preset")
    params = vgg.init_params(CFG, jax.random.key(0), head=False)
    norm = vgg.normalise(CFG, params, jax.random.uniform(jax.random.key(1), (4, 32, 32, 3)))
    meta = {"model": "vgg", "config_name": CFG.name, "head": False,
            "preprocessing": CFG.preprocessing.to_dict()}  # fmt: skip
    store.save_params(d / "net", norm, {**meta, "normalised": {"images": 4}})
    store.save_params(d / "plain", params, meta)
    rng = np.random.default_rng(0)
    for name in ("content", "style"):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), np.uint8)).save(d / f"{name}.png")
    return d


def _argv(d, *more):
    return [f"--content={d / 'content.png'}", f"--style={d / 'style.png'}", "--size=32",
            "--steps=2", "--noprogress", *more]  # fmt: skip


def test_preset_runs_end_to_end_and_records_its_settings(normalised, tmp_path):
    d, out = normalised, tmp_path / "out"
    net = f"--weights={d / 'net'}"
    r = run_cli("styletransfer", _argv(d, "--preset=gatys2015", net, f"--out_dir={out}"))
    assert r.code == 0, r.err[-3000:]
    rec = json.loads((out / "settings.json").read_text())
    assert rec["preset"] == "gatys2015" and rec["weights"] == str(d / "net")
    assert rec["pooling"] == "avg" and rec["content_layers"] == ["conv4_2"]
    assert rec["style_layers"] == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    assert rec["style_layer_weights"] is None  # w_l = 1/5
    assert (rec["optimizer"], rec["init"], rec["content_weight"], rec["style_weight"]) == (
        "lbfgs", "noise", 1.0, 1000.0)  # α/β = 1e-3
    assert np.asarray(Image.open(out / "result.png")).shape == (32, 32, 3)


def test_preset_refusals_are_one_line(normalised, tmp_path):
    d = normalised
    cache = tmp_path / "cache"
    r = run_cli("styletransfer", _argv(d, "--preset=gatys2015", f"--out_dir={tmp_path / 'o'}"),
                env={"NEURAL_ART_JAX_CACHE": str(cache)})  # fmt: skip
    assert_one_line_error(r, (2,), "python -m weights_convert.vgg --src=vgg19-caffe --normalise=")
    assert str(cache / "vgg19-normalised") in r.err
    r = run_cli("styletransfer", _argv(d, "--preset=gatys2015", f"--weights={d / 'plain'}"))
    assert_one_line_error(r, (2,), "is not a normalised VGG-19")
    net = f"--weights={d / 'net'}"
    r = run_cli("styletransfer", _argv(d, "--preset=gatys2015", net, "--pooling=max"))
    assert_one_line_error(r, (2,), "--pooling=max contradicts --preset=gatys2015")
    assert not (tmp_path / "o").exists()


def test_fig3_layout_two_rows(normalised, tmp_path):
    """The sweep preset's layout (rows of style layers x α/β columns), on the first
    two rows (each row is one compiled sweep)."""
    d = normalised
    s = Settings(content=str(d / "content.png"), style=(str(d / "style.png"),), mode="sweep",
                 weights=str(d / "net"), size=32, steps=1, progress=False,
                 out_dir=str(tmp_path))  # fmt: skip
    s = presets.apply(s, "gatys2015", {"weights", "content", "style", "mode", "size", "steps"})
    assert s.ratios == (1e-5, 1e-4, 1e-3, 1e-2)
    assert presets.FIG3_ROWS[2] == ("conv1_1", "conv2_1", "conv3_1")
    written = presets.run_fig3(s, rows=presets.FIG3_ROWS[:2])
    fig = np.asarray(Image.open(written["figure3"]))
    assert fig.shape[0] > 2 * 32 and fig.shape[1] > 4 * 32  # 2 rows x 4 columns and labels
    assert (tmp_path / "row2_conv2_1" / "result_ratio_0.001.png").exists()
    row1 = json.loads((tmp_path / "row1_conv1_1" / "settings.json").read_text())
    assert row1["style_layers"] == ["conv1_1"] and row1["preset"] == "gatys2015"


def test_readme_loss_weight_table(tiny_vgg19):
    """neural-style / neural-style-pt / the PyTorch tutorial (content: c_w * MSE mean;
    style per layer: s_w * MSE mean of Grams divided by N*M) equal this library's
    eq. (7) with α = 2 c_w / (N_c M_c), β = 4 s_w, w_l = 1 / N_l^2."""
    cfg, params = tiny_vgg19
    c_layer, s_layers = "conv4_2", ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    x, p, a = (jax.random.uniform(jax.random.key(k), (1, 48, 40, 3)) for k in range(3))
    f = jax.jit(vgg.features_fn(cfg, (c_layer, *s_layers)))
    fx, fp, fa = f(params, x), f(params, p), f(params, a)
    c_w, s_w = 5.0, 100.0  # neural-style's defaults

    def mse(u, v):
        return float(np.mean(np.square(np.asarray(u, np.float64) - np.asarray(v, np.float64))))

    def gram_nm(feat):  # their GramMatrix divided by input:nElement()
        n = feat.shape[-1]
        m = feat.reshape(-1, n).astype(np.float64)
        return m.T @ m / m.size

    theirs = c_w * mse(fx[c_layer], fp[c_layer])
    for n in s_layers:
        theirs += s_w * mse(gram_nm(np.asarray(fx[n])), gram_nm(np.asarray(fa[n])))
    _, _, _, n_c = fx[c_layer].shape
    m_c = fx[c_layer].shape[1] * fx[c_layer].shape[2]
    ours_fn = losses.gatys(
        {c_layer: fp[c_layer]}, losses.style_targets(fa, s_layers), alpha=2 * c_w / (n_c * m_c),
        beta=4 * s_w, content_layers=(c_layer,), style_layers=s_layers,
        style_weights=[1.0 / fx[n].shape[-1] ** 2 for n in s_layers],
    )  # fmt: skip
    ours = float(ours_fn(fx)[0])
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert jnp.isfinite(ours) and ours > 0
