"""ImageNet (ILSVRC-2012) class names and class vectors for BigGAN.

The 1000 classes ship as data (``data/imagenet_classes.tsv``: index, WordNet
id, comma-separated names), so no WordNet/nltk lookup is needed. Any of a
class's names matches, case-insensitively, with spaces, underscores and
hyphens treated alike. Unknown names raise an error listing the closest names
(the reference's ``one_hot_from_names`` silently skips them).
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
from collections.abc import Mapping, Sequence

import numpy as np

NUM_CLASSES = 1000


@functools.cache
def _table() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    text = (
        importlib.resources.files("neural_art")
        .joinpath("data/imagenet_classes.tsv")
        .read_text("utf-8")
    )
    rows = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        idx, wnid, names = line.split("\t")
        assert int(idx) == len(rows)
        rows.append((wnid, names.split(", ")[0], tuple(n.strip() for n in names.split(","))))
    return tuple(rows)


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


@functools.cache
def _index() -> dict[str, int]:
    idx: dict[str, int] = {}
    for i, (wnid, _, names) in enumerate(_table()):
        idx.setdefault(wnid.lower(), i)
        for n in names:
            idx.setdefault(_norm(n), i)  # first class wins for shared names (e.g. 'crane')
    return idx


def class_names() -> list[str]:
    """The first (display) name of each of the 1000 classes, by index."""
    return [r[1] for r in _table()]


def class_name(index: int) -> str:
    return _table()[index][1]


def class_index(name_or_id: str | int) -> int:
    """A class index from a name (any synonym), a WordNet id (``n04346328``) or an int."""
    if isinstance(name_or_id, (int, np.integer)):
        if not 0 <= int(name_or_id) < NUM_CLASSES:
            raise ValueError(f"class id {name_or_id} out of range [0, {NUM_CLASSES})")
        return int(name_or_id)
    s = str(name_or_id)
    if s.strip().isdigit():
        return class_index(int(s))
    key = _norm(s)
    idx = _index()
    if key in idx:
        return idx[key]
    close = difflib.get_close_matches(key, list(idx), n=8, cutoff=0.6)
    contains = [k for k in idx if key and key in k][:8]
    suggestions = list(dict.fromkeys(close + contains))[:8]
    hint = ", ".join(f"{s!r} ({idx[s]})" for s in suggestions) if suggestions else "none"
    raise ValueError(f"unknown ImageNet class {name_or_id!r}; closest names: {hint}")


def class_vector(
    classes: Sequence[str | int | Mapping[str | int, float]] | str | int,
    num_classes: int = NUM_CLASSES,
) -> np.ndarray:
    """``[N, num_classes]`` float32 class vectors.

    Each entry is a name, WordNet id or index (one-hot), or a mapping
    ``{class: weight}`` for a soft (mixed) class, e.g.
    ``class_vector(["stupa", "espresso", 980, {"stupa": .5, "volcano": .5}])``.
    """
    if isinstance(classes, (str, int, Mapping)):
        classes = [classes]
    out = np.zeros((len(classes), num_classes), np.float32)
    for r, c in enumerate(classes):
        if isinstance(c, Mapping):
            for k, w in c.items():
                out[r, class_index(k)] += float(w)
        else:
            out[r, class_index(c)] = 1.0
    return out
