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
"""

from __future__ import annotations

import contextlib
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
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "argv": sys.argv,
                                  "out_dir": os.fspath(out_dir)}).encode(), 0)  # fmt: skip
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # (never unlinked: a waiting locker may hold it open)
    finally:
        os.close(fd)  # releases the flock
