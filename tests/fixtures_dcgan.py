"""Session fixtures shared by the dcgan tests (imported by tests/fixtures.py).

Every training test uses ``dcgan/configs/art.py:tiny`` (widths 8, 16x16, batch
16, lr 1e-3) with ``num_samples`` 16, so the whole run compiles one train step
and one sampling program (the persistent XLA cache of tests/conftest.py serves
them to every later call and to the subprocesses too). The training data is a
folder of flat-colour orange images (:data:`DCGAN_TARGET` +- small noise), far
from what an untrained G emits; it is prepared for tfds once per session
(``data.data_dir``, a key a resumed run may change).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

DCGAN_TINY = "dcgan/configs/art.py:tiny"  # relative to the repo root
DCGAN_TARGET = np.array([0.8, 0.1, -0.6], np.float32)  # the data's mean colour in [-1, 1]


def dcgan_flat_images(root, n: int = 6):
    """``n`` flat-colour 140x130 PNGs (above the folder source's 128*128 pixels)."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = DCGAN_TARGET + 0.05 * rng.standard_normal((140, 130, 3))
        Image.fromarray(np.clip((a + 1) * 127.5, 0, 255).astype(np.uint8)).save(root / f"{i}.png")
    return root


def dcgan_tiny_config(folder=None, data_dir=None, **kw):
    """The ``:tiny`` config on ``folder`` (overrides ``kw``: top-level keys)."""
    from dcgan.configs import art

    c = art.get_config("tiny")
    if folder is not None:
        c.data.folder = str(folder)
    if data_dir is not None:
        c.data.data_dir = str(data_dir)
    for k, v in kw.items():
        setattr(c, k, v)
    return c


@pytest.fixture(scope="session")
def dcgan_flat_data(tmp_path_factory):
    """``(folder, data_dir)``: 6 flat-colour images and their shared tfds cache."""
    root = tmp_path_factory.mktemp("dcgan_flat")
    return dcgan_flat_images(root / "images"), root / "tfds"


@pytest.fixture(scope="session")
def dcgan_trained(dcgan_flat_data, tmp_path_factory):
    """300 steps of ``:tiny`` (log every 30, samples and checkpoints every 150)
    on the flat-colour data: ``(workdir, final state, config)``."""
    from dcgan import train

    folder, data_dir = dcgan_flat_data
    cfg = dcgan_tiny_config(folder, data_dir, num_steps=300, log_every=30, sample_every=150,
                            checkpoint_every=150)  # fmt: skip
    workdir = tmp_path_factory.mktemp("dcgan_trained") / "run"
    return workdir, train.train_and_evaluate(cfg, workdir), cfg


@pytest.fixture(scope="session")
def dcgan_tiny_export(dcgan_trained, tmp_path_factory):
    """The trained tiny G and D exported (float32) as ``--weights=DIR`` takes them."""
    from dcgan import checkpoints

    out = tmp_path_factory.mktemp("dcgan_export") / "tiny"
    return checkpoints.export_workdir(dcgan_trained[0], out)
