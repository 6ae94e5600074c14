"""Loading the FID network's weights (:mod:`dcgan.inception`): cache, fetch, convert.

This is the Inception's hub (the role ``hub.py`` plays for each model): the one
module that may import its converter, :mod:`weights_convert.inception`, and only
lazily, the first time the raw ``pt_inception-2015-12-05`` release has to be
converted (tests/test_architecture.py states the edge). A release converted once
into the cache is read through :mod:`neural_art.store` alone (no torch, no
converter).
"""

from __future__ import annotations

import os
import pathlib

CONVERTED_NAME = "fid-inception-flax"


def converted_dir(cache: str | os.PathLike | None = None) -> pathlib.Path:
    """Where the converted FID release is cached (:func:`weights_convert.inception.load_release`):
    ``$NEURAL_ART_JAX_CACHE/fid-inception-flax`` (default cache ``~/.cache/neural-art-jax``)."""
    from neural_art.fetch import cache_dir

    return cache_dir(cache) / CONVERTED_NAME


def load_fid_weights(cache: str | os.PathLike | None = None) -> dict:
    """The FID network's params: the converted release from the cache, or fetched
    and converted once (needs network and torch that one time). Raises
    :class:`neural_art.fetch.WeightsUnavailableError` offline."""
    from neural_art import store

    if (converted_dir(cache) / "metadata.json").exists():
        return store.load_params(converted_dir(cache), "fid-inception")[0]
    from weights_convert import inception as conv  # lazy: a raw release needs the converter

    return conv.load_release(cache=cache)
