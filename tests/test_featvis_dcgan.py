"""featvis on the DCGAN discriminator: D's logit and its conv filters as targets,
through the library and ``python -m featvis --model=dcgan-d`` (in this process).
Renders on the tiny trained D (16x16, tests/fixtures_dcgan.py); the default
(the embedded model) is loaded and run once."""

import os

import jax
import jax.numpy as jnp
import numpy as np
from cli_harness import assert_one_line_error, run_cli
from PIL import Image

import featvis as fv
from featvis import models


def test_default_is_the_embedded_d_and_resizes_inside():
    model = models.dcgan_discriminator()
    logits, feats = model.apply(model.params, jnp.full((1, 64, 64, 3), 0.5))
    assert logits.shape == (1, 1) and {"conv0", "conv3", "fc8"} <= set(feats)
    # a 32x32 image is resized to D's 64x64 inside
    assert model.apply(model.params, jnp.full((2, 32, 32, 3), 0.5))[0].shape == (2, 1)


def test_render_raises_d_logit_and_a_filter(dcgan_tiny_export):
    model = models.dcgan_discriminator(str(dcgan_tiny_export))
    logits, feats = model.apply(model.params, jnp.full((1, 16, 16, 3), 0.5))
    assert logits.shape == (1, 1) and {"conv0", "conv1", "fc8"} <= set(feats)

    def value(obj, img):
        return float(obj(model.apply(model.params, img)[1]))

    for obj in (fv.objectives.class_logit(0), fv.objectives.channel("conv1", 3)):
        r = fv.render_one(obj, fv.param.pixel(16, 16), model, key=jax.random.key(0), steps=40)
        start = np.asarray(r.objective)[0]
        end = value(obj, r.images[-1])
        print(f"{obj}: {start:.4g} -> {end:.4g}")
        assert np.isfinite(end) and end > start + 1.0, (start, end)


def test_cli_dcgan_discriminator(dcgan_tiny_export, tmp_path):
    out = tmp_path / "fv"
    common = ["--model=dcgan-d", f"--weights={dcgan_tiny_export}", "--size=16"]
    r = run_cli("featvis", [*common, "--targets=0,conv1:0-1", "--method=pixel", "--steps=5",
                            f"--out_dir={out}"])  # fmt: skip
    assert r.code == 0, r.err[-2000:]
    names = sorted(os.listdir(out))
    assert names[0].startswith("0000_D_logit") and "grid.png" in names and len(names) == 4
    assert np.asarray(Image.open(out / "grid.png")).ndim == 3
    bad = run_cli("featvis", [*common, "--targets=conv9:0", f"--out_dir={tmp_path / 'bad'}"])
    assert_one_line_error(bad, (2,), "conv9")
    assert not (tmp_path / "bad").exists()
