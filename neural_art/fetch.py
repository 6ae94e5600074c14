"""Download released weight files once into a cache, verifying size and sha256.

The cache directory is ``$NEURAL_ART_JAX_CACHE`` or ``~/.cache/neural-art-jax``.
A file is downloaded to a temporary name, checked (bytes received against
``Content-Length``, size and sha256 where known, and the caller's ``check``,
e.g. "does it load"), then atomically renamed, so an interrupted, truncated or
corrupt download never poisons the cache. Where the registry does not know a
file's sha256, the digest of the first download that passed every check is
recorded beside it (``<file>.sha256``) and every later use is checked against
it; :func:`forget` removes a cached file and its record.

An artifact may list mirrors: the URLs are tried in order and the first
download that passes every check is kept; when all fail, the error names each
URL and why. Where the publisher names each file by the first 8 hex digits of
its sha256 (torchvision's convention, ``digest_in_name``), every download is
checked against the prefix in its own URL's file name.

Without network the error names the URLs to fetch by hand and the exact path to
put the file at.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.client
import os
import pathlib
import re
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
      mirrors: further URLs of the same file, tried in order after ``url``.
      digest_in_name: each URL's file name ends in ``-<first 8 hex digits of
        its sha256>`` (e.g. ``vgg19-dcbb9e9d.pth``); a download that disagrees
        is refused.
    """

    filename: str
    url: str
    sha256: str | None = None
    size: int | None = None
    source: str = ""
    mirrors: tuple[str, ...] = ()
    digest_in_name: bool = False

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url, *self.mirrors)


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


def _name_prefix(url: str) -> str | None:
    """The 8-hex-digit digest prefix in ``url``'s file name (``vgg19-dcbb9e9d.pth``)."""
    m = re.search(r"-([0-9a-f]{8})\.[A-Za-z0-9]+$", url.rsplit("/", 1)[-1])
    return m.group(1) if m else None


def _verify(art: Artifact, path: pathlib.Path, url: str | None = None) -> str:
    """The file's sha256 after checking size, pinned or recorded digest and the
    digest prefix in the name of the URL it came from (``url``: a fresh download;
    None: a cached file, whose URL is the record's, else unknown)."""
    source = url
    size = path.stat().st_size
    if art.size is not None and size != art.size:
        raise WeightsUnavailableError(
            f"{path}: size {size} bytes, expected {art.size} for {url or art.url}"
        )
    digest = sha256_file(path)
    pinned, record = art.sha256, path.with_name(path.name + ".sha256")
    if pinned is None and record.exists():
        pinned, *rest = record.read_text().split()
        source = rest[0] if rest else None  # the URL the recorded file came from
    if pinned is not None and digest != pinned:
        raise WeightsUnavailableError(f"{path}: sha256 {digest} does not match the expected "
                                      f"{pinned} for {source or art.url}")  # fmt: skip
    prefix = _name_prefix(source) if art.digest_in_name and source else None
    if prefix is not None and not digest.startswith(prefix):
        raise WeightsUnavailableError(f"{path}: sha256 {digest} does not start with {prefix}, "
                                      f"the digest prefix in the file name of {source}")  # fmt: skip
    return digest


def _download(url: str, art: Artifact, root: pathlib.Path, progress: bool) -> pathlib.Path:
    """The response body of ``url`` in a unique temp file; raises on a short body."""
    tmp = None
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
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
        f"Download {' or '.join(art.urls)} by hand and put it at {dest}"
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
    failures = []
    for url in art.urls:
        try:
            return _fetch_one(art, url, root, dest, progress, check)
        except WeightsUnavailableError as e:
            failures.append(str(e))
    what = failures[0] if len(failures) == 1 else "every mirror failed: " + "; ".join(failures)
    raise WeightsUnavailableError(f"{what}. {hint}")


def _fetch_one(art, url, root, dest, progress, check) -> pathlib.Path:
    """One URL's download into ``dest`` (verified, checked, digest recorded)."""
    try:
        tmp = _download(url, art, root, progress)
    except (urllib.error.URLError, OSError, TimeoutError, http.client.HTTPException) as e:
        raise WeightsUnavailableError(f"could not download {url}: {e}") from e
    try:
        digest = _verify(art, tmp, url)
        if check is not None:
            try:
                check(tmp)
            except Exception as e:  # the caller's loader: any failure means "not usable"
                raise WeightsUnavailableError(f"{url} does not load: {e}") from e
    except WeightsUnavailableError as e:
        tmp.unlink(missing_ok=True)
        raise WeightsUnavailableError(f"download rejected: {e}") from e
    shutil.move(tmp, dest)
    if art.sha256 is None:
        dest.with_name(dest.name + ".sha256").write_text(f"{digest}  {url}\n")
    return dest


def forget(art: Artifact, *, cache: str | os.PathLike | None = None) -> None:
    """Removes ``art``'s cached file and its recorded digest (e.g. after it failed to
    load), so the next :func:`fetch` downloads it afresh."""
    dest = cache_dir(cache) / art.filename
    dest.unlink(missing_ok=True)
    dest.with_name(dest.name + ".sha256").unlink(missing_ok=True)
