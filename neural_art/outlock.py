"""One writer per output directory (on one machine).

Two runs writing one ``--out_dir`` at once would mix their files: a BigGAN sweep
with other settings could overwrite images another run's manifest lists as
finished, a style transfer's ``result.png`` and ``losses.png`` could come from two
runs, and a sweep starting up removes the temporary files (``.*.tmp``) the other is
writing. So every command with ``--out_dir`` holds an exclusive ``flock`` for that
directory while it runs (:func:`neural_art.cli.run`); a second one is refused in
one line naming the first (its pid and command), exit 1, before any compute.

The lock file is not in ``--out_dir`` (a run that fails its checks creates no
directory) but in ``<tmp>/neural_art_locks-<uid>/``, named by the SHA-256 of the
directory's real path (symbolic links resolved, so two spellings of one directory
share a lock). The kernel releases a ``flock`` when its process ends, however it
ends (SIGKILL included), so a killed run leaves no stale lock and its re-run
resumes at once. The lock binds processes of one machine only: runs on two
machines writing one network file system are not detected. Where no lock can be
made (no writable temp directory, or a lock directory this user does not own)
the run goes on unlocked.

While the lock is held the directory's identity is watched too: every atomic
write below it (:func:`make_parent`) checks that the directory is still the one
the run first saw. One removed (or replaced) during the run is not created again:
the run stops with one line naming it (:class:`OutDirGone`, exit 1), nothing
written elsewhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import pathlib
import stat
import sys
import tempfile
from collections.abc import Iterator

from neural_art.errors import UserError


class OutDirBusy(UserError):
    """Another process is writing the same output directory."""


class OutDirGone(UserError):
    """The held output directory was removed or replaced while the run wrote it."""


@dataclasses.dataclass
class _Held:
    flag: str
    given: str  # as the user spelled it
    spellings: tuple[str, ...]  # its absolute path, and its real path when the lock was taken
    real: str
    ident: tuple[int, int] | None  # (st_dev, st_ino) once the directory exists


_HELD: list[_Held] = []


def _ident(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def make_parent(path: str | os.PathLike) -> None:
    """``mkdir -p`` of ``path``'s parent, for every atomic write
    (:func:`neural_art.atomic.atomic_path`). Below a held ``--out_dir`` it first
    checks that the directory is still the one this run saw (the first time it saw
    it existing): one removed or replaced during the run is not made again, so
    nothing is written where the user no longer expects it; raises
    :class:`OutDirGone` naming the flag and the directory."""
    parent = os.path.abspath(os.path.dirname(os.fspath(path)))
    h = _holding(parent)
    check_still_there(path)
    pathlib.Path(parent).mkdir(parents=True, exist_ok=True)
    if h is not None and h.ident is None:
        h.ident = _ident(h.real)


def _holding(parent: str) -> _Held | None:
    """The held directory ``parent`` is in (or is), if any."""
    for h in _HELD:
        if any(parent == d or parent.startswith(d.rstrip(os.sep) + os.sep) for d in h.spellings):
            return h
    return None


def check_still_there(path: str | os.PathLike) -> None:
    """Raises :class:`OutDirGone` if ``path`` is below a held directory that was
    removed or replaced since the run first saw it (also called when a write
    failed, so a file in flight when the directory went reports the same line)."""
    h = _holding(os.path.abspath(os.path.dirname(os.fspath(path))))
    if h is None or h.ident is None:
        return
    now = _ident(h.real)
    if now != h.ident:
        how = "removed" if now is None else "replaced by another directory"
        raise OutDirGone(f"--{h.flag}={h.given} was {how} during the run; stopped without "
                         f"writing {os.fspath(path)} (nothing was written elsewhere)")  # fmt: skip


def lock_dir() -> pathlib.Path:
    """``<tmp>/neural_art_locks-<uid>`` (this user's; mode 0700)."""
    return pathlib.Path(tempfile.gettempdir()) / f"neural_art_locks-{os.getuid()}"


def lock_path(out_dir: str | os.PathLike) -> pathlib.Path:
    """The lock file of ``out_dir`` (which need not exist yet)."""
    real = os.path.realpath(os.path.expanduser(os.fspath(out_dir)))
    return lock_dir() / (hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:32] + ".lock")


def _holder(fd: int) -> str:
    """``pid N: command`` from what the holder wrote into the lock file."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        info = json.loads(os.pread(fd, 65536, 0).decode())
        return f"pid {int(info['pid'])}: {' '.join(map(str, info['argv']))[:300]}"
    return "pid unknown"


@contextlib.contextmanager
def hold(out_dir: str | os.PathLike, flag: str = "out_dir") -> Iterator[pathlib.Path]:
    """Holds ``out_dir``'s lock for the ``with`` block (yields the lock file);
    raises :class:`OutDirBusy` (naming ``--flag`` and the holder) if another open
    lock holds it. Where no lock can be made (no writable temp dir; a lock
    directory that is not this user's own, or a link), yields ``None``, unlocked."""
    d = lock_dir()
    try:
        d.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(d)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            raise PermissionError(f"{d} is not this user's directory")
        path = lock_path(out_dir)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutDirBusy(
                f"--{flag}={os.fspath(out_dir)} is being written by another run ({_holder(fd)}); "
                f"wait for it to end, or give another --{flag}"
            ) from None
        os.ftruncate(fd, 0)
        given = os.path.expanduser(os.fspath(out_dir))
        real = os.path.realpath(given)
        _HELD.append(_Held(flag, os.fspath(out_dir), (os.path.abspath(given), real), real, _ident(real)))
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "argv": sys.argv,
                                  "out_dir": os.fspath(out_dir)}).encode(), 0)  # fmt: skip
        try:
            yield path
        finally:
            _HELD.pop()
            os.ftruncate(fd, 0)  # (never unlinked: a waiting locker may hold it open)
    finally:
        os.close(fd)  # releases the flock
