"""featvis.autoencoder / ``python -m featvis.train_autoencoder`` on a tiny
tfds.ImageFolder tree (width 1/16, batch 2, 2 steps), and the decoder it writes
driving the pretrained-decoder mode."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from featvis import autoencoder as A
from featvis import despraz as D

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for label in ("dog", "cat"):
        d = root / "train" / label
        d.mkdir(parents=True)
        for i in range(3):
            size = (40 + 7 * i, 50)  # odd sizes: resized to 224 by the pipeline
            Image.fromarray(rng.integers(0, 256, size + (3,), np.uint8)).save(d / f"{i}.png")
    return root


def test_encoder_decoder_shapes():
    p = jax.eval_shape(lambda k: A.init(k), jax.random.key(0))
    z = jax.eval_shape(
        A.apply_encoder, p["encoder"], jax.ShapeDtypeStruct((2, 224, 224, 3), "float32")
    )
    assert z.shape == (2, D.N_FEATURES)
    # decoder = Table 2's generator: same parameter count as featvis.despraz.DECODER
    assert D.count_params(p["decoder"]) == 5_346_889


def test_train_autoencoder_cli_then_pretrained_mode(folder, tmp_path):
    out = tmp_path / "ae"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT}
    r = subprocess.run(
        [sys.executable, "-m", "featvis.train_autoencoder", f"--images={folder}", "--steps=2",
         "--batch=2", "--width=0.0625", f"--out_dir={out}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "decoder ->" in r.stdout and "last" in r.stdout
    dec = A.load_decoder(out / "decoder.npz")
    prm = D.pretrained(dec)
    img = jax.jit(prm.image)(prm.init(None), dec, jax.random.key(0))
    assert img.shape == (1, 224, 224, 3) and np.isfinite(np.asarray(img)).all()
    with pytest.raises(ValueError, match="not a featvis.despraz.DECODER"):
        A.save_decoder(
            tmp_path / "bad.npz", D.init_generator(jax.random.key(0), D.SCRATCH, width=1 / 16)
        )
        A.load_decoder(tmp_path / "bad.npz")


def test_train_step_compiles_once():
    """A second step (another step number, the same optimiser) reuses the compiled program."""
    p = A.init(jax.random.key(0), width=1 / 16)
    opt = A.optimizer()
    s = opt.init(p)
    x = jax.numpy.zeros((1, 224, 224, 3))
    key = jax.random.key(1)
    p, s, _ = A.train_step(p, s, x, key, np.int32(0), opt=opt, noise_sd=20.0)
    n = A.train_step._cache_size()
    p, s, loss = A.train_step(p, s, x, key, np.int32(1), opt=A.optimizer(), noise_sd=20.0)
    assert A.train_step._cache_size() == n == 1
    assert np.isfinite(float(loss))
