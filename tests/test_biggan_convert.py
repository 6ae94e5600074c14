"""weights_convert.biggan: strict and safe .bin reading, TF-Hub names, CLI, download+cache."""

import contextlib
import functools
import hashlib
import http.server
import json
import os
import threading

import numpy as np
import pytest
from cli_harness import run_cli

torch = pytest.importorskip("torch", reason="converter tests need torch (the 'convert' extra)")
pytest.importorskip(
    "pytorch_pretrained_biggan", reason="converter tests need pytorch-pretrained-biggan"
)

from biggan_reference import random_reference, reference_forward, state_dict_numpy  # noqa: E402

import biggan_jax  # noqa: E402
from biggan_jax import hub  # noqa: E402
from neural_art.fetch import Artifact, WeightsUnavailableError  # noqa: E402
from weights_convert import CheckpointMismatchError, UnsafeCheckpointError  # noqa: E402
from weights_convert import biggan as conv  # noqa: E402
from weights_convert import biggan_names as names  # noqa: E402
from weights_convert import biggan_tfhub as tfhub  # noqa: E402

# width 8: at width 4 attention θ has one output channel, whose [1, 1] u0 the reference TF converter squeezes to a scalar
CFG = biggan_jax.BIGGAN_DEEP_128.replace(channel_width=8, name="tiny-128")


@pytest.fixture(scope="module")
def ref_model():
    return random_reference(CFG, seed=5)


@pytest.fixture(scope="module")
def bin_dir(ref_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("release")
    torch.save(ref_model.state_dict(), d / "pytorch_model.bin")
    (d / "config.json").write_text(json.dumps(CFG.to_hf_dict()))
    return d


def _images(cfg, params, t=0.5):
    z = np.asarray(biggan_jax.truncated_noise(__import__("jax").random.key(0), 2, t))
    y = biggan_jax.class_vector(["volcano", {"stupa": 0.5, "espresso": 0.5}])
    return z, y, np.asarray(biggan_jax.generate(cfg, params, z, y, t))


def test_round_trip_names(ref_model):
    sd = state_dict_numpy(ref_model)
    params = conv.from_torch_state_dict(CFG, sd)
    back = conv.to_torch_state_dict(CFG, params)
    assert set(back) == set(sd)
    for k in sd:
        np.testing.assert_array_equal(back[k], sd[k], err_msg=k)


def test_strict_errors_name_every_tensor(ref_model):
    sd = state_dict_numpy(ref_model)
    del sd["generator.layers.3.conv_1.weight_orig"]
    sd["generator.layers.0.bn_0.extra"] = np.zeros(3, np.float32)
    sd["generator.gen_z.bias"] = np.zeros(5, np.float32)
    with pytest.raises(CheckpointMismatchError) as e:
        conv.from_torch_state_dict(CFG, sd, source="x.bin")
    msg = str(e.value)
    assert "x.bin" in msg
    assert "generator.layers.3.conv_1.weight_orig  (expected shape (32, 32, 3, 3))" in msg
    assert "generator.layers.0.bn_0.extra  (shape (3,))" in msg
    assert "generator.gen_z.bias: expected (2048,), file has (5,)" in msg


def test_wrong_architecture_is_reported(bin_dir):
    other = CFG.replace(channel_width=16)
    with pytest.raises(CheckpointMismatchError, match="wrong shape"):
        conv.convert_torch(bin_dir / "pytorch_model.bin", other)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bin"
    torch.save({"embeddings.weight": torch.zeros(2), "payload": _Evil(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match="evil.bin"):
        conv.convert_torch(path, CFG)
    assert not marker.exists()
    # The file really is malicious: an unsafe load runs the payload (a shell `touch`).
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_load_path_and_cli(bin_dir, ref_model, tmp_path):
    cfg, params = biggan_jax.load(bin_dir / "pytorch_model.bin")
    assert cfg.to_hf_dict() == CFG.to_hf_dict()
    z, y, ours = _images(cfg, params)
    assert np.abs(ours - reference_forward(ref_model, z, y, 0.5)).max() <= 1e-4
    out = tmp_path / "converted"
    r = run_cli("weights_convert.biggan", [f"--src={bin_dir / 'pytorch_model.bin'}", f"--out_dir={out}"])
    assert r.code == 0, r.err[-2000:]
    meta = json.loads((out / "metadata.json").read_text())
    digest = hashlib.sha256((bin_dir / "pytorch_model.bin").read_bytes()).hexdigest()
    assert meta["source_sha256"] == digest and meta["converter"] == "weights_convert.biggan"
    assert meta["config"] == CFG.to_hf_dict()
    cfg2, params2 = biggan_jax.load(out)
    _, _, again = _images(cfg2, params2)
    np.testing.assert_array_equal(again, ours)


def _write_tf_checkpoint(cfg, params, prefix, module_stats=None):
    """A TF1 checkpoint with the TF-Hub module's variable names (from our name table).

    With ``module_stats``, ``prefix`` is a directory and a TF1 SavedModel is written
    there instead (the TF1 Hub format's layout), whose graph holds the stats as
    constant tensors named ``stack_N`` at the indices the reference
    converter reads (10i+1, 10i+3, 10i+6, 10i+8), other ``stack_N`` being filler."""
    import tensorflow as tf

    rng = np.random.RandomState(0)
    graph = tf.Graph()
    with graph.as_default():
        variables = {}
        for e in names.name_table(cfg):
            if e.tf is None:
                continue
            value = names.get_leaf(params, e.path)
            if e.path[-1] == "u":  # TF-Hub stores u0 as [1, out], before the final power iteration
                value = rng.standard_normal((1, *value.shape)).astype(np.float32)
            variables[e.tf] = tf.compat.v1.Variable(
                np.asarray(value, np.float32), name=e.tf.replace(".", "_")
            )
        saver = tf.compat.v1.train.Saver(variables)
        if module_stats is not None:
            where = {10 * (m // 4) + (1, 3, 6, 8)[m % 4]: m for m in range(len(module_stats))}
            z = tf.compat.v1.placeholder(tf.float32, [None, cfg.z_dim], "z")
            for n in range(max(where) + 2):  # names stack, stack_1, ...
                a = module_stats[where[n]] if n in where else np.full((2,), n, np.float32)
                tf.identity(
                    tf.constant(np.asarray(a, np.float32)), name=f"stack_{n}" if n else "stack"
                )
            sig = tf.compat.v1.saved_model.predict_signature_def({"z": z}, {"default": z})
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            if module_stats is None:
                saver.save(sess, str(prefix), write_meta_graph=False)
                return
            b = tf.compat.v1.saved_model.Builder(str(prefix))
            b.add_meta_graph_and_variables(
                sess, [], signature_def_map={"default": sig}, saver=saver
            )
            b.save()


def test_tfhub_names_give_the_same_params_as_the_reference_conversion(
    ref_model, tmp_path, monkeypatch
):
    pytest.importorskip(
        "tensorflow", reason="TF-Hub conversion needs tensorflow (the 'tfhub' extra)"
    )
    from pytorch_pretrained_biggan import BigGAN
    from pytorch_pretrained_biggan import BigGANConfig as RefConfig
    from pytorch_pretrained_biggan.convert_tf_to_pytorch import load_tf_weights_in_biggan

    params = conv.from_torch_state_dict(CFG, state_dict_numpy(ref_model))
    module = tmp_path / "module"
    (module / "variables").mkdir(parents=True)
    _write_tf_checkpoint(CFG, params, module / "variables" / "variables")
    stats = [names.get_leaf(params, e.path) for e in names.name_table(CFG) if e.path[0] == "batch_stats"]
    np.savez(tmp_path / "stats.npz", *stats)
    torch.save([np.asarray(s) for s in stats], tmp_path / "stats.bin")

    # The reference's own TF->PyTorch converter on that checkpoint ...
    monkeypatch.setenv(
        "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1"
    )  # it torch.loads a list of numpy arrays
    ref = BigGAN(RefConfig.from_dict(CFG.to_hf_dict()))
    ref = load_tf_weights_in_biggan(
        ref, RefConfig.from_dict(CFG.to_hf_dict()), str(module), str(tmp_path / "stats.bin")
    )
    via_bin = conv.from_torch_state_dict(CFG, state_dict_numpy(ref))
    # ... and ours, straight from the TF names, agree.
    via_tf = tfhub.convert_tfhub(module, CFG, str(tmp_path / "stats.npz"))
    flat_bin = dict(__import__("jax").tree_util.tree_leaves_with_path(via_bin))
    flat_tf = dict(__import__("jax").tree_util.tree_leaves_with_path(via_tf))
    assert flat_bin.keys() == flat_tf.keys()
    for k in flat_bin:
        np.testing.assert_allclose(flat_tf[k], flat_bin[k], rtol=1e-5, atol=1e-6, err_msg=str(k))
    ref.eval()
    z, y, ours = _images(CFG, via_tf)
    assert np.abs(ours - reference_forward(ref, z, y, 0.5)).max() <= 1e-4


def test_tfhub_module_dir_stats_are_read_from_its_graph(ref_model, tmp_path):
    pytest.importorskip("tensorflow", reason="TF-Hub conversion needs tensorflow")
    params = conv.from_torch_state_dict(CFG, state_dict_numpy(ref_model))
    stats = [names.get_leaf(params, e.path) for e in names.name_table(CFG) if e.path[0] == "batch_stats"]
    module = tmp_path / "biggan-deep-module"
    _write_tf_checkpoint(CFG, params, module, module_stats=stats)
    got = tfhub.extract_bn_stats(module, tmp_path / "stats.npz")
    assert len(got) == len(stats)
    for a, b in zip(got, stats, strict=True):
        np.testing.assert_array_equal(a, np.asarray(b, np.float32))
    assert len(tfhub.read_bn_stats(tmp_path / "stats.npz")) == len(stats)
    # the CLI reads the statistics from the module itself when --bn_stats is not given
    cfg_json = tmp_path / "config.json"
    cfg_json.write_text(json.dumps(CFG.to_hf_dict()))
    out = tmp_path / "converted"
    r = run_cli("weights_convert.biggan", [f"--src={module}", f"--config={cfg_json}", f"--out_dir={out}"])
    assert r.code == 0, r.err[-2000:]
    _, via_module = biggan_jax.load(out)
    via_npz = tfhub.convert_tfhub(module, CFG, str(tmp_path / "stats.npz"))
    flat_module = dict(__import__("jax").tree_util.tree_leaves_with_path(via_module))
    flat_npz = dict(__import__("jax").tree_util.tree_leaves_with_path(via_npz))
    assert flat_module.keys() == flat_npz.keys()
    for k, a in flat_npz.items():
        np.testing.assert_array_equal(flat_module[k], a, err_msg=str(k))
    with pytest.raises(ValueError, match="not a TF1 Hub"):
        tfhub.extract_bn_stats(tmp_path)


def test_tfhub_missing_variable_and_bad_stats(ref_model, tmp_path):
    pytest.importorskip("tensorflow", reason="TF-Hub conversion needs tensorflow")
    params = conv.from_torch_state_dict(CFG, state_dict_numpy(ref_model))
    _write_tf_checkpoint(CFG, params, tmp_path / "ckpt")
    stats = [names.get_leaf(params, e.path) for e in names.name_table(CFG) if e.path[0] == "batch_stats"]
    with pytest.raises(ValueError, match="BN stats: 3 arrays"):
        tfhub.convert_tfhub(tmp_path / "ckpt", CFG, stats[:3])
    with pytest.raises(CheckpointMismatchError, match="Generator/GBlock/conv0/w/ema_0.9999"):
        tfhub.convert_tfhub(tmp_path / "ckpt", CFG.replace(channel_width=16), stats)


# ------------------------------------------------------------------ download


@contextlib.contextmanager
def _serve(directory):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a, **k: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/"
    finally:
        srv.shutdown()
        srv.server_close()


def _release(base, bin_dir, sha=None):
    b = (bin_dir / "pytorch_model.bin").read_bytes()
    c = (bin_dir / "config.json").read_bytes()
    return hub.Release(
        Artifact(
            "tiny-pytorch_model.bin",
            base + "pytorch_model.bin",
            sha or hashlib.sha256(b).hexdigest(),
            len(b),
        ),
        Artifact("tiny-config.json", base + "config.json", hashlib.sha256(c).hexdigest(), len(c)),
    )


def test_load_by_name_downloads_verifies_converts_and_caches(
    bin_dir, ref_model, tmp_path, monkeypatch
):
    monkeypatch.setenv("NEURAL_ART_JAX_CACHE", str(tmp_path / "cache"))
    with _serve(bin_dir) as base:
        monkeypatch.setitem(hub.RELEASES, "tiny", _release(base, bin_dir))
        cfg, params = biggan_jax.load("tiny")
    z, y, ours = _images(cfg, params)
    assert np.abs(ours - reference_forward(ref_model, z, y, 0.5)).max() <= 1e-4
    assert (tmp_path / "cache" / "tiny-flax" / "metadata.json").exists()
    # server gone: the converted cache is used, no network needed
    cfg2, params2 = biggan_jax.load("tiny")
    np.testing.assert_array_equal(_images(cfg2, params2)[2], ours)


def test_download_sha256_mismatch_is_rejected_and_not_cached(bin_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NEURAL_ART_JAX_CACHE", str(tmp_path / "cache"))
    with _serve(bin_dir) as base:
        monkeypatch.setitem(hub.RELEASES, "tiny", _release(base, bin_dir, sha="0" * 64))
        with pytest.raises(WeightsUnavailableError, match="sha256 .* does not match"):
            biggan_jax.load("tiny")
    assert not (tmp_path / "cache" / "tiny-pytorch_model.bin").exists()
    assert not list((tmp_path / "cache").glob("*.part"))


def test_offline_error_says_what_to_fetch_and_where(bin_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("NEURAL_ART_JAX_CACHE", str(tmp_path / "cache"))
    with _serve(bin_dir) as base:
        rel = _release(base, bin_dir)
    monkeypatch.setitem(hub.RELEASES, "tiny", rel)  # server is now down
    with pytest.raises(WeightsUnavailableError) as e:
        biggan_jax.load("tiny")
    msg = str(e.value)
    assert rel.weights.url in msg and str(tmp_path / "cache" / "tiny-pytorch_model.bin") in msg


def test_released_names_point_at_the_hf_files():
    rel = biggan_jax.RELEASES["biggan-deep-256"]
    assert (
        rel.weights.url
        == "https://s3.amazonaws.com/models.huggingface.co/biggan/biggan-deep-256-pytorch_model.bin"
    )
    assert rel.weights.sha256 == "5900ef4065047e3aa0d1b66197b7f2664dceb59b27080e414ad57e203c485bc5"
    assert rel.weights.size == 234411737
    with pytest.raises(ValueError, match="is not a release"):
        biggan_jax.load("biggan-deep-1024")
