"""Download released weight files once into a cache, verifying size and sha256.

The cache directory is ``$NEURAL_ART_JAX_CACHE`` or ``~/.cache/neural-art-jax``.
A file is downloaded to a temporary name, checked (bytes received against
``Content-Length``, size and sha256 where known, and the caller's ``check``,
e.g. "does it load"), then atomically renamed, so an interrupted, truncated or
corrupt download never poisons the cache. Where the registry does not know a
file's sha256, the digest of the first download that passed every check is
recorded beside it (``<file>.sha256``) and every later use is checked against
it; :func:`forget` removes a cached file and its record.

Without network the error names the URL to fetch by hand and the exact path to
put it at.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.client
import os
import pathlib
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable


class WeightsUnavailableError(RuntimeError):
    """A released file could not be downloaded or failed verification."""


@dataclasses.dataclass(frozen=True)
class Artifact:
    """One released file.

    Attributes:
      filename: name inside the cache directory.
      url: where it is published.
      sha256: expected hex digest, or None where the publisher gives none.
      size: expected size in bytes, or None.
      source: free text: where the digest/size were taken from.
    """

    filename: str
    url: str
    sha256: str | None = None
    size: int | None = None
    source: str = ""


def cache_dir(path: str | os.PathLike | None = None) -> pathlib.Path:
    """The cache directory (created on demand)."""
    if path is None:
        path = os.environ.get("NEURAL_ART_JAX_CACHE") or os.path.join(
            os.path.expanduser("~"), ".cache", "neural-art-jax"
        )
    p = pathlib.Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def _verify(art: Artifact, path: pathlib.Path) -> str:
    size = path.stat().st_size
    if art.size is not None and size != art.size:
        raise WeightsUnavailableError(
            f"{path}: size {size} bytes, expected {art.size} for {art.url}"
        )
    digest = sha256_file(path)
    pinned = art.sha256
    record = path.with_name(path.name + ".sha256")
    if pinned is None and record.exists():
        pinned = record.read_text().split()[0]
    if pinned is not None and digest != pinned:
        raise WeightsUnavailableError(
            f"{path}: sha256 {digest} does not match the expected {pinned} for {art.url}"
        )
    return digest


def _download(art: Artifact, root: pathlib.Path, progress: bool) -> pathlib.Path:
    """The response body in a unique temp file; raises on a short body."""
    tmp = None
    try:
        with urllib.request.urlopen(art.url, timeout=60) as resp:
            total = resp.headers.get("Content-Length")
            total = int(total) if total else None
            fd, tmp = tempfile.mkstemp(dir=root, prefix=art.filename + ".", suffix=".part")
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=art.filename, leave=False)
            got = 0
            with os.fdopen(fd, "wb") as f:
                while chunk := resp.read(1 << 20):
                    f.write(chunk)
                    got += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            if bar is not None:
                bar.close()
        if total is not None and got != total:
            raise OSError(f"truncated download: received {got} of {total} bytes")
        return pathlib.Path(tmp)
    except BaseException:
        if tmp:
            with contextlib.suppress(OSError):
                os.remove(tmp)
        raise


def fetch(
    art: Artifact,
    *,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    check: Callable[[pathlib.Path], object] | None = None,
) -> pathlib.Path:
    """Returns the local path of ``art``, downloading and verifying it if needed.

    Args:
      check: called on a fresh download before it enters the cache (e.g. "it
        loads as a checkpoint"); if it raises, the file is discarded and no
        digest is recorded.

    Raises:
      WeightsUnavailableError: offline, HTTP error, truncated body, size/sha256
        mismatch, or ``check`` failed. The message says which URL to download
        and where to put the file; for a bad cached file, which file to delete.
    """
    root = cache_dir(cache)
    dest = root / art.filename
    hint = (
        f"Download {art.url} by hand and put it at {dest}"
        + (f" (sha256 {art.sha256})" if art.sha256 else "")
        + ", or point $NEURAL_ART_JAX_CACHE at a directory that holds it."
    )
    if dest.exists():
        try:
            _verify(art, dest)
            return dest
        except WeightsUnavailableError as e:
            raise WeightsUnavailableError(
                f"cached file {dest} is corrupt: {e}. Delete it (and {dest.name}.sha256 if "
                f"present) and retry. {hint}"
            ) from e
    try:
        tmp = _download(art, root, progress)
    except (urllib.error.URLError, OSError, TimeoutError, http.client.HTTPException) as e:
        raise WeightsUnavailableError(f"could not download {art.url}: {e}. {hint}") from e
    try:
        digest = _verify(art, tmp)
        if check is not None:
            try:
                check(tmp)
            except Exception as e:  # the caller's loader: any failure means "not usable"
                raise WeightsUnavailableError(f"{art.url} does not load: {e}") from e
    except WeightsUnavailableError as e:
        tmp.unlink(missing_ok=True)
        raise WeightsUnavailableError(f"download rejected: {e}. {hint}") from e
    shutil.move(tmp, dest)
    if art.sha256 is None:
        dest.with_name(dest.name + ".sha256").write_text(f"{digest}  {art.url}\n")
    return dest


def forget(art: Artifact, *, cache: str | os.PathLike | None = None) -> None:
    """Removes ``art``'s cached file and its recorded digest (e.g. after it failed to
    load), so the next :func:`fetch` downloads it afresh."""
    dest = cache_dir(cache) / art.filename
    dest.unlink(missing_ok=True)
    dest.with_name(dest.name + ".sha256").unlink(missing_ok=True)
