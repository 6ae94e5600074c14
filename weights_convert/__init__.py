"""Checkpoint converters: PyTorch / TF-Hub / TF checkpoints -> Flax params -> orbax.

This is the only package that imports torch or tensorflow, always lazily inside
functions, so the model packages import without them. Install the readers with
``pip install 'neural-art-jax[convert]'`` (torch) or ``[tfhub]`` (tensorflow).

Shared mechanism used by every converter:

* :mod:`weights_convert.torch_io` -- safe ``torch.load(weights_only=True)`` and
  strict name/shape checks that name every offending tensor.
* :mod:`neural_art.fetch` -- download a released file once into a cache,
  verify size and sha256, and say exactly what to fetch by hand when offline.
* :mod:`neural_art.store` -- orbax checkpoints of converted params with a
  metadata JSON (source, sha256, converter version).
"""

from weights_convert.torch_io import (
    CheckpointMismatchError,
    UnsafeCheckpointError,
    check_tensors,
    load_torch_state_dict,
)

__all__ = [
    "CheckpointMismatchError",
    "UnsafeCheckpointError",
    "check_tensors",
    "load_torch_state_dict",
]
