"""The shared test configs and their session fixtures (one build per xdist worker).

Full-size models only where size is the point (one BigGAN-deep-256 parity test,
one full VGG-19 parity test, the Despraz parameter counts); everything else uses
these tiny widths. The ``--weights`` specs are the CLIs' own grammar, so a CLI
test and an in-process test build the same network.
"""

from __future__ import annotations

import contextlib

import jax
import numpy as np
import pytest
from PIL import Image

# The registry of tiny test configs (the --weights grammar).
TINY_BIGGAN = "random:biggan-deep-128:4"   # BigGAN-deep-128 at channel width 4
TINY_VGG16 = "random:vgg16:8"              # VGG-16 at channel width 8 (blocks 8..64, fc 512)
TINY_VGG19 = "random:vgg19:8"
DCGAN_QUICK = "dcgan/configs/art.py:quick"  # DCGAN's tiny CPU config (relative to the repo root)


@contextlib.contextmanager
def count_compiles():
    """Counts XLA compilations inside the block (``n[0]``)."""
    n = [0]

    def listen(name, *_, **__):
        if name == "/jax/core/compile/backend_compile_duration":
            n[0] += 1

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield n
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


@pytest.fixture(scope="session")
def tiny_biggan():
    """``(cfg, params)`` of :data:`TINY_BIGGAN`."""
    import biggan_jax

    return biggan_jax.load(TINY_BIGGAN)


@pytest.fixture(scope="session")
def tiny_vgg16():
    """``(cfg, params)`` of :data:`TINY_VGG16`, with the classifier head."""
    from styletransfer import hub

    return hub.load(TINY_VGG16, head=True)


@pytest.fixture(scope="session")
def tiny_vgg19():
    """``(cfg, params)`` of :data:`TINY_VGG19`, with the classifier head."""
    from styletransfer import hub

    return hub.load(TINY_VGG19, head=True)


@pytest.fixture(scope="session")
def pictures(tmp_path_factory):
    """A folder of small real photographs (scikit-image's bundled data):
    ``content.png`` (astronaut, 48x48), ``style.png`` (coffee, 40x40),
    ``style2.png`` (chelsea, 40x40)."""
    from skimage import data

    d = tmp_path_factory.mktemp("pictures")
    for name, img, side in (("content", data.astronaut(), 48), ("style", data.coffee(), 40),
                            ("style2", data.chelsea(), 40)):  # fmt: skip
        Image.fromarray(np.asarray(img)).resize((side, side), Image.LANCZOS).save(d / f"{name}.png")
    return d


# Each area's shared session fixtures (one file per area).
from fixtures_biggan import *  # noqa: E402,F403
from fixtures_dcgan import *  # noqa: E402,F403
from fixtures_style import *  # noqa: E402,F403
from fixtures_sweep import *  # noqa: E402,F403
