"""styletransfer.transfer: behaviour on real scikit-image images with random-weight
VGG-19, parity of a 20-step Adam run with PyTorch, the α/β sweep, blends,
original colours, multi-scale, no recompilation on a second call (Adam, L-BFGS).

Speed (2 shared CPU cores): all tests use VGG-19's topology at channel width 8
(the session's ``tiny_vgg19``: 8..64 channels) at 48 px, so that tests with the
same settings share compiled programs (full-width parity of the network itself
is tested in test_vgg.py).
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

import styletransfer as st
from fixtures import count_compiles
from styletransfer import Settings, color, losses, transfer, vgg

skimage = pytest.importorskip("skimage", reason="test images come from scikit-image")
from skimage import data  # noqa: E402
from skimage import transform as sktf  # noqa: E402


def _rgb(im, n):
    im = sktf.resize(im, (n, n), anti_aliasing=True).astype(np.float32)
    if im.ndim == 2:
        im = np.repeat(im[..., None], 3, -1)
    return np.clip(im, 0, 1)


@pytest.fixture(scope="module")
def net(tiny_vgg19_net):
    return tiny_vgg19_net


@pytest.fixture(scope="module")
def imgs():
    return {
        "astronaut": _rgb(data.astronaut(), 48),
        "brick": _rgb(data.brick(), 48),
        "grass": _rgb(data.grass(), 48),
    }


def test_transfer_100_steps_lowers_total_loss(net, imgs):
    s = Settings(optimizer="adam", steps=100, snapshot_every=50, style_weight=1e4)
    r = transfer.stylize(net, imgs["astronaut"], [imgs["brick"]], s)
    assert r.image.shape == (48, 48, 3) and r.snapshots.shape == (2, 48, 48, 3)
    assert r.image.min() >= 0.0 and r.image.max() <= 1.0
    factor = r.losses[0] / r.losses[-1]
    print(f"Adam 100 steps: total loss {r.losses[0]:.4g} -> {r.losses[-1]:.4g} (x{factor:.1f})")
    assert factor > 10, factor
    assert float(r.parts["total"]) == pytest.approx(float(r.losses[-1]), rel=1e-4)
    np.testing.assert_array_equal(r.snapshots[-1], r.image)


def test_lbfgs_transfer_lowers_loss(net, imgs):
    s = Settings(optimizer="lbfgs", steps=30, style_weight=1e4, init="content")
    r = transfer.stylize(net, imgs["astronaut"], [imgs["grass"]], s)
    factor = r.losses[0] / r.losses[-1]
    print(f"L-BFGS 30 steps from content: total loss x{factor:.1f} lower")
    assert factor > 10 and np.all(np.isfinite(r.losses))
    assert r.image.min() >= 0.0 and r.image.max() <= 1.0


def test_texture_synthesis_lowers_style_loss(net, imgs):
    s = Settings(optimizer="lbfgs", steps=30)
    r = transfer.synthesize_texture(net, imgs["brick"], ("conv1_1", "conv2_1", "conv3_1"), s)
    factor = r.losses[0] / r.losses[-1]
    print(f"texture synthesis: style loss x{factor:.1f} lower")
    assert factor > 20
    assert float(r.parts["content"]) == 0.0 and "style/conv3_1" in r.parts


def test_content_reconstruction_conv1_1_psnr(net, imgs):
    c = imgs["astronaut"]
    r = transfer.reconstruct_content(net, c, "conv1_1", Settings(steps=20))
    p = transfer.psnr(r.image, c)
    print(f"conv1_1 content reconstruction: PSNR {p:.1f} dB")
    assert p > 25
    # deeper layers (after pooling) keep less: reconstruction from noise is worse
    r4 = transfer.reconstruct_content(net, c, "relu4_1", Settings(steps=10))
    assert transfer.psnr(r4.image, c) < p


def test_sweep_matches_serial_runs_and_no_recompile(net, imgs):
    s = Settings(optimizer="adam", learning_rate=0.002, steps=10, style_weight=1e3, init="content")
    ratios = (1e-2, 1.0)
    out = transfer.sweep(net, imgs["astronaut"], [imgs["brick"]], ratios, s)
    assert out.image.shape == (2, 48, 48, 3) and out.losses.shape == (2, 11)
    for i, r in enumerate(ratios):
        one = transfer.stylize(
            net, imgs["astronaut"], [imgs["brick"]], s.replace(content_weight=r * s.style_weight)
        )
        # vmapped convs sum in another order; Adam amplifies float noise a little
        np.testing.assert_allclose(out.losses[i], one.losses, rtol=2e-3)
        np.testing.assert_allclose(out.image[i], one.image, atol=2e-3)
    # higher α/β keeps more content
    assert out.parts["content"][1] < out.parts["content"][0]
    # α changes do not recompile (weights are arguments, not constants)
    with count_compiles() as n:
        transfer.stylize(net, imgs["astronaut"], [imgs["brick"]], s.replace(content_weight=123.0))
    assert n[0] == 0


def test_blend_original_colors_multiscale(net, imgs):
    s = Settings(optimizer="adam", steps=10, init="content")
    c, b, g = imgs["astronaut"], imgs["brick"], imgs["grass"][:40]
    r = transfer.stylize(net, c, [b, g], s, blend=[0.7, 0.3])
    assert r.image.shape == c.shape and np.isfinite(r.losses).all()
    oc = transfer.stylize(net, c, [b], s.replace(original_colors=True))
    # chroma (I, Q of YIQ) is the content's, except where RGB clipping to [0, 1] bites
    yiq_out, yiq_c = color.rgb_to_yiq(oc.image), color.rgb_to_yiq(c)
    diff = np.abs(np.asarray(yiq_out - yiq_c))[..., 1:]
    assert np.median(diff) < 1e-3 and diff.mean() < 0.01, (np.median(diff), diff.mean())
    ms = transfer.stylize(net, c, [b], s.replace(scales=(24, 48)))
    assert ms.image.shape == c.shape and np.isfinite(ms.losses).all()


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_second_identical_call_does_not_compile(net, imgs, optimizer):
    s = Settings(optimizer=optimizer, steps=3, snapshot_every=2, init="content")
    args = (net, imgs["astronaut"], [imgs["brick"]], s)
    first = transfer.stylize(*args)
    with count_compiles() as n:
        second = transfer.stylize(*args)
    assert n[0] == 0, f"{n[0]} compilations on the second identical {optimizer} call"
    np.testing.assert_array_equal(first.image, second.image)


def test_nan_reports_step(net, imgs):
    s = Settings(optimizer="adam", steps=5, style_weight=float("inf"))
    with pytest.raises(st.NonFiniteLossError, match="step 0"):
        transfer.stylize(net, imgs["astronaut"], [imgs["brick"]], s)


def test_adam_trajectory_matches_pytorch(net):
    """Same random (width-8) VGG-19, same noise init, 20 Adam steps, clip to [0, 1]."""
    torch = pytest.importorskip("torch", reason="reference run is PyTorch")
    from weights_convert.vgg import to_torch_state_dict

    n = 48
    cfg, params = net.cfg, net.params
    content, style = _rgb(data.astronaut(), n), _rgb(data.grass(), n)
    # Adam's default learning rate is 0.02 (and this run's programs are test 1's)
    s = Settings(optimizer="adam", steps=20, style_weight=1e3, seed=3)
    ours = transfer.stylize(net, content, [style], s)
    x0 = np.asarray(jax.random.uniform(jax.random.key(3), (n, n, 3), jnp.float32))

    # --- independent PyTorch implementation (torchvision layout, NCHW)
    layers_t = []
    cin = 3
    for nb, w in zip(cfg.convs_per_block, cfg.widths, strict=True):
        for _ in range(nb):
            layers_t += [torch.nn.Conv2d(cin, w, 3, padding=1), torch.nn.ReLU()]
            cin = w
        layers_t.append(torch.nn.AvgPool2d(2, 2))
    feats = torch.nn.Sequential(*layers_t)
    sd = to_torch_state_dict(cfg, params)
    feats.load_state_dict({k.removeprefix("features."): torch.tensor(v) for k, v in sd.items()})
    names = [k for k in cfg.layer_names if not k.startswith(("fc", "relu6", "relu7"))]
    mean = torch.tensor(vgg.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(vgg.IMAGENET_STD).view(1, 3, 1, 1)

    def run(x):
        out, h = {}, (x - mean) / std
        for name, m in zip(names, feats, strict=False):
            h = m(h)
            out[name] = h
            if name == "conv5_1":
                break
        return out

    t = lambda a: torch.tensor(a).permute(2, 0, 1)[None]
    with torch.no_grad():
        p = run(t(content))["conv4_2"]
        sf = run(t(style))

    def gram(f):
        f = f.reshape(f.shape[1], -1)
        return f @ f.t()

    a = {k: gram(sf[k]) for k in losses.STYLE_LAYERS}
    x = t(x0).clone().requires_grad_()
    opt = torch.optim.Adam([x], lr=0.02)
    ref = []
    for _ in range(20):
        opt.zero_grad()
        f = run(x)
        lc = 0.5 * ((f["conv4_2"] - p) ** 2).sum()
        ls = 0
        for k in losses.STYLE_LAYERS:
            nn_, m = f[k].shape[1], f[k].shape[2] * f[k].shape[3]
            ls = ls + 0.2 * ((gram(f[k]) - a[k]) ** 2).sum() / (4 * nn_**2 * m**2)
        loss = lc + 1e3 * ls
        loss.backward()
        ref.append(loss.item())
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    ref = np.asarray(ref)
    rel = np.abs(ours.losses[:20] - ref) / ref
    print(f"20-step Adam vs PyTorch: max relative loss difference {rel.max():.2e}")
    assert rel.max() < 1e-3, rel
    assert ref[-1] < ref[0] / 2
