"""Loss-curve plots (matplotlib, Agg backend), written atomically.

One writer for every loop's curves: style transfer's total loss per step,
DCGAN's D/G losses and D's outputs, the autoencoder's reconstruction loss.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np

from neural_art.atomic import atomic_path


@dataclasses.dataclass(frozen=True)
class Panel:
    """One subplot: ``series`` maps a label (or ``None``) to ``(x, y)``."""

    series: Mapping[str | None, tuple[Sequence[float], Sequence[float]]]
    title: str | None = None
    xlabel: str = "step"
    ylabel: str | None = None
    log: bool | None = None  # None: log scale when every finite value is > 0
    ylim: tuple[float, float] | None = None


def save_curves(path: str | os.PathLike, panels: Sequence[Panel], *, width: float = 6.0,
                height: float = 4.0, dpi: int = 100) -> pathlib.Path:
    """PNG with one subplot per panel, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(width * len(panels) / (1 + (len(panels) > 1) * 0.2), height), dpi=dpi, squeeze=False)
    for ax, p in zip(axes[0], panels, strict=True):
        ys = []
        for label, (x, y) in p.series.items():
            ax.plot(np.asarray(x), np.asarray(y), label=label)
            ys.append(np.asarray(y, np.float64).ravel())
        allv = np.concatenate(ys) if ys else np.zeros(0)
        finite = allv[np.isfinite(allv)]
        if p.log or (p.log is None and finite.size and np.all(finite > 0)):
            ax.set_yscale("log")
        ax.set_xlabel(p.xlabel)
        if p.ylabel:
            ax.set_ylabel(p.ylabel)
        if p.ylim:
            ax.set_ylim(*p.ylim)
        if p.title:
            ax.set_title(p.title)
        if any(label is not None for label in p.series):
            ax.legend(fontsize=7)
    fig.tight_layout()
    path = pathlib.Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
