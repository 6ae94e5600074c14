"""The one ``--weights`` grammar every model's ``load(spec)`` accepts.

``spec`` is one of, tried in this order:

* ``random`` / ``random:<config>`` / ``random:<config>:<width>`` -- freshly
  initialised weights of a named architecture (default: the model's default
  config), optionally at another channel width (smoke tests, benchmarks);
* a release name (``biggan-deep-256``, ``vgg19``, ``embedded``...) --
  downloaded once, verified, converted and cached (:mod:`neural_art.fetch`);
* a directory -- converted params (:mod:`neural_art.store`) or a model's own
  export;
* a file -- a raw source checkpoint (PyTorch ``.bin`` / ``.pth``), converted.

:func:`parse` only reads the string and the file system; it loads nothing, so
a CLI can check ``--weights`` before any compute.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Collection
from neural_art.errors import UserError, check_regular_file

KINDS = ("random", "release", "dir", "file")


class WeightsSpecError(UserError):
    """A ``--weights`` value that names nothing loadable."""


@dataclasses.dataclass(frozen=True)
class WeightsSpec:
    """A parsed ``--weights`` value.

    Attributes:
      kind: one of :data:`KINDS`.
      name: the release name (``release``) or architecture (``random``).
      path: the directory or file (``dir`` / ``file``).
      width: ``random`` only: the channel width asked for, or ``None``.
    """

    kind: str
    name: str | None = None
    path: pathlib.Path | None = None
    width: int | None = None


def parse(
    spec: str | os.PathLike,
    *,
    releases: Collection[str],
    configs: Collection[str],
    default_config: str,
) -> WeightsSpec:
    """Parses ``spec`` (see the module docstring). Raises :class:`WeightsSpecError`."""
    s = os.fspath(spec)
    if s == "random" or s.startswith("random:"):
        parts = s.split(":")
        if len(parts) > 3:
            raise WeightsSpecError(f"{s!r}: use random[:config[:width]]")
        name = parts[1] if len(parts) > 1 and parts[1] else default_config
        if name not in configs:
            raise WeightsSpecError(f"{s!r}: unknown config {name!r}; choose one of {', '.join(configs)}")
        width = None
        if len(parts) == 3:
            if not parts[2].isdigit() or int(parts[2]) < 1:
                raise WeightsSpecError(f"{s!r}: the width must be a whole number >= 1")
            width = int(parts[2])
        return WeightsSpec("random", name=name, width=width)
    if s in releases:
        return WeightsSpec("release", name=s)
    p = pathlib.Path(s).expanduser()
    if p.is_dir():
        return WeightsSpec("dir", path=p)
    if p.is_file():
        return WeightsSpec("file", path=p)
    if p.exists():  # a pipe, socket or device: refused as a bad flag value, like a bad name
        try:
            check_regular_file(p, "weights file or directory")
        except UserError as e:
            raise WeightsSpecError(str(e)) from None
    raise WeightsSpecError(
        f"{s!r} is not a release ({', '.join(releases)}), an existing directory or file, "
        "or random[:config[:width]]"
    )
