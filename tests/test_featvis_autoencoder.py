"""featvis.autoencoder / ``python -m featvis.train_autoencoder`` on a tiny
tfds.ImageFolder tree (width 1/16, batch 2, 2 steps; in this process), and the
decoder it writes driving the pretrained-decoder mode."""

import jax
import numpy as np
import pytest
from cli_harness import assert_one_line_error, run_cli
from PIL import Image

from featvis import autoencoder as A
from featvis import despraz as D


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
    r = run_cli("featvis.train_autoencoder", [f"--images={folder}", "--steps=2", "--batch=2",
                                              "--width=0.0625", f"--out_dir={out}"])  # fmt: skip
    assert r.code == 0, r.err[-3000:]
    assert "decoder ->" in r.out and "last" in r.out
    dec = A.load_decoder(out / "decoder.npz")
    prm = D.pretrained(dec)
    img = jax.jit(prm.image)(prm.init(None), dec, jax.random.key(0))
    assert img.shape == (1, 224, 224, 3) and np.isfinite(np.asarray(img)).all()
    with pytest.raises(ValueError, match="not a featvis.despraz.DECODER"):
        A.save_decoder(
            tmp_path / "bad.npz", D.init_generator(jax.random.key(0), D.SCRATCH, width=1 / 16)
        )
        A.load_decoder(tmp_path / "bad.npz")


def test_train_autoencoder_cli_usage_errors(folder, tmp_path):
    for argv, msg in ((["--images=/no/such/dir"], "--images=/no/such/dir"),
                      ([f"--images={folder}", "--split=test"], "no 'test' split"),
                      ([f"--images={folder}", "--width=0"], "--width")):  # fmt: skip
        r = run_cli("featvis.train_autoencoder", [*argv, f"--out_dir={tmp_path / 'ae'}"])
        assert_one_line_error(r, (2,), msg)
    assert not (tmp_path / "ae").exists()


def test_train_step_compiles_once():
    """A second step (another step number, the same optimiser) reuses the compiled
    program. (Batch 2 at width 1/16: the program the CLI test compiled, if it ran.)"""
    p = A.init(jax.random.key(0), width=1 / 16)
    opt = A.optimizer()
    s = opt.init(p)
    x = jax.numpy.zeros((2, 224, 224, 3))
    key = jax.random.key(1)
    p, s, _ = A.train_step(p, s, x, key, np.int32(0), opt=opt, noise_sd=20.0)
    n = A.train_step._cache_size()
    p, s, loss = A.train_step(p, s, x, key, np.int32(1), opt=A.optimizer(), noise_sd=20.0)
    assert A.train_step._cache_size() == n >= 1
    assert np.isfinite(float(loss))
