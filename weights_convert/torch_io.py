"""Reading PyTorch checkpoints safely, and strict tensor-set checks.

``torch.load`` on an untrusted pickle can execute arbitrary code. We always use
``weights_only=True``: the restricted unpickler accepts tensors and plain
containers and refuses anything else *before* running it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from neural_art.errors import UserError, check_regular_file
from neural_art.store import check_finite


class UnsafeCheckpointError(UserError):
    """The checkpoint's pickle asks for code or objects a weights file never needs."""


class CheckpointMismatchError(UserError):
    """Tensors missing, unexpected, or of the wrong shape (every one is listed)."""


def _import_torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - exercised only without torch
        raise ImportError(
            "reading PyTorch checkpoints needs torch: pip install 'neural-art-jax[convert]' "
            "(on this project's machines: pip install torch==2.13.0)"
        ) from e
    return torch


def load_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Loads a ``.bin``/``.pth`` state dict as ``{name: float32/int numpy array}``.

    Never executes pickled code: uses ``torch.load(weights_only=True)``. A file
    whose pickle references anything but tensors and containers raises
    :class:`UnsafeCheckpointError` naming the file; a NaN or ±inf in any tensor,
    :class:`neural_art.store.NonFiniteError` naming it.

    A checkpoint saved as ``{"state_dict": {...}}`` or ``{"model": {...}}`` is
    unwrapped. Keys of ``nn.DataParallel`` (``module.`` prefix) are kept as is;
    converters decide.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    check_regular_file(path, "PyTorch checkpoint")
    torch = _import_torch()
    import pickle

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(
            f"refusing to load {path}: its pickle needs more than tensors "
            f"(torch.load(weights_only=True) said: {str(e).splitlines()[0]}). "
            "A weights file never needs this; the file may be malicious or not a state dict."
        ) from e
    except (RuntimeError, EOFError, OSError) as e:
        raise UserError(f"{path} is not a readable PyTorch checkpoint: {e}") from e
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, Mapping) and set(obj) == {wrapper}:
            obj = obj[wrapper]
    if not isinstance(obj, Mapping):
        raise UserError(
            f"{path}: expected a state dict (name -> tensor), got {type(obj).__name__}"
        )
    out = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            raise UserError(f"{path}: entry {k!r} is a {type(v).__name__}, not a tensor")
        out[k] = v.detach().cpu().numpy()
    check_finite(out, path)
    return out


def check_tensors(
    expected: Mapping[str, tuple[int, ...]],
    got: Mapping[str, np.ndarray | tuple[int, ...]],
    *,
    source: str,
    ignore_unexpected: tuple[str, ...] = (),
) -> None:
    """Raises :class:`CheckpointMismatchError` unless ``got`` has exactly ``expected``.

    Every missing tensor, every unexpected one and every shape mismatch is
    listed (with both shapes), not only the first.

    Args:
      expected: name -> shape that the model needs.
      got: name -> array (or shape) found in the checkpoint.
      source: file name or description used in the message.
      ignore_unexpected: name suffixes that may be present and are ignored
        (e.g. ``num_batches_tracked``).
    """
    shape = lambda v: tuple(v) if isinstance(v, tuple) else tuple(np.shape(v))
    missing = sorted(k for k in expected if k not in got)
    unexpected = sorted(
        k for k in got if k not in expected and not any(k.endswith(s) for s in ignore_unexpected)
    )
    wrong = sorted(
        (k, tuple(expected[k]), shape(got[k]))
        for k in expected
        if k in got and tuple(expected[k]) != shape(got[k])
    )
    if not (missing or unexpected or wrong):
        return
    lines = [f"{source} does not match the model:"]
    if missing:
        lines.append(f"  {len(missing)} missing tensor(s):")
        lines += [f"    {k}  (expected shape {tuple(expected[k])})" for k in missing]
    if unexpected:
        lines.append(f"  {len(unexpected)} unexpected tensor(s):")
        lines += [f"    {k}  (shape {shape(got[k])})" for k in unexpected]
    if wrong:
        lines.append(f"  {len(wrong)} tensor(s) of the wrong shape:")
        lines += [f"    {k}: expected {e}, file has {g}" for k, e, g in wrong]
    raise CheckpointMismatchError("\n".join(lines))
