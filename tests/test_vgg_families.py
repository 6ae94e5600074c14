"""VGG weight families: each key layout (torchvision, jcjohnson's ``classifier.1/.4/.6``,
Gatys' conv-only ``convB_L``) converted from a state dict written with those exact
names, saved, loaded and applied to RGB [0, 1] images equals a PyTorch VGG fed that
family's preprocessed input, every layer; releases downloaded from 127.0.0.1 mirrors.

Everything at channel width 8 (:func:`styletransfer.vggnet.at_width`), the PyTorch
reference too."""

import dataclasses
import hashlib
import http.server
import json
import threading

import jax
import numpy as np
import pytest
from cli_harness import assert_one_line_error, run_cli

from neural_art.errors import UserError
from styletransfer import vgg
from styletransfer.hub import RELEASES
from styletransfer.vggnet import at_width

torch = pytest.importorskip("torch", reason="parity/conversion tests need torch")
nn = torch.nn

from neural_art import fetch  # noqa: E402
from weights_convert import vgg as conv  # noqa: E402
from weights_convert import vgg_layouts  # noqa: E402

CFG = at_width(vgg.VGG19, 8)
_apply = jax.jit(vgg.apply, static_argnums=(0, 3), static_argnames=("head",))


def reference(cfg, layout: str) -> nn.Module:
    """A PyTorch VGG whose state dict has ``layout``'s exact key names."""
    convs, layers, cin = [], [], 3
    for b, (n, w) in enumerate(zip(cfg.convs_per_block, cfg.widths, strict=True)):
        for i in range(n):
            c = nn.Conv2d(cin, w, 3, padding=1)
            convs.append((f"conv{b + 1}_{i + 1}", c))
            layers += [c, nn.ReLU()]
            cin = w
        layers.append(nn.MaxPool2d(2, 2))
    m = nn.Module()
    if layout == "gatys":  # leongatys/PytorchNeuralStyleTransfer's VGG: convs as attributes
        for name, c in convs:
            setattr(m, name, c)
    else:
        m.features = nn.Sequential(*layers)
    m.seq = layers  # forward order (not a registered module)
    fc = [nn.Linear(cin * 49, cfg.hidden), nn.ReLU(), nn.Dropout(),
          nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(), nn.Dropout(),
          nn.Linear(cfg.hidden, cfg.num_classes)]  # fmt: skip
    if layout == "jcjohnson":  # the early torchvision head: Dropout first -> 1, 4, 6
        fc = [nn.Dropout(), fc[0], fc[1], fc[2], fc[3], fc[4], fc[6]]
    if layout != "gatys":
        m.classifier = nn.Sequential(*fc)
    return m.eval()


def family_input(rgb01: np.ndarray, family: str) -> np.ndarray:
    """The family's preprocessing, written out independently of the library (NHWC)."""
    if family == "caffe":
        return rgb01[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68], np.float32)
    return (rgb01 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])


def torch_features(m, x_nhwc, cfg, head: bool):
    names = [n for n in cfg.layer_names if not n.startswith(("fc", "relu6", "relu7"))]
    x = torch.from_numpy(np.ascontiguousarray(x_nhwc, np.float32)).permute(0, 3, 1, 2)
    out = {}
    with torch.no_grad():
        for name, mod in zip(names, m.seq, strict=True):
            x = mod(x)
            out[name] = x.permute(0, 2, 3, 1).numpy()
        if head:
            x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 7), 1)
            mods = [mod for mod in m.classifier if not isinstance(mod, nn.Dropout)]
            for name, mod in zip(("fc6", "relu6", "fc7", "relu7", "fc8"), mods, strict=True):
                x = mod(x)
                out[name] = x.numpy()
    return out


def _save_pth(m, path):
    torch.manual_seed(0)
    for p in m.parameters():  # biases too: a zero bias would hide a misnamed one
        nn.init.normal_(p, std=0.1)
    torch.save(m.state_dict(), path)
    return path


@pytest.mark.parametrize(
    "layout,family,keys",
    [
        ("torchvision", "torchvision", ("features.0.weight", "classifier.0.weight",
                                        "classifier.3.bias")),
        ("jcjohnson", "caffe", ("features.34.bias", "classifier.1.weight", "classifier.4.bias")),
        ("gatys", "caffe", ("conv1_1.weight", "conv5_4.bias")),
    ],
)
def test_each_layout_matches_torch_on_its_preprocessed_input(tmp_path, layout, family, keys):
    m = reference(CFG, layout)
    pth = _save_pth(m, tmp_path / f"{layout}.pth")
    sd = torch.load(pth, weights_only=True)
    assert set(keys) <= set(sd) and vgg_layouts.detect_layout(sd) == layout
    if layout == "gatys":
        assert len(sd) == 32 and all(k.split(".")[0] in CFG.conv_names for k in sd)
    cfg, params = conv.convert_torch(pth, CFG)  # the layout's default convention
    assert cfg.preprocessing.name == family
    out = conv.save(tmp_path / "out", cfg, params, source=str(pth), source_sha256=None)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["preprocessing"]["name"] == family and meta["config_name"] == "vgg19-w8"
    cfg, params = vgg.load(out)  # through neural_art.store alone
    assert cfg.preprocessing == (vgg.CAFFE if family == "caffe" else vgg.TORCHVISION)
    head = layout != "gatys"
    x = np.random.default_rng(1).uniform(size=(2, 32, 40, 3)).astype(np.float32)
    ref = torch_features(m, family_input(x, family), CFG, head)
    _, ours = _apply(cfg, params, x, tuple(ref), head=head)
    for name, r in ref.items():
        err = float(np.max(np.abs(np.asarray(ours[name]) - r)) / np.max(np.abs(r)))
        assert err <= 1e-5, (layout, name, err)
    if not head:  # conv only: a head layer is a one-line user error
        with pytest.raises(UserError, match="no classifier head.*fc8 needs it"):
            vgg.apply(cfg, params, x, ("fc8",))


def test_preprocessing_override_and_strict_names(tmp_path):
    """--preprocessing=caffe on torchvision keys (neural-style-pt's renamed Caffe
    models), through the CLI on width-8 VGG-16 conv layers (config and width read
    from the file); a misnamed or misshapen tensor in the Gatys layout is named as
    the file names it."""
    m = reference(at_width(vgg.VGG16, 8), "torchvision")
    sd = {k: v for k, v in m.state_dict().items() if k.startswith("features.")}
    pth = tmp_path / "vgg16-renamed.pth"
    torch.save(sd, pth)
    out = tmp_path / "out"
    args = [f"--src={pth}", f"--out_dir={out}"]
    r = run_cli("weights_convert.vgg", [*args, "--preprocessing=caffe"])
    assert r.code == 0, r.err[-3000:]
    assert "vgg16-w8, head=False, preprocessing=caffe" in r.out
    assert vgg.load(out)[0] == at_width(vgg.VGG16, 8).replace(preprocessing=vgg.CAFFE)
    bad = run_cli("weights_convert.vgg", [*args, "--preprocessing=bgr"])
    assert_one_line_error(bad, (2,), "--preprocessing")
    gatys = vgg_layouts.to_state_dict(CFG, vgg.init_params(CFG, jax.random.key(0), head=False),
                                      layout="gatys")  # fmt: skip
    gatys["conv9_9.weight"] = gatys.pop("conv3_2.weight")
    gatys["conv1_1.bias"] = np.zeros(5, np.float32)
    with pytest.raises(ValueError) as e:
        vgg_layouts.from_state_dict(CFG, gatys)
    assert "conv3_2.weight" in str(e.value) and "conv9_9.weight" in str(e.value)
    assert "conv1_1.bias" in str(e.value)


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}

    def do_GET(self):
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        short = self.path.startswith("/short/")
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if short else body)
        self.close_connection = True

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("release,layout", [("vgg19-caffe", "jcjohnson"), ("vgg19-gatys", "gatys")])
def test_release_mirrors_from_local_server(tmp_path, server, release, layout):
    """The release's own artifact (file name, digest rules) with its URLs moved to
    127.0.0.1: first mirror down -> the truncated one refused -> the third used;
    the digest recorded on first use (with its URL) and enforced afterwards."""
    pth = _save_pth(reference(CFG, layout), tmp_path / "src.pth")
    body = pth.read_bytes()
    name = f"vgg19-{hashlib.sha256(body).hexdigest()[:8]}.pth"  # the file-name digest convention
    _Handler.files = {f"/short/{name}": body, f"/ok/{name}": body}
    art = RELEASES[release].artifact
    art = dataclasses.replace(art, url="http://127.0.0.1:9/" + name,
                              mirrors=(f"{server}/short/{name}", f"{server}/ok/{name}"))
    assert art.sha256 is None and len(RELEASES[release].artifact.urls) >= 2
    cache = tmp_path / "cache"
    cfg, params = conv.load_release(release, cache=cache, artifact=art, cfg=CFG)
    assert cfg.preprocessing == vgg.CAFFE and ("fc6" in params) == (layout != "gatys")
    record = (cache / (art.filename + ".sha256")).read_text().split()
    assert record == [hashlib.sha256(body).hexdigest(), art.mirrors[1]]
    meta = json.loads((cache / f"{release}-flax" / "metadata.json").read_text())
    assert meta["preprocessing"]["name"] == "caffe" and meta["release"] == release
    cfg2, again = conv.load_release(release, cache=cache, artifact=art, cfg=CFG)  # cached
    assert cfg2 == cfg
    jax.tree.map(np.testing.assert_array_equal, again, params)
    import shutil

    shutil.rmtree(cache / f"{release}-flax")
    (cache / art.filename).write_bytes(body[:-1] + bytes([body[-1] ^ 1]))  # one bit flipped
    says = f"expected {record[0]} for {art.mirrors[1]}"  # the digest and the URL it came from
    with pytest.raises(fetch.WeightsUnavailableError, match=says):
        conv.load_release(release, cache=cache, artifact=art, cfg=CFG)


def test_release_table():
    """Every release names its family; the Caffe files' digests are checked
    against their file names, each with a mirror."""
    assert {n: (r.config, r.preprocessing.name) for n, r in RELEASES.items()} == {
        "vgg16": ("vgg16", "torchvision"), "vgg19": ("vgg19", "torchvision"),
        "vgg16-caffe": ("vgg16", "caffe"), "vgg19-caffe": ("vgg19", "caffe"),
        "vgg19-gatys": ("vgg19", "caffe"),
    }  # fmt: skip
    for name in ("vgg16-caffe", "vgg19-caffe", "vgg19-gatys"):
        art = RELEASES[name].artifact
        assert len(art.urls) >= 2 and art.sha256 is None, name
    assert RELEASES["vgg19-caffe"].artifact.url.endswith("vgg19-d01eb7cb.pth")
    assert RELEASES["vgg19-caffe"].artifact.digest_in_name


def test_featvis_on_cached_caffe_release(tmp_path):
    """``python -m featvis --weights=vgg16-caffe`` (Despraz's network): the release
    name resolves to the converted cache (here a width-8 VGG-16 with Caffe
    preprocessing) and featvis renders through it unchanged; a cached directory
    of the wrong family in the release's slot is a one-line error."""
    from featvis import models

    cfg = at_width(vgg.VGG16, 8).replace(preprocessing=vgg.CAFFE)
    params = vgg.init_params(cfg, jax.random.key(0), head=True)
    cache = tmp_path / "cache"
    conv.save(cache / "vgg16-caffe-flax", cfg, params, source="test", source_sha256=None)
    env = {"NEURAL_ART_JAX_CACHE": str(cache)}
    out = tmp_path / "fv"
    r = run_cli("featvis", ["--weights=vgg16-caffe", "--targets=1,relu3_1:0", "--method=pixel",
                            "--size=32", "--steps=2", f"--out_dir={out}"], env=env)  # fmt: skip
    assert r.code == 0, r.err[-3000:]
    assert (out / "grid.png").exists()
    assert models.vgg(str(cache / "vgg16-caffe-flax")).apply.cfg.preprocessing == vgg.CAFFE
    conv.save(cache / "vgg16-caffe-flax", cfg.replace(preprocessing=vgg.TORCHVISION), params,
              source="test", source_sha256=None)  # fmt: skip
    bad = run_cli("featvis", ["--weights=vgg16-caffe", "--targets=1", f"--out_dir={out}"], env=env)
    assert_one_line_error(bad, (1, 2), "not release vgg16-caffe")
