"""featvis on the DCGAN discriminator (the embedded model): D's logit and its
conv filters as targets, through the library and ``python -m featvis --model=dcgan-d``."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

import featvis as fv
from featvis import models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_render_raises_d_logit_and_a_filter():
    model = models.dcgan_discriminator()
    x0 = jnp.full((1, 64, 64, 3), 0.5)
    logits, feats = model.apply(model.params, x0)
    assert logits.shape == (1, 1) and {"conv0", "conv3", "fc8"} <= set(feats)
    # a 32x32 image is resized to D's 64x64 inside
    assert model.apply(model.params, jnp.full((2, 32, 32, 3), 0.5))[0].shape == (2, 1)

    def value(obj, img):
        return float(obj(model.apply(model.params, img)[1]))

    for obj in (fv.objectives.class_logit(0), fv.objectives.channel("conv2", 3)):
        r = fv.render_one(obj, fv.param.pixel(64, 64), model, key=jax.random.key(0), steps=40)
        start = np.asarray(r.objective)[0]
        end = value(obj, r.images[-1])
        print(f"{obj}: {start:.4g} -> {end:.4g}")
        assert np.isfinite(end) and end > start + 1.0, (start, end)


def test_cli_dcgan_discriminator(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT}
    out = tmp_path / "fv"
    p = subprocess.run(
        [sys.executable, "-m", "featvis", "--model=dcgan-d", "--targets=0,conv1:0-1",
         "--method=pixel", "--size=64", "--steps=5", f"--out_dir={out}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    names = sorted(os.listdir(out))
    assert names[0].startswith("0000_D_logit") and "grid.png" in names and len(names) == 4
    assert np.asarray(Image.open(out / "grid.png")).ndim == 3
    bad = subprocess.run(
        [sys.executable, "-m", "featvis", "--model=dcgan-d", "--targets=conv9:0", "--size=64",
         f"--out_dir={out}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode != 0 and "conv9" in bad.stderr
