"""styletransfer.vgg + weights_convert.vgg: shapes, name table, parity with a
torchvision-layout PyTorch VGG on the same random weights, conversion, loading.

Full size only for the one VGG-19 parity test (max pooling) and the converter's
round trip (its CLI detects only the full configs); every other check runs at
channel width 8 or 16 (:func:`styletransfer.vggnet.at_width`)."""

import functools
import http.server
import json
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from cli_harness import assert_one_line_error, run_cli

from styletransfer import vgg
from styletransfer.vggnet import at_width

torch = pytest.importorskip("torch", reason="parity/conversion tests need torch")
nn = torch.nn

from neural_art.fetch import Artifact  # noqa: E402
from weights_convert import vgg as conv  # noqa: E402
from weights_convert.torch_io import CheckpointMismatchError  # noqa: E402


# jitted once per (config, shapes): one compile instead of one per eager op
_apply = jax.jit(vgg.apply, static_argnums=(0, 3), static_argnames=("pooling", "head"))
_init = jax.jit(vgg.init_params, static_argnums=0, static_argnames=("head",))
# the tiny config of the head tests (pool5 3x3 at 96², 2x2 at 75x88)
HEADED = vgg.VGG16.replace(widths=(4, 4, 8, 8, 8), hidden=16, num_classes=5)


def torchvision_vgg(cfg: vgg.VGGConfig, pooling: str = "max") -> nn.Module:
    """torchvision.models.vgg layout without torchvision: same module indices."""
    layers, cin = [], 3
    for n, w in zip(cfg.convs_per_block, cfg.widths, strict=True):
        for _ in range(n):
            layers += [nn.Conv2d(cin, w, 3, padding=1), nn.ReLU(inplace=False)]
            cin = w
        layers.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
    model = nn.Module()
    model.features = nn.Sequential(*layers)
    model.avgpool = nn.AdaptiveAvgPool2d((7, 7))
    model.classifier = nn.Sequential(
        nn.Linear(cin * 49, cfg.hidden), nn.ReLU(), nn.Dropout(),
        nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(), nn.Dropout(),
        nn.Linear(cfg.hidden, cfg.num_classes),
    )  # fmt: skip
    return model.eval()


def torch_features(model, x_nhwc: np.ndarray, cfg: vgg.VGGConfig, head: bool = False):
    """Runs the reference and names every intermediate as we do."""
    mean = torch.tensor(vgg.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(vgg.IMAGENET_STD).view(1, 3, 1, 1)
    x = (torch.from_numpy(x_nhwc).permute(0, 3, 1, 2) - mean) / std
    names = [n for n in cfg.layer_names if not n.startswith(("fc", "relu6", "relu7"))]
    out = {}
    with torch.no_grad():
        for name, mod in zip(names, model.features, strict=True):
            x = mod(x)
            out[name] = x.permute(0, 2, 3, 1).numpy()
        if head:
            x = torch.flatten(model.avgpool(x), 1)
            for name, mod in zip(
                ["fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"],
                model.classifier,
                strict=True,
            ):
                x = mod(x)
                out[name] = x.numpy()
    return out


def _state_dict(model):
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def _rel_err(ours, ref):
    return float(np.max(np.abs(np.asarray(ours) - ref)) / np.max(np.abs(ref)))


@pytest.fixture(scope="module")
def vgg19_full():
    """A full-size torchvision-layout VGG-19 (features only) with random weights, and ours."""
    torch.manual_seed(0)
    model = torchvision_vgg(vgg.VGG19)
    sd = {k: v for k, v in _state_dict(model).items() if k.startswith("features.")}
    return model, conv.from_torch_state_dict(vgg.VGG19, sd)


def test_layer_names_and_torch_table():
    assert vgg.VGG19.layer_names[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert vgg.VGG19.layer_names[-5:] == vgg.HEAD_LAYERS
    assert len(vgg.VGG16.conv_names) == 13 and len(vgg.VGG19.conv_names) == 16
    t19 = vgg.torch_names(vgg.VGG19)
    assert (t19["conv1_1"], t19["conv2_1"], t19["conv4_2"], t19["conv5_4"]) == (
        "features.0", "features.5", "features.21", "features.34",
    )  # fmt: skip
    t16 = vgg.torch_names(vgg.VGG16)
    assert (t16["conv5_3"], t16["fc8"]) == ("features.28", "classifier.6")
    # every torchvision module index of a conv matches our reference model's Conv2d
    # (the indices do not depend on the channel width)
    model = torchvision_vgg(at_width(vgg.VGG16, 8))
    conv_idx = {f"features.{i}" for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d)}
    assert conv_idx == {v for k, v in t16.items() if k.startswith("conv")}


def _check_features(params, model, cfg, pooling):
    x = np.random.default_rng(0).uniform(size=(2, 64, 48, 3)).astype(np.float32)
    ref = torch_features(model, x, cfg)
    layers = ("conv1_1", "relu2_2", "pool2", "conv3_4", "conv4_2", "relu5_1", "pool5")
    ours = jax.jit(vgg.features_fn(cfg, layers, pooling=pooling))(params, x)
    assert set(ours) == set(layers)
    for name in layers:
        assert ours[name].shape == ref[name].shape, name
        err = _rel_err(ours[name], ref[name])
        assert err <= 1e-4, f"{name}: max|ours-ref|/max|ref| = {err:.2e}"


def test_vgg19_features_match_torch(vgg19_full):
    """The one full-size VGG-19 parity test."""
    model, params = vgg19_full
    _check_features(params, model, vgg.VGG19, "max")


def test_vgg19_avg_pooling_features_match_torch():
    cfg = at_width(vgg.VGG19, 16)
    torch.manual_seed(0)
    model = torchvision_vgg(cfg, "avg")
    sd = {k: v for k, v in _state_dict(model).items() if k.startswith("features.")}
    params = conv.from_torch_state_dict(cfg, sd)
    _check_features(params, model, cfg, "avg")
    # and our params written back in torch layout give the same reference network
    back = torchvision_vgg(cfg, "avg")
    back.load_state_dict({k: torch.from_numpy(v) for k, v in
                          conv.to_torch_state_dict(cfg, params).items()}, strict=False)  # fmt: skip
    _check_features(params, back, cfg, "avg")


def test_vgg16_logits_match_torch_224():
    """At 224² pool5 is 7x7: the head reads it as it is (width 8, full head layout)."""
    cfg = at_width(vgg.VGG16, 8)
    torch.manual_seed(0)
    model = torchvision_vgg(cfg)
    params = conv.from_torch_state_dict(cfg, _state_dict(model))
    x = np.random.default_rng(1).uniform(size=(1, 224, 224, 3)).astype(np.float32)
    ref = torch_features(model, x, cfg, head=True)
    logits, ours = _apply(cfg, params, jnp.asarray(x), ("conv3_1", "fc6", "relu7"), head=True)
    assert logits.shape == (1, 1000)
    for name, got in [("fc8", logits), ("conv3_1", ours["conv3_1"]), ("fc6", ours["fc6"]),
                      ("relu7", ours["relu7"])]:  # fmt: skip
        err = _rel_err(got, ref[name])
        assert err <= 1e-4, f"{name}: {err:.2e}"


def test_head_adaptive_pool_non_224():
    """At 96² pool5 is 3x3 and torch's adaptive pool replicates it to 7x7."""
    cfg = HEADED
    torch.manual_seed(3)
    model = torchvision_vgg(cfg)
    params = conv.from_torch_state_dict(cfg, _state_dict(model))
    for size in (96, 75):
        x = np.random.default_rng(size).uniform(size=(2, size, size + 13, 3)).astype(np.float32)
        ref = torch_features(model, x, cfg, head=True)
        logits, _ = _apply(cfg, params, x, head=True)
        assert _rel_err(logits, ref["fc8"]) <= 1e-4


def test_stops_at_deepest_layer_and_odd_shapes():
    cfg = vgg.VGG19.replace(widths=(4, 4, 8, 8, 8))
    params = _init(cfg, jax.random.key(0), head=False)
    x = jnp.full((3, 37, 45, 3), 0.5)
    logits, f = _apply(cfg, params, x, ("relu1_2", "conv3_1"))
    assert logits is None and set(f) == {"relu1_2", "conv3_1"}
    assert f["relu1_2"].shape == (3, 37, 45, 4) and f["conv3_1"].shape == (3, 9, 11, 8)
    # stopping early means params of deeper layers are never read
    shallow = {
        k: v
        for k, v in params.items()
        if k in ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1")
    }
    f2 = jax.jit(vgg.features_fn(cfg, ("relu1_2", "conv3_1")))(shallow, x)
    np.testing.assert_array_equal(f2["conv3_1"], f["conv3_1"])
    with pytest.raises(ValueError, match="unknown vgg19 layer"):
        vgg.apply(cfg, params, x, ["conv6_1"])
    with pytest.raises(ValueError, match="no classifier head"):
        vgg.apply(cfg, params, x, ["fc6"])
    # vmap over images and over params both work
    ys = jax.jit(jax.vmap(lambda im: vgg.apply(cfg, params, im[None], ["pool2"])[1]["pool2"]))(x)
    assert ys.shape == (3, 1, 9, 11, 4)


def test_init_params_statistics():
    cfg = at_width(vgg.VGG16, 16)  # conv3_2: 3x3x64x64
    p = _init(cfg, jax.random.key(1), head=False)
    vgg.check_params(cfg, p)
    with pytest.raises(ValueError):  # the check sees a width mismatch
        vgg.check_params(vgg.VGG16, p)
    k = np.asarray(p["conv3_2"]["kernel"])
    assert k.shape == (3, 3, 64, 64)
    np.testing.assert_allclose(k.std(), np.sqrt(2 / (9 * 64)), rtol=0.02)


def test_conversion_roundtrip_and_strictness(tiny_vgg19):
    cfg, with_head = tiny_vgg19
    params = {k: v for k, v in with_head.items() if not k.startswith("fc")}
    sd = conv.to_torch_state_dict(cfg, params)
    back = conv.from_torch_state_dict(cfg, sd)
    jax.tree.map(np.testing.assert_array_equal, back, params)
    head_sd = conv.to_torch_state_dict(cfg, with_head)
    jax.tree.map(np.testing.assert_array_equal, conv.from_torch_state_dict(cfg, head_sd), with_head)
    bad = dict(sd)
    del bad["features.21.bias"]
    bad["features.99.weight"] = np.zeros(3)
    bad["features.0.weight"] = np.zeros((64, 3, 5, 5))
    with pytest.raises(CheckpointMismatchError) as e:
        conv.from_torch_state_dict(cfg, bad)
    msg = str(e.value)
    assert "features.21.bias" in msg and "features.99.weight" in msg and "(64, 3, 5, 5)" in msg
    partial = {**sd, "classifier.0.weight": head_sd["classifier.0.weight"]}  # a partial head
    with pytest.raises(CheckpointMismatchError, match="classifier.3.weight"):
        conv.from_torch_state_dict(cfg, partial)
    with pytest.raises(ValueError, match="not a VGG-16 .13. or VGG-19"):
        conv.detect_config({"features.0.weight": 0})


def test_cli_and_load_paths(tmp_path, vgg19_full):
    """The converter's CLI (in-process) on a full VGG-19 .pth (it detects only the full
    configs), then vgg.load of its output dir and of the .pth."""
    _, params = vgg19_full
    sd = conv.to_torch_state_dict(vgg.VGG19, params)
    pth = tmp_path / "vgg19-feat.pth"
    torch.save({k: torch.tensor(v) for k, v in sd.items()}, pth)
    out = tmp_path / "converted"
    r = run_cli("weights_convert.vgg", [f"--src={pth}", f"--out_dir={out}"])
    assert r.code == 0, r.err[-3000:]
    assert "vgg19, head=False" in r.out
    bad = run_cli("weights_convert.vgg", [f"--src={tmp_path / 'nope.pth'}", f"--out_dir={out}"])
    assert_one_line_error(bad, (2,), "--src")
    assert bad.err.startswith("error: --src") and bad.err.strip().count("\n") == 0, bad.err
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["config_name"] == "vgg19" and meta["head"] is False and meta["source_sha256"]
    for src in (out, pth):
        cfg, p = vgg.load(src)
        assert cfg == vgg.VGG19
        jax.tree.map(np.testing.assert_array_equal, p, params)
    # plain random:vgg16 is the full config (shapes only: eval_shape draws nothing)
    built = {}

    def build():
        built["cfg"], p = vgg.load("random:vgg16", head=False)
        return p

    p = jax.eval_shape(build)
    assert built["cfg"].name == "vgg16" and "fc6" not in p
    assert {k: {n: a.shape for n, a in v.items()} for k, v in p.items()} == vgg.param_shapes(
        vgg.VGG16, head=False
    )
    cfg8, p8 = vgg.load("random:vgg16:8", head=False)
    assert cfg8 == at_width(vgg.VGG16, 8) and cfg8.name == "vgg16-w8" and "fc6" not in p8
    with pytest.raises(ValueError, match="is not a release"):
        vgg.load(tmp_path / "nope")


def test_malicious_pth_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pth"
    torch.save({"features.0.weight": Evil()}, p)
    with pytest.raises(ValueError, match="refusing"):
        vgg.load(p)


def test_load_release_downloads_once_from_local_server(tmp_path):
    """The download path (fetch + sha256 record + convert + cache), served from 127.0.0.1."""
    cfg = vgg.VGG16.replace(widths=(4, 4, 8, 8, 8))
    params = vgg.init_params(cfg, jax.random.key(2), head=False)
    srv_dir = tmp_path / "srv"
    srv_dir.mkdir()
    sd = conv.to_torch_state_dict(cfg, params)
    torch.save({k: torch.tensor(v) for k, v in sd.items()}, srv_dir / "tiny.pth")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(srv_dir))
    handler.log_message = lambda *a: None
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        art = Artifact("tiny.pth", f"http://127.0.0.1:{server.server_port}/tiny.pth")
        cache = tmp_path / "cache"
        got_cfg, got = conv.load_release("vgg16", cache=cache, artifact=art, cfg=cfg)
        assert (cache / "tiny.pth.sha256").exists() and (
            cache / "vgg16-flax" / "metadata.json"
        ).exists()
    finally:
        server.shutdown()
        server.server_close()
    jax.tree.map(np.testing.assert_array_equal, got, params)
    # later loads read the converted cache, without the server
    _, again = conv.load_release("vgg16", cache=cache, artifact=art, cfg=cfg)
    jax.tree.map(np.testing.assert_array_equal, again, params)
    # a corrupted download in the cache is rejected (sha256 recorded on first fetch)
    import shutil

    shutil.rmtree(cache / "vgg16-flax")
    (cache / "tiny.pth").write_bytes(b"corrupt")
    with pytest.raises(Exception, match="corrupt"):
        conv.load_release("vgg16", cache=cache, artifact=art, cfg=cfg)


def test_release_digests_agree_with_torchvision_file_names():
    from styletransfer.hub import RELEASES

    for name in ("vgg16", "vgg19"):
        art = RELEASES[name].artifact
        prefix = art.filename.rsplit(".", 1)[0].rsplit("-", 1)[-1]
        assert art.sha256 and art.sha256.startswith(prefix), name
        assert len(art.sha256) == 64 and art.size and art.size > 5e8, name
        assert art.url.endswith(art.filename), name


def test_flax_module_variables_are_the_params_pytree():
    from styletransfer.vgg import VGG, VGG16, param_shapes

    names = VGG16.layer_names
    mod = VGG(VGG16, frozenset(), len(names) - 1)
    x = jnp.zeros((1, 32, 32, 3), jnp.float32)
    abstract = jax.eval_shape(mod.init, jax.random.key(0), x)["params"]
    got = {k: {n: tuple(a.shape) for n, a in v.items()} for k, v in abstract.items()}
    assert got == param_shapes(VGG16)
    # bf16 inputs compute in bf16, close to fp32
    cfg = HEADED
    params = _init(cfg, jax.random.key(1))
    img = jax.random.uniform(jax.random.key(2), (2, 96, 109, 3))  # the head test's shape
    lf, ff = _apply(cfg, params, img, ("relu3_1",), head=True)
    lb, fb = _apply(cfg, params, img.astype(jnp.bfloat16), ("relu3_1",), head=True)
    assert fb["relu3_1"].dtype == jnp.bfloat16 and lb.shape == lf.shape == (2, 5)
    np.testing.assert_allclose(
        np.asarray(fb["relu3_1"], np.float32),
        ff["relu3_1"],
        atol=0.1 * float(jnp.abs(ff["relu3_1"]).max()),
    )
