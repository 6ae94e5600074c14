"""Named settings of published experiments: ``python -m styletransfer --preset=NAME``.

``gatys2015`` -- Gatys, Ecker & Bethge, "A Neural Algorithm of Artistic Style"
(arXiv:1508.06576): the normalised VGG-19 (:func:`styletransfer.vgg.normalise`
of the Caffe VGG-19), average pooling, content ``conv4_2``, style ``conv1_1``,
``conv2_1``, ``conv3_1``, ``conv4_1``, ``conv5_1`` with ``w_l = 1/5``, L-BFGS from
white noise, α/β = 1e-3 (α = 1, β = 1e3). With ``--mode=sweep`` it lays out
the paper's Fig. 3: rows are the style layers up to ``conv1_1`` ... ``conv5_1``,
columns α/β = 1e-5, 1e-4, 1e-3, 1e-2 (``figure3.png``; each row's run in
``row<k>_<layer>/``).

A flag given explicitly that contradicts the preset is refused (one line);
``--weights`` may name another normalised VGG-19 directory.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from neural_art import images, store
from neural_art.errors import UserError
from neural_art.fetch import cache_dir
from styletransfer import losses, pipeline
from styletransfer.settings import Settings

FIG3_RATIOS = (1e-5, 1e-4, 1e-3, 1e-2)
FIG3_ROWS = tuple(losses.STYLE_LAYERS[: k + 1] for k in range(len(losses.STYLE_LAYERS)))
PRESETS: dict[str, dict] = {
    "gatys2015": {
        "pooling": "avg", "content_layers": ("conv4_2",), "style_layers": losses.STYLE_LAYERS,
        "style_layer_weights": None, "optimizer": "lbfgs", "init": "noise",
        "content_weight": 1.0, "style_weight": 1e3, "tv_weight": 0.0, "ratios": FIG3_RATIOS,
    },
}  # fmt: skip


def normalised_dir(cache: str | os.PathLike | None = None) -> pathlib.Path:
    """Where ``gatys2015`` looks for the normalised VGG-19 when ``--weights`` is not given."""
    return cache_dir(cache) / "vgg19-normalised"


def _how(path) -> str:
    return (f"make it once with: python -m weights_convert.vgg --src=vgg19-caffe "
            f"--normalise=DIR_OF_IMAGES --out_dir={path} (e.g. a few hundred ImageNet photos), "
            "or pass --weights=DIR of a normalised VGG-19")  # fmt: skip


def apply(s: Settings, name: str, explicit: set[str]) -> Settings:
    """``s`` with preset ``name``'s values; ``explicit``: the fields the user set
    (a different value there is refused; ``weights`` defaults to :func:`normalised_dir`)."""
    if name not in PRESETS:
        raise UserError(f"--preset={name}: unknown; known: {', '.join(PRESETS)}")
    values = dict(PRESETS[name])
    if s.mode != "sweep":
        values.pop("ratios")
    for field, v in values.items():
        if field in explicit and getattr(s, field) != v:
            raise UserError(f"--{field}={getattr(s, field)} contradicts --preset={name} "
                            f"({field} = {v}); drop one of them")  # fmt: skip
    weights = s.weights if "weights" in explicit else str(normalised_dir())
    return s.replace(**values, weights=weights, preset=name)


def check_weights(s: Settings) -> None:
    """The preset's network is a normalised VGG-19 directory (reads metadata only)."""
    path = pathlib.Path(s.weights)
    if not (path / "metadata.json").is_file():
        raise UserError(f"--preset={s.preset} needs the normalised VGG-19 (no {path}); "
                        f"{_how(path)}")  # fmt: skip
    meta = store.read_metadata(path)
    if "normalised" not in meta or not str(meta.get("config_name", "")).startswith("vgg19"):
        raise UserError(f"--preset={s.preset}: {path} is not a normalised VGG-19 "
                        f"({meta.get('config_name')}); {_how(normalised_dir())}")  # fmt: skip


def run_fig3(s: Settings, rows: tuple[tuple[str, ...], ...] = FIG3_ROWS) -> dict[str, str]:
    """The Fig. 3 layout: one α/β sweep per row of style layers, then ``figure3.png``
    (rows x ratios) in ``s.out_dir``. Returns ``{what: path}``."""
    out = pathlib.Path(s.out_dir)
    grid, written = [], {}
    for k, layers in enumerate(rows):
        row_dir = out / f"row{k + 1}_{layers[-1]}"
        pipeline.run(s.replace(style_layers=layers, out_dir=str(row_dir)))
        names = [f"result_ratio_{float(r)!r}.png" for r in s.ratios]
        grid.append([images.load_image(row_dir / n) for n in names])
        written[f"row{k + 1}"] = str(row_dir)
    fig = out / "figure3.png"
    images.save_grid(fig, np.asarray(grid), row_labels=[f"..{r[-1]}" for r in rows],
                     col_labels=[f"a/b={r:g}" for r in s.ratios], value_range=(0.0, 1.0),
                     title="Gatys et al. 2015, Fig. 3 layout")  # fmt: skip
    return {"figure3": str(fig), **written}
