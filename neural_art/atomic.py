"""Atomic writes: a file appears whole or not at all.

Each writer uses its own temporary name (``mkstemp`` beside the target), so two
writers of one path never share a temp file, and a crash or a full disk leaves
the previous version (or nothing) in place, never a truncated file. A failed
write's ``OSError`` names the target (not the removed temporary file).

:func:`write_all` writes a finished run's files in order and, when one fails
(a full disk, a lost mount), writes it and the rest under a fallback directory
(the system temp dir, else ``$HOME``) and raises :class:`OutputError`: one
line naming the failed file, what was kept and where the rest went.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from neural_art import outlock


def _read_umask() -> int:
    """The process umask without changing it (``/proc/self/status``); elsewhere
    the ``os.umask`` round trip, once, at import (other threads may create files later)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return _IMPORT_UMASK


_IMPORT_UMASK = os.umask(0o022)
os.umask(_IMPORT_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Yields a unique temporary path beside ``path``; on success it replaces
    ``path`` (``os.replace``), on any error it is removed and the error re-raised.
    Parent directories are created, but not a held ``--out_dir`` that was removed
    during the run (:func:`neural_art.outlock.make_parent`). The file gets the mode a plain ``open`` would
    give it (``0o666`` less the umask: 0644 under umask 022), not ``mkstemp``'s 0600,
    so a shared sweep directory is readable by a web server or a colleague."""
    path = pathlib.Path(path)
    outlock.make_parent(path)  # mkdir -p, unless a held --out_dir was removed mid-run
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_read_umask())
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(e, OSError):
            outlock.check_still_there(path)  # the held out_dir went while this file was in flight
            if e.filename in (None, tmp):
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


# ------------------------------------------------------------------ a run's outputs

Writer = Callable[[pathlib.Path], object]  # write(path): writes one file at path


class OutputError(OSError):
    """A result could not be written where asked. ``failed``: that path; ``kept``:
    the files in place; ``rescued``: ``{relative name: path}`` written elsewhere
    instead (empty if the fallbacks failed too). The message says all three."""

    def __init__(self, message: str, *, errno_: int | None, failed, kept, rescued):
        super().__init__(message)
        self.errno = errno_
        self.failed, self.kept, self.rescued = failed, list(kept), dict(rescued)


def fallback_roots() -> list[pathlib.Path]:
    """Where :func:`write_all` puts what it could not write: the system temp dir
    (``$TMPDIR``...), then the home directory."""
    return [pathlib.Path(tempfile.gettempdir()), pathlib.Path.home()]


def _rescue(files: Sequence[tuple[str, Writer]], app: str) -> pathlib.Path | None:
    """Writes ``files`` under a fresh ``<root>/<app>-rescued-XXXX`` of the first
    :func:`fallback_roots` entry that takes them all; returns that dir or ``None``."""
    for root in fallback_roots():
        try:
            d = pathlib.Path(tempfile.mkdtemp(prefix=f"{app}-rescued-", dir=root))
        except OSError:
            continue
        try:
            for rel, write in files:
                write(d / rel)
            return d
        except OSError:
            shutil.rmtree(d, ignore_errors=True)
    return None


def summarise(names: Sequence[str], limit: int = 4) -> str:
    """``a.png, b.png, snapshots/ (3 files) and 2 more``: several files in one
    subdirectory are counted under it, long lists are cut after ``limit`` items."""
    groups: dict[str, list[str]] = {}
    for n in map(str, names):
        head, sep, _ = n.partition("/")
        groups.setdefault(head + sep, []).append(n)
    words = [g[0] if len(g) == 1 else f"{k} ({len(g)} files)" for k, g in groups.items()]
    more = f" and {len(words) - limit} more" if len(words) > limit else ""
    return ", ".join(words[:limit]) + more or "nothing"


def write_all(out_dir: str | os.PathLike, files: Sequence[tuple[str, Writer]], *, app: str,
              kept: Sequence[str] = ()) -> dict[str, pathlib.Path]:  # fmt: skip
    """Writes ``files`` (``(name relative to out_dir, write(path))``, the most
    precious first) and returns ``{name: path}``.

    If a write fails with ``OSError``, that file and every later one are written
    to a fresh ``<fallback>/<app>-rescued-XXXX/`` instead (:func:`fallback_roots`),
    and :class:`OutputError` is raised naming the failed path, the files kept in
    ``out_dir`` (``kept``: names written earlier by the caller, then ours) and the
    rescue directory. Nothing computed is lost unless every fallback fails too."""
    out, done = pathlib.Path(out_dir), []
    for i, (rel, write) in enumerate(files):
        try:
            write(out / rel)
        except OSError as e:
            rest = files[i:]
            where = _rescue(rest, app)
            names = summarise([r for r, _ in rest])
            if where is not None:
                fate = f"wrote {names} to {where} instead"
            else:
                tried = ", ".join(map(str, fallback_roots()))
                fate = f"could not write {names} elsewhere either (tried {tried}): not saved"
            msg = (f"could not write {out / rel}: {e.strerror or e}; kept in {out}: "
                   f"{summarise([*kept, *done])}; {fate}")  # fmt: skip
            rescued = {} if where is None else {r: where / r for r, _ in rest}
            raise OutputError(msg, errno_=e.errno, failed=out / rel, kept=[*kept, *done],
                              rescued=rescued) from e  # fmt: skip
        done.append(rel)
    return {rel: out / rel for rel in done}
