"""A NaN or ±inf in weights is refused where it enters, naming the tensor and the
file: converted directories of every model (a damaged or foreign one: written
here past the check), PyTorch checkpoints (every converter reads them through
one loader), and saving (a converter or an export never writes them)."""

from __future__ import annotations

import json
import re
import shutil

import jax
import numpy as np
import pytest
from cli_harness import assert_one_line_error, run_cli
from fixtures import TINY_BIGGAN, TINY_VGG16

import dcgan
from dcgan.hub import EMBEDDED_DIR
from neural_art import store
from styletransfer import hub as vgg_hub


def _poison(d, pick: str) -> str:
    """Rewrites ``d/params`` with one NaN in the first leaf whose path contains
    ``pick`` (orbax directly, as a damaged or foreign directory would be). Returns
    that leaf's name as the error should give it."""
    import orbax.checkpoint as ocp

    tree = ocp.StandardCheckpointer().restore(d / "params")
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    names = ["/".join(str(k.key) for k in p) for p, _ in flat]
    i = next(i for i, n in enumerate(names) if pick in n)
    leaves = [np.array(x) for _, x in flat]
    leaves[i].flat[-1] = np.nan
    tree = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(tree), leaves)
    shutil.rmtree(d / "params")
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(d / "params", tree)
    ckpt.wait_until_finished()
    return names[i]


def test_biggan_cli_refuses_a_nan_leaf_by_name_before_creating_anything(tmp_path, tiny_biggan):
    from weights_convert import biggan as conv

    cfg, params = tiny_biggan
    d = conv.save(tmp_path / "w", cfg, params, source=TINY_BIGGAN, source_sha256=None)
    name = _poison(d, "B2/")
    out = tmp_path / "out"
    r = run_cli("biggan_jax", [f"--weights={d}", "--classes=volcano", "--seeds=0", f"--out_dir={out}"])
    line = assert_one_line_error(r, (1,), name)
    assert str(d) in line and "non-finite" in line and not out.exists()


def test_vgg_and_dcgan_directories_refuse_a_nan_leaf(tmp_path, tiny_vgg16):
    from weights_convert import vgg as conv

    cfg, params = tiny_vgg16
    d = conv.save(tmp_path / "vgg", cfg, params, source=TINY_VGG16, source_sha256=None)
    name = _poison(d, "conv4_2")
    with pytest.raises(store.NonFiniteError, match=re.escape(f"{d}: tensor {name} holds 1 non-finite")):
        vgg_hub.load(d)
    g = tmp_path / "dcgan"
    shutil.copytree(EMBEDDED_DIR, g)
    name = _poison(g, "generator")
    with pytest.raises(store.NonFiniteError, match=re.escape(f"tensor {name} holds 1 non-finite")):
        dcgan.load(str(g))
    json.loads((g / "metadata.json").read_text())  # the rest of the directory is untouched


def test_saving_refuses_non_finite_weights_and_writes_nothing(tmp_path):
    for bad in (np.nan, np.inf, -np.inf):
        params = {"a": {"kernel": np.ones((2, 3), np.float32)}, "b": np.array([1.0, bad], np.float32)}
        with pytest.raises(store.NonFiniteError, match=r"tensor b holds 1 non-finite value\(s\) \(\S+ at index \[1\]\)"):
            store.save_params(tmp_path / "w", params, {"model": "test"})
        assert not (tmp_path / "w").exists()
    store.check_finite({"steps": np.array([3]), "w": np.zeros(2, jax.numpy.bfloat16)}, "ints and bf16")


def test_pytorch_checkpoints_with_nan_are_refused_by_tensor_name(tmp_path):
    torch = pytest.importorskip("torch", reason="reading .pth checkpoints needs torch (the 'convert' extra)")
    from weights_convert.torch_io import load_torch_state_dict

    path = tmp_path / "netG.pth"
    torch.save({"main.0.weight": torch.ones(2, 2), "main.1.bias": torch.tensor([0.0, float("inf")])}, path)
    with pytest.raises(store.NonFiniteError, match=re.escape(f"{path}: tensor main.1.bias holds 1 non-finite")):
        load_torch_state_dict(path)
