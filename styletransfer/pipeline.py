"""What ``python -m styletransfer`` does, as a library function (no flags here).

    from styletransfer import Settings, pipeline
    paths = pipeline.run(Settings(content="photo.jpg", style=("starry.jpg",),
                                  weights="vgg19", out_dir="out"))

Writes into ``out_dir``: ``result.png`` (a sweep: ``sweep.png`` grid plus
``result_ratio_<r>.png`` each), ``snapshots/step_<n>.png``, ``losses.png``
(loss curve), ``losses.json`` (per-step totals and the final loss parts) and
``settings.json``; with ``scales``, ``scales/scale_<k>_<W>x<H>.png`` as each
coarser scale finishes, and ``memory_plans`` (each scale's plan and compiled
peak) in ``losses.json``. A non-finite loss keeps the last finite image as
``last_finite_step_<n>.png``. If ``out_dir`` stops taking files (a full disk),
the optimised image is not lost: it and every file not yet written go to
``<temp dir or $HOME>/styletransfer-rescued-XXXX/`` and the error says where
(:func:`neural_art.atomic.write_all`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import pathlib
from typing import Any, NamedTuple

import numpy as np

from neural_art import atomic, images, optim, plots
from styletransfer import hub, settings, transfer
from styletransfer.settings import Settings

log = logging.getLogger(__name__)

_RANGE = (0.0, 1.0)
_APP = "styletransfer"
_KEPT = ("settings.json",)  # written before the optimisation


class Inputs(NamedTuple):
    content: np.ndarray | None
    styles: list[np.ndarray]
    init_image: np.ndarray | None  # --init=<path>


class Progress:
    """tqdm bar fed by :func:`neural_art.optim.run`'s ``callback(step, loss)``."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="step", desc="optimising")
        self.offset = self.last = 0  # steps of the finished scales; the last step seen

    def __call__(self, step: int, value) -> None:
        if self.bar is not None:
            if step < self.last:  # the next scale started
                self.offset = self.bar.n
            self.last = step
            self.bar.update(self.offset + step - self.bar.n)
            self.bar.set_postfix(loss=f"{float(value):.4g}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def read_inputs(s: Settings) -> Inputs:
    """Decodes every input image (raises ``ImageError`` naming the file)."""
    read = lambda p: images.load_image(p, size=s.size)  # --max_size: a memory guard (transfer.plans)
    content = read(s.content) if s.content else None
    styles = [read(p) for p in s.style]
    init_image = None if s.init in settings.INITS else read(s.init)
    return Inputs(content, styles, init_image)


def load_net(s: Settings) -> transfer.Net:
    cfg, params = hub.load(s.weights, seed=s.seed, head=False)
    if "fc6" in params:  # the head is never used here; free it
        params = {k: v for k, v in params.items() if not k.startswith("fc")}
    return transfer.Net(cfg, params)


def optimise(net: transfer.Net, s: Settings, x: Inputs, callback, on_scale=None) -> transfer.Result:
    """Runs ``s.mode`` on the decoded inputs (``on_scale(k, image)``: each finished
    scale but the last, coarse-to-fine)."""
    if x.init_image is not None:
        s = s.replace(init="noise")  # the explicit init image wins
    kw = dict(init_image=x.init_image)
    if s.mode != "sweep":
        kw["on_scale"] = on_scale
    if s.mode == "transfer":
        return transfer.stylize(net, x.content, x.styles, s, blend=s.style_blend, callback=callback,
                                **kw)  # fmt: skip
    if s.mode == "content":
        return transfer.reconstruct_content(net, x.content, s.content_layers[0], s,
                                            callback=callback, **kw)  # fmt: skip
    if s.mode == "texture":
        hw = x.content.shape[:2] if x.content is not None else None
        return transfer.synthesize_texture(net, x.styles, s.style_layers, s, size=hw,
                                           styles_blend=s.style_blend, callback=callback, **kw)  # fmt: skip
    log.info("α/β sweep over ratios %s, vmapped", s.ratios)
    return transfer.sweep(net, x.content, x.styles, s.ratios, s, blend=s.style_blend, **kw)


def scale_writer(out: pathlib.Path):
    """``on_scale(k, image)`` writing ``scales/scale_<k+1>_<W>x<H>.png`` atomically as
    each scale finishes, so a long coarse-to-fine run loses no finished scale."""

    def on_scale(k: int, im) -> None:
        h, w = im.shape[:2]
        rel = f"scales/scale_{k + 1}_{w}x{h}.png"
        atomic.write_all(out, [(rel, _image(im))], app=_APP, kept=_KEPT)
        log.info("scale %d done: %s", k + 1, out / rel)

    return on_scale


def _image(im) -> atomic.Writer:
    return functools.partial(images.save_image, image=im, value_range=_RANGE)


def _grid(ims, ncols: int, **kw) -> atomic.Writer:
    return functools.partial(images.save_grid, images=ims, ncols=ncols, value_range=_RANGE, **kw)


def save_last_finite(out: pathlib.Path, e: optim.NonFiniteLossError) -> None:
    """Writes ``e.last_good`` (elsewhere if ``out`` fails: :func:`neural_art.atomic.write_all`)
    and names the file in the error's message."""
    if e.last_good is None:
        return
    im = np.asarray(e.last_good)
    rel = f"last_finite_step_{e.step:05d}.png"
    write = _grid(im, len(im)) if im.ndim == 4 else _image(im)
    try:
        e.saved = str(atomic.write_all(out, [(rel, write)], app=_APP, kept=_KEPT)[rel])
        e.args = (f"{e.args[0]} The last finite image is in {e.saved}.",)
    except atomic.OutputError as oe:
        e.saved = str(oe.rescued[rel]) if oe.rescued else None
        e.args = (f"{e.args[0]} Saving the last finite image: {oe}",)


def loss_files(r: transfer.Result, labels=None) -> list[tuple[str, atomic.Writer]]:
    """``losses.png`` (total loss per step) and ``losses.json`` (+ the final parts)."""
    trace = np.atleast_2d(np.asarray(r.losses))
    labels = labels or [None] * len(trace)
    series = {lb: (np.arange(t.shape[-1]), t) for lb, t in zip(labels, trace, strict=True)}
    panels = [plots.Panel(series, ylabel="total loss")]
    doc = {
        "memory_plans": [p._asdict() for p in r.plans],
        "total_per_step": np.asarray(r.losses).tolist(),
        "final_parts": {k: np.asarray(v).tolist() for k, v in r.parts.items()},
    }
    return [("losses.png", functools.partial(plots.save_curves, panels=panels)),
            ("losses.json", functools.partial(atomic.write_json, obj=doc))]  # fmt: skip


def _snapshot_name(s: Settings, k: int) -> str:
    return f"snapshots/step_{(k + 1) * s.snapshot_every:05d}.png"


def sweep_files(s: Settings, r: transfer.Result) -> list[tuple[str, atomic.Writer]]:
    """``sweep.png`` (the ratios side by side), ``result_ratio_<r>.png`` each (``r``
    written in full, ``repr``: two ratios never share a file), snapshot grids, losses."""
    labels = [f"a/b={x:g}" for x in s.ratios]
    files = [("sweep.png", _grid(r.image, len(s.ratios), col_labels=labels))]
    files += [(f"result_ratio_{float(x)!r}.png", _image(im)) for x, im in zip(s.ratios, r.image, strict=True)]
    if r.snapshots is not None:
        files += [(_snapshot_name(s, k), _grid(r.snapshots[:, k], len(s.ratios)))
                  for k in range(r.snapshots.shape[1])]  # fmt: skip
    return files + loss_files(r, labels)


def result_files(s: Settings, r: transfer.Result) -> list[tuple[str, atomic.Writer]]:
    """``result.png`` first (the optimised image), then snapshots and losses."""
    files = [("result.png", _image(r.image))]
    if r.snapshots is not None:
        files += [(_snapshot_name(s, k), _image(im)) for k, im in enumerate(r.snapshots)]
    return files + loss_files(r)


def save(out: pathlib.Path, s: Settings, r: transfer.Result) -> dict[str, str]:
    """Writes the run's files (:func:`neural_art.atomic.write_all`: if ``out``
    fails, e.g. a full disk, the rest goes to a fallback directory and the
    ``OutputError`` says where); returns ``{what: path}``."""
    files = sweep_files(s, r) if s.mode == "sweep" else result_files(s, r)
    atomic.write_all(out, files, app=_APP, kept=_KEPT)
    keys = {"grid": "sweep.png"} if s.mode == "sweep" else {"result": "result.png"}
    if r.snapshots is not None and s.mode != "sweep":
        keys["snapshots"] = "snapshots"
    keys |= {"losses": "losses.png", "losses_json": "losses.json"}
    return {k: str(out / rel) for k, rel in keys.items()}


def run(s: Settings) -> dict[str, str]:
    """Runs one CLI invocation; returns ``{what: path}`` of the files written.

    Raises:
      ImageError: missing/corrupt input image.
      ValueError: inconsistent settings (named by flag).
      optim.NonFiniteLossError: the loss became NaN/inf (names the step; the
        last finite image is saved).
      neural_art.atomic.OutputError: ``out_dir`` failed mid-way (names the file,
        what was kept and where the rest went).
    """
    settings.check(s)
    x = read_inputs(s)
    net = load_net(s)  # bad weights fail here, before --out_dir is created
    out = pathlib.Path(s.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {**dataclasses.asdict(s), "vgg": net.cfg.name}
    log.info("style transfer settings: %s", json.dumps(record))
    atomic.write_json(out / "settings.json", record)
    bar = Progress(s.steps * max(1, len(s.scales)), s.progress and s.mode != "sweep")
    try:
        r = optimise(net, s, x, bar if bar.bar is not None else None, scale_writer(out))
    except optim.NonFiniteLossError as e:  # keep the work done before the failure
        save_last_finite(out, e)
        raise
    finally:
        bar.close()
    written = save(out, s, r)
    last = np.asarray(r.losses)[..., -1]
    log.info("done: final total loss %s; wrote %s", np.round(last, 6).tolist(), out)
    return written
