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
from neural_art.errors import UserError

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


# Classes whose first names collide get a qualifier in their display name, so
# every display name is unique and names exactly one class.
QUALIFIED = {
    134: "crane (bird)", 517: "crane (machine)",
    264: "Cardigan (corgi)", 474: "cardigan (sweater)",
    638: "maillot (tights)", 639: "maillot (tank suit)",
}  # fmt: skip
# A plain name that is the first name of several classes: WordNet's first noun
# sense decides where the issue tracker stated it; others stay ambiguous (error).
FIRST_SENSE = {"crane": 517}


@functools.cache
def _lookup() -> tuple[dict[str, int], dict[str, list[int]], dict[str, list[int]]]:
    """(display name or WordNet id -> index, first name -> indices, synonym -> indices)."""
    exact: dict[str, int] = {}
    first: dict[str, list[int]] = {}
    other: dict[str, list[int]] = {}
    for i, (wnid, _, names) in enumerate(_table()):
        exact[_norm(class_name(i))] = i
        exact[wnid.lower()] = i
        first.setdefault(_norm(names[0]), []).append(i)
        for n in names[1:]:
            other.setdefault(_norm(n), []).append(i)
    return exact, first, other


def class_names() -> list[str]:
    """The display name of each of the 1000 classes, by index (unique)."""
    return [class_name(i) for i in range(NUM_CLASSES)]


def class_name(index: int) -> str:
    """Display name: the class's first name, qualified where two classes share it."""
    return QUALIFIED.get(index) or _table()[index][1]


def wordnet_id(index: int) -> str:
    """The class's WordNet id, e.g. ``n03495258`` for 594 (harp)."""
    return _table()[index][0]


def _ambiguous(name: str, ids: list[int]) -> ValueError:
    cands = ", ".join(f"{class_name(i)!r} ({i})" for i in ids)
    return ValueError(f"ImageNet class name {name!r} is ambiguous: it names {cands}; use one of those")


def class_index(name_or_id: str | int) -> int:
    """A class index from a display name, any synonym, a WordNet id (``n04346328``)
    or an int. A plain name resolves to the class whose *first* name it is (``harp``
    -> 594, not harmonica); where several classes have it as first name, an exact
    (case-sensitive) match decides (``cardigan`` -> 474, ``Cardigan`` -> 264), then
    WordNet's first sense (:data:`FIRST_SENSE`: ``crane`` -> 517); a name still
    undecided raises an error listing the candidate classes."""
    if isinstance(name_or_id, (int, np.integer)):
        if not 0 <= int(name_or_id) < NUM_CLASSES:
            raise UserError(f"class id {name_or_id} out of range [0, {NUM_CLASSES})")
        return int(name_or_id)
    s = str(name_or_id)
    if s.strip().isdigit():
        return class_index(int(s))
    key = _norm(s)
    exact, first, other = _lookup()
    if key in exact:
        return exact[key]
    for table in (first, other):
        ids = table.get(key, [])
        if len(ids) > 1 and table is first:
            same_case = [i for i in ids if _table()[i][2][0] == s.strip()]
            ids = same_case if len(same_case) == 1 else ids
            if len(ids) > 1 and key in FIRST_SENSE:
                return FIRST_SENSE[key]
        if len(ids) == 1:
            return ids[0]
        if ids:
            raise _ambiguous(s, ids)
    names = list(exact) + list(first) + list(other)
    close = difflib.get_close_matches(key, names, n=8, cutoff=0.6)
    contains = [k for k in names if key and key in k][:8]
    suggestions = list(dict.fromkeys(close + contains))[:8]
    where = lambda n: exact.get(n, (first.get(n) or other.get(n) or [None])[0])
    hint = ", ".join(f"{n!r} ({where(n)})" for n in suggestions) if suggestions else "none"
    raise UserError(f"unknown ImageNet class {name_or_id!r}; closest names: {hint}")


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
