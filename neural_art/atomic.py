"""Atomic writes: a file appears whole or not at all.

Each writer uses its own temporary name (``mkstemp`` beside the target), so two
writers of one path never share a temp file, and a crash or a full disk leaves
the previous version (or nothing) in place, never a truncated file.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import tempfile
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yields a unique temporary path beside ``path``; on success it replaces
    ``path`` (``os.replace``), on any error it is removed and the error re-raised.
    Parent directories are created."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(e, OSError) and e.filename in (None, tmp):
            e.filename = str(path)  # the file the caller asked for; the temp is gone
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> pathlib.Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return pathlib.Path(path)


def write_text(path: str | os.PathLike, text: str) -> pathlib.Path:
    return write_bytes(path, text.encode())


def write_json(path: str | os.PathLike, obj: Any) -> pathlib.Path:
    return write_text(path, json.dumps(obj, indent=1) + "\n")
