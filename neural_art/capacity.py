"""Caps from the memory plan, before compute: a count or size flag (BigGAN's
``--latents`` and ``--frames``, featvis' ``--size``, the autoencoder's ``--batch``)
is refused in one line when the compiled program it asks for cannot fit the
device, instead of the run being killed after a long wait.

The plan is the compiled program's own ``memory_analysis()`` (one chunk, or one
step, at the smallest grouping), measured at two *small* values of the flag and
extrapolated (:class:`Fit`: peak ≈ base + slope·n, or ·n² for an image side), so
nothing is compiled or built at the huge size. The limit is hard, not a budget:
the device's memory (``memory_stats()['bytes_limit']``), or on CPU the machine's
physical RAM (:func:`hard_limit`). A refusal is :class:`TooLarge`, a
:class:`~neural_art.errors.UserError` whose message names the flag, what it
needs, the limit, and the largest value that fits; a CLI turns it into a usage
error (exit 2).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from neural_art.errors import UserError

__all__ = ["HEADROOM", "Fit", "TooLarge", "fit", "gib", "hard_limit", "peak_bytes"]


def gib(n: float) -> str:
    """Bytes as ``"812.3 GiB"`` (``"0.4 MiB"`` below a GiB)."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def peak_bytes(compiled) -> int:
    """A compiled program's peak device bytes from its own ``memory_analysis()``:
    arguments + outputs + temporaries - aliased."""
    m = compiled.memory_analysis()
    return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
               - m.alias_size_in_bytes)  # fmt: skip


def hard_limit(device=None) -> tuple[int, str]:
    """``(bytes, "this device's")``: what one device can hold at most: its
    ``memory_stats()['bytes_limit']``, else (CPU) the machine's physical RAM shared
    by this process's devices of that platform (the plans are per device)."""
    import jax

    if device is None:
        device = jax.devices()[0]
    try:
        limit = (device.memory_stats() or {}).get("bytes_limit")
    except Exception:  # backends without memory_stats
        limit = None
    if limit:
        return int(limit), "this device's"
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    n = max(1, len(jax.local_devices(backend=device.platform)))
    return (ram, "this machine's RAM,") if n == 1 else (ram // n, f"this machine's RAM / {n} devices,")


# The share of the hard limit an extrapolated plan may fill. Measured on an H200 (BigGAN-deep-256
# sweep chunk, 104.9 GiB limit, fit from 8 and 16 rows): the compiled peak was the extrapolation's
# to 0.1% at 64 and 944 rows (3.8, 52.5 GiB) but above it at 1510 rows (107.5 for 83.8 GiB) and
# 1889 rows (119.7 for 104.8 GiB): past ~1000 rows XLA's GPU choices change. So the margin catches
# the huge values at once, and a value near the limit is refused by the plan compiled at its real
# size (neural_art.sweep.engine.plan_sweep checks the hard limit itself), still before any generation.
HEADROOM = 0.8


class TooLarge(UserError):
    """A flag asks for more memory than the device has (module docstring).

    ``flag`` (without ``--``; None for a library argument), ``value``, ``largest``
    (the largest value that fits, 0 if none), ``need`` / ``limit`` in bytes."""

    def __init__(self, flag: str | None, value: int, largest: int, need: float, limit: int,
                 where: str = "this device's", what: str = "it", unit: str = "",
                 share: float = 1.0):  # fmt: skip
        self.flag, self.value, self.largest, self.need, self.limit = flag, value, largest, need, limit
        self.where, self.what, self.unit, self.share = where, what, unit, share
        name = f"--{flag}={value}" if flag else f"{value}{unit and ' ' + unit}"
        fits = f"at most {largest}{unit and ' ' + unit} fit" if largest else "none fits"
        verb = "needs" if what == "it" or what.startswith("one ") else "need"
        of = f"{share:.0%} of " if share < 1 else ""
        super().__init__(f"{name}: {what} {verb} {gib(need)}, more than {of}{where} {gib(limit)}; {fits}")


@dataclasses.dataclass(frozen=True)
class Fit:
    """``peak(n) ≈ base + slope · n**power`` bytes, from two measured points."""

    base: float
    slope: float
    power: int = 1

    def peak(self, n: int) -> float:
        return self.base + self.slope * float(n) ** self.power

    def largest(self, limit: float) -> int:
        """The largest ``n >= 0`` with ``peak(n) <= limit``."""
        if self.slope <= 0:
            return 2**62 if self.base <= limit else 0
        if self.base > limit:
            return 0
        n = int(((limit - self.base) / self.slope) ** (1.0 / self.power))
        while self.peak(n + 1) <= limit:
            n += 1
        while n > 0 and self.peak(n) > limit:
            n -= 1
        return n

    def check(self, value: int, limit: int, *, flag: str | None, where: str = "this device's",
              what: Callable[[int], str] = lambda n: "it", unit: str = "") -> None:  # fmt: skip
        """Raises :class:`TooLarge` if ``peak(value)`` exceeds :data:`HEADROOM` of ``limit``
        (the largest it states is the largest within that share)."""
        need, usable = self.peak(value), int(limit * HEADROOM)
        if need > usable:
            raise TooLarge(flag, value, self.largest(usable), need, limit, where, what(value), unit,
                           HEADROOM)  # fmt: skip


def fit(measure: Callable[[int], int], n1: int, n2: int, power: int = 1) -> Fit:
    """A :class:`Fit` through ``measure(n1)`` and ``measure(n2)`` (``n1 < n2``: peak
    bytes of the program compiled at those sizes); the slope is never negative."""
    p1, p2 = measure(n1), measure(n2)
    slope = max(0.0, (p2 - p1) / (n2**power - n1**power))
    return Fit(base=p1 - slope * n1**power, slope=slope, power=power)

