"""One image over many devices: the image, its optimiser state and the content
targets split along the height axis of a one-axis device mesh (``jax.sharding``).

    mesh = shard.mesh()                      # all devices (None when there is one)
    x = shard.place(x, mesh)                 # [H, W, 3] split over rows

XLA's SPMD partitioner then splits every convolution's rows and exchanges the
halos (one row per 3x3 conv), and each Gram matrix, a sum over positions,
becomes a local sum and one all-reduce; the result equals the one-device
result up to the order of float sums (tested on 8 devices). Arrays that are
not image-like (VGG weights, Gram targets, scalars) are replicated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from neural_art.errors import UserError

AXIS = "rows"


def mesh(devices: int | Sequence[jax.Device] | None = None) -> Mesh | None:
    """A mesh with one axis :data:`AXIS` over ``devices`` (a count: the first
    ones; None or 0: all). None when that is a single device (nothing to split)."""
    if devices is None or isinstance(devices, int):
        n = devices or jax.device_count()
        if n > jax.device_count():
            raise UserError(f"--devices={n}, but only {jax.device_count()} device(s) are visible")
        devices = jax.devices()[:n]
    devices = list(devices)
    return Mesh(np.array(devices), (AXIS,)) if len(devices) > 1 else None


def sharding(shape: Sequence[int], m: Mesh) -> NamedSharding:
    """Rows (axis -3) split when ``shape`` is image-like (``[..., H, W, C]``) and H
    divides evenly over the mesh; otherwise replicated."""
    n = m.shape[AXIS]
    if len(shape) >= 3 and shape[-3] % n == 0:
        spec = [None] * len(shape)
        spec[-3] = AXIS
        return NamedSharding(m, PartitionSpec(*spec))
    return NamedSharding(m, PartitionSpec())


def place(tree: Any, m: Mesh | None, *, replicate: bool = False) -> Any:
    """``tree``'s arrays on ``m``: image-like ones split by rows (:func:`sharding`),
    the rest (or all, ``replicate``) replicated. Identity without a mesh."""
    if m is None:
        return tree
    rep = NamedSharding(m, PartitionSpec())
    return jax.tree.map(lambda a: jax.device_put(a, rep if replicate else sharding(np.shape(a), m)),
                        tree)  # fmt: skip


def abstract(tree: Any, m: Mesh | None, *, replicate: bool = False) -> Any:
    """``jax.ShapeDtypeStruct`` s of ``tree`` (arrays or structs) placed as :func:`place` would."""
    rep = None if m is None else NamedSharding(m, PartitionSpec())

    def one(a):
        s = None if m is None else (rep if replicate else sharding(a.shape, m))
        return jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s)

    return jax.tree.map(one, tree)
