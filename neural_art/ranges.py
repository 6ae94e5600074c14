"""Integer range lists as users type them: ``"0-10,15,20-25"``.

One parser for every CLI's ``--seeds`` (BigGAN and DCGAN sweeps) and for class /
channel ranges (featvis targets). Ranges are inclusive, as in Janik's "seeds
0-10". The size is checked *before* expansion, so ``0-99999999`` is a clear
error rather than a list that exhausts memory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from neural_art.errors import UserError

MAX_COUNT = 1_000_000  # more seeds than any sweep can write; raise it deliberately
_PART = re.compile(r"(\d+)(?:-(\d+))?")
SEED_UPPER = 2**31  # seeds, seed ranges and the CLIs' --seed are in [0, SEED_UPPER)


def parse_ranges(
    spec: str | int | Sequence[int],
    *,
    what: str = "seed",
    max_count: int = MAX_COUNT,
    upper: int = SEED_UPPER,
) -> list[int]:
    """``"0-10,15,20-22"`` -> ``[0, 1, ..., 10, 15, 20, 21, 22]``.

    Duplicates are removed, order kept. Raises ``ValueError`` naming the bad part
    for a malformed part, an empty range (end < start), a value that is not an
    integer in ``[0, upper)``, no values at all, or more than ``max_count`` values.
    """
    if isinstance(spec, int):
        spec = [spec]
    if not isinstance(spec, str):
        vals = list(spec)
        if len(vals) > max_count:
            raise UserError(f"{len(vals)} {what}s: at most {max_count:,} at once")
    else:
        bounds = []
        for part in spec.replace(" ", "").split(","):
            m = _PART.fullmatch(part)
            if not m:
                raise UserError(f"malformed {what} range {part!r} in {spec!r}: use e.g. '0-10,15,20-25'")
            a, b = int(m.group(1)), int(m.group(2) or m.group(1))
            if b < a:
                raise UserError(f"malformed {what} range {part!r}: end {b} < start {a}")
            bounds.append((a, b))
        total = sum(b - a + 1 for a, b in bounds)
        if total > max_count:
            raise UserError(f"{spec!r} is {total:,} {what}s: at most {max_count:,} at once")
        vals = [v for a, b in bounds for v in range(a, b + 1)]
    is_int = lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool)  # noqa: E731
    bad = [v for v in vals if not (is_int(v) and 0 <= v < upper)]
    if bad:
        raise UserError(f"{what}s must be integers in [0, {upper}); got {bad[:3]}")
    if not vals:
        raise UserError(f"no {what}s in {spec!r}")
    return list(dict.fromkeys(vals))
