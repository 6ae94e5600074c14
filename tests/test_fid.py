"""FID/KID: our Inception-v3 equals pytorch-fid's ``InceptionV3([3])`` (random
weights, served by a local HTTP server through the release's download-and-convert
path), our Fréchet distance equals ``pytorch_fid.fid_score.calculate_frechet_distance``
and our KID equals a NumPy reference of the unbiased estimator."""

import functools
import http.server
import importlib.util
import sys
import threading
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neural_art import gan_metrics as gm


def _import_pytorch_fid():
    """``pytorch_fid.inception``. torchvision's PyPI wheel is built against CUDA
    torch; on the CPU torch its compiled ops library does not load and ``import
    torchvision`` fails in its op registrations. pytorch-fid needs only
    torchvision's Python model code (``models.inception``), so then the package
    is entered without its ``__init__`` (which loads those ops)."""
    pytest.importorskip("torch", reason="pytorch-fid needs torch")
    if importlib.util.find_spec("pytorch_fid") is None:
        pytest.skip("pytorch-fid not installed (pip install 'neural-art-jax[test]')")
    try:
        importlib.import_module("torchvision")
    except (RuntimeError, OSError, ImportError):
        spec = importlib.util.find_spec("torchvision")
        pkg = types.ModuleType("torchvision")
        pkg.__path__, pkg.__spec__, pkg.__version__ = list(spec.submodule_search_locations), spec, "0.28"
        sys.modules["torchvision"] = pkg
    import pytorch_fid.inception as fid_inception

    return fid_inception


@functools.cache
def _reference():
    """pytorch-fid's ``InceptionV3([3])`` with random weights, and the state dict
    of the ``Inception3`` inside it (names as in the released .pth, ``fc`` included).

    Its weights download is replaced by nothing; BN running statistics are set
    to a calibration batch's (so activations stay O(1) through 94 layers) and
    the affine parameters randomised."""
    fid_inception = _import_pytorch_fid()
    import torch
    import torchvision.models.inception as tvi

    captured = []
    orig_load, orig_url = tvi.Inception3.load_state_dict, fid_inception.load_state_dict_from_url
    tvi.Inception3.load_state_dict = lambda self, sd, *a, **k: captured.append(self)
    fid_inception.load_state_dict_from_url = lambda *a, **k: None
    try:
        torch.manual_seed(0)
        net = fid_inception.InceptionV3([3], resize_input=False)
    finally:
        tvi.Inception3.load_state_dict, fid_inception.load_state_dict_from_url = orig_load, orig_url
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in bns:
            m.momentum = 1.0  # running stats := the calibration batch's
            m.weight.copy_(1.0 + 0.2 * torch.randn(m.weight.shape, generator=gen))
            m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
        net.train()
        net(torch.rand(4, 3, 75, 75, generator=gen))
    net.eval()
    sd = {k: v.detach().numpy().copy() for k, v in captured[0].state_dict().items()}
    return fid_inception, net, sd


@pytest.fixture(scope="module")
def served_params(served_release):
    return served_release[0]


@pytest.fixture(scope="module")
def served_release(tmp_path_factory):
    """``(params, cache)``: the random reference weights saved as a .pth, served from
    127.0.0.1 and fetched + converted into ``cache`` by
    :func:`weights_convert.inception.load_release`."""
    import torch

    from neural_art.fetch import Artifact
    from weights_convert import inception as conv

    _, _, sd = _reference()
    tmp = tmp_path_factory.mktemp("fid")
    srv = tmp / "srv"
    srv.mkdir()
    torch.save({k: torch.from_numpy(v) for k, v in sd.items()}, srv / "pt_inception-test.pth")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(srv))
    handler.log_message = lambda *a: None
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    art = Artifact("pt_inception-test.pth",
                   f"http://127.0.0.1:{server.server_port}/pt_inception-test.pth")  # fmt: skip
    try:
        params = conv.load_release(cache=tmp / "cache", artifact=art)
    finally:
        server.shutdown()
        server.server_close()
    assert (tmp / "cache" / "pt_inception-test.pth.sha256").exists()  # digest recorded on first use
    assert (conv.release_dir(tmp / "cache") / "metadata.json").exists()
    again = conv.load_release(cache=tmp / "cache", artifact=art)  # the converted cache, no server
    jax.tree.map(np.testing.assert_array_equal, again, params)
    return params, tmp / "cache"


def test_converted_release_loads_without_the_converter(served_release, monkeypatch, tmp_path):
    """:func:`dcgan.hub.load_fid_weights` reads the converted cache through
    the store alone; only a raw release needs the converter (the stated lazy edge)."""
    import sys

    from dcgan import hub
    from weights_convert import inception as conv

    params, cache = served_release
    assert hub.fid_converted_dir(cache) == conv.release_dir(cache)
    for name in [n for n in list(sys.modules) if n.startswith("weights_convert.")] + ["weights_convert"]:
        monkeypatch.setitem(sys.modules, name, None)
    jax.tree.map(np.testing.assert_array_equal, hub.load_fid_weights(cache), params)
    with pytest.raises(ImportError):  # an empty cache: the raw release needs the converter
        hub.load_fid_weights(tmp_path / "empty")


def test_inception_pool3_equals_pytorch_fid(served_params):
    """The same function: in float64 (torch ``.double()``, ours under x64) the
    pool3 features agree to <= 1e-5 relative (measured 9e-14). In float32 each
    side carries its own rounding through 94 layers -- torch float32 vs float64:
    2.4e-5, ours 5.4e-5 (2026-12-04) -- so float32 is checked to 1e-4."""
    import torch

    from dcgan import inception

    _, net, _ = _reference()
    x01 = np.random.default_rng(0).random((2, 3, 75, 75))
    ours_in = (2 * x01 - 1).transpose(0, 2, 3, 1)
    rel = lambda a, b: np.max(np.abs(a - b)) / np.max(np.abs(b))
    with torch.no_grad():
        (w32,) = net(torch.from_numpy(x01.astype(np.float32)))
        (w64,) = net.double()(torch.from_numpy(x01))
    net.float()
    w32, w64 = w32.numpy()[:, :, 0, 0], w64.numpy()[:, :, 0, 0]
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), served_params)
        g64 = np.asarray(inception.pool3(p64, jnp.asarray(ours_in), resize_input=False))
    assert g64.dtype == np.float64 and g64.shape == (2, inception.POOL3_DIM) and np.std(w64) > 1e-2
    assert rel(g64, w64) <= 1e-5, rel(g64, w64)
    g32 = np.asarray(inception.pool3(served_params, jnp.asarray(ours_in, jnp.float32),
                                     resize_input=False))  # fmt: skip
    assert rel(g32, w32) <= 1e-4, rel(g32, w32)


def test_resize_equals_torch_interpolate():
    """pytorch-fid's input resize (``F.interpolate`` bilinear, ``align_corners=False``)."""
    torch = pytest.importorskip("torch", reason="reference resize is torch's")
    from dcgan.inception import resize_bilinear

    for h, w in ((32, 32), (64, 48), (400, 310)):
        x = np.random.default_rng(h).random((2, 3, h, w), dtype=np.float32)
        want = torch.nn.functional.interpolate(torch.from_numpy(x), size=(299, 299),
                                               mode="bilinear", align_corners=False).numpy()  # fmt: skip
        got = np.asarray(resize_bilinear(jnp.asarray(x.transpose(0, 2, 3, 1))))
        np.testing.assert_allclose(got, want.transpose(0, 2, 3, 1), atol=1e-6)  # measured 1.8e-7


def test_converter_is_strict():
    from weights_convert import inception as conv
    from weights_convert.torch_io import CheckpointMismatchError

    _, _, sd = _reference()
    bad = {k: v for k, v in sd.items() if k != "Mixed_7c.branch_pool.bn.running_var"}
    bad["Mixed_7c.extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises(CheckpointMismatchError, match="Mixed_7c.branch_pool.bn.running_var"):
        conv.from_torch_state_dict(bad)


def _stats(rng, n, d, shift):
    f = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.3 + shift
    return f, np.mean(f, 0), np.cov(f, rowvar=False)


def test_frechet_distance_equals_pytorch_fid():
    fid_inception = _import_pytorch_fid()
    del fid_inception
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(0)
    fa, mu1, s1 = _stats(rng, 300, 64, 0.0)
    fb, mu2, s2 = _stats(rng, 300, 64, 0.5)
    want = calculate_frechet_distance(mu1, s1, mu2, s2)
    with jax.enable_x64(True):
        got = float(gm.frechet_distance(*map(jnp.asarray, (mu1, s1, mu2, s2))))
        from_feats = float(jax.jit(gm.fid_from_features)(jnp.asarray(fa), jnp.asarray(fb)))
        low_rank = float(gm._fid_low_rank(jnp.asarray(fa), jnp.asarray(fb)))  # forced: n > D here
        few = (jnp.asarray(fa[:40]), jnp.asarray(fb[:30]))  # n < D: fid_from_features takes it
        few_eigh = float(gm.frechet_distance(*gm.gaussian_stats(few[0]), *gm.gaussian_stats(few[1])))
        few_auto = float(gm.fid_from_features(*few))
    assert abs(got - want) <= 1e-6 * abs(want), (got, want)
    assert abs(from_feats - want) <= 1e-6 * abs(want)
    assert abs(low_rank - want) <= 1e-6 * abs(want), (low_rank, want)
    assert abs(few_auto - few_eigh) <= 1e-6 * abs(few_eigh), (few_auto, few_eigh)
    f32 = float(jax.jit(gm.fid_from_features)(jnp.asarray(fa, jnp.float32), jnp.asarray(fb, jnp.float32)))
    assert abs(f32 - want) <= 1e-3 * abs(want), (f32, want)  # float32 on device: measured ~1e-5
    f32_few = float(jax.jit(gm.fid_from_features)(*(jnp.asarray(f, jnp.float32) for f in few)))
    assert abs(f32_few - few_eigh) <= 1e-3 * abs(few_eigh), (f32_few, few_eigh)


def _kid_numpy(x, y, idx_x, idx_y):
    """Bińkowski et al.'s unbiased MMD^2 estimator, polynomial kernel, per subset."""
    d = x.shape[1]
    out = []
    for ix, iy in zip(idx_x, idx_y):
        a, b = x[ix], y[iy]
        m = len(ix)
        kxx = (a @ a.T / d + 1) ** 3
        kyy = (b @ b.T / d + 1) ** 3
        kxy = (a @ b.T / d + 1) ** 3
        out.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                   + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())  # fmt: skip
    return np.mean(out), np.std(out)


def test_kid_equals_numpy_unbiased_estimator():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((120, 16))
    y = rng.standard_normal((90, 16)) * 1.2 + 0.3
    key = jax.random.key(3)
    with jax.enable_x64(True):
        mean, std = gm.kid(jnp.asarray(x), jnp.asarray(y), key, num_subsets=7, subset_size=50)
        ix, iy = gm.kid_subsets(key, 120, 90, 7, 50)
    ix, iy = np.asarray(ix), np.asarray(iy)
    assert all(len(set(r)) == 50 for r in ix) and iy.max() < 90  # without replacement, in range
    want = _kid_numpy(x, y, ix, iy)
    np.testing.assert_allclose([float(mean), float(std)], want, rtol=1e-10)
    assert float(mean) > 0
    x2 = rng.standard_normal((120, 16))  # a second sample of x's distribution: KID ~ 0 (unbiased)
    same, _ = gm.kid(jnp.asarray(x, jnp.float32), jnp.asarray(x2, jnp.float32), key, num_subsets=7,
                     subset_size=50)  # fmt: skip
    assert abs(float(same)) < 0.1 * float(mean), (float(same), float(mean))
