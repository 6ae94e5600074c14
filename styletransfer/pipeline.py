"""What ``python -m styletransfer`` does, as a library function (no flags here).

    from styletransfer import Settings, pipeline
    paths = pipeline.run(Settings(content="photo.jpg", style=("starry.jpg",),
                                  weights="vgg19", out_dir="out"))

Writes into ``out_dir``: ``result.png`` (a sweep: ``sweep.png`` grid plus
``result_ratio_<r>.png`` each), ``snapshots/step_<n>.png``, ``losses.png``
(loss curve), ``losses.json`` (per-step totals and the final loss parts) and
``settings.json``. A non-finite loss keeps the last finite image as
``last_finite_step_<n>.png``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
from typing import Any, NamedTuple

import numpy as np

from neural_art import atomic, images, plots
from styletransfer import hub, optim, settings, transfer
from styletransfer.settings import Settings

log = logging.getLogger(__name__)

_RANGE = (0.0, 1.0)


class Inputs(NamedTuple):
    content: np.ndarray | None
    styles: list[np.ndarray]
    init_image: np.ndarray | None  # --init=<path>


class Progress:
    """tqdm bar fed by :func:`styletransfer.optim.run`'s ``callback(step, loss)``."""

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
    read = lambda p: images.load_image(p, size=s.size, max_size=s.max_size)
    content = read(s.content) if s.content else None
    styles = [read(p) for p in s.style]
    init_image = None if s.init in settings.INITS else read(s.init)
    return Inputs(content, styles, init_image)


def load_net(s: Settings) -> transfer.Net:
    cfg, params = hub.load(s.weights, seed=s.seed, head=False)
    if "fc6" in params:  # the head is never used here; free it
        params = {k: v for k, v in params.items() if not k.startswith("fc")}
    return transfer.Net(cfg, params)


def optimise(net: transfer.Net, s: Settings, x: Inputs, callback) -> transfer.Result:
    """Runs ``s.mode`` on the decoded inputs."""
    if x.init_image is not None:
        s = s.replace(init="noise")  # the explicit init image wins
    kw = dict(init_image=x.init_image)
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


def save_last_finite(out: pathlib.Path, e: optim.NonFiniteLossError) -> None:
    """Writes ``e.last_good`` and names the file in the error's message."""
    if e.last_good is None:
        return
    im = np.asarray(e.last_good)
    path = out / f"last_finite_step_{e.step:05d}.png"
    if im.ndim == 4:
        images.save_grid(path, im, len(im), value_range=_RANGE)
    else:
        images.save_image(path, im, value_range=_RANGE)
    e.saved = str(path)
    e.args = (f"{e.args[0]} The last finite image is in {path}.",)


def save_losses(out: pathlib.Path, r: transfer.Result, labels=None) -> dict[str, str]:
    """``losses.png`` (total loss per step) and ``losses.json`` (+ the final parts)."""
    trace = np.atleast_2d(np.asarray(r.losses))
    labels = labels or [None] * len(trace)
    series = {lb: (np.arange(t.shape[-1]), t) for lb, t in zip(labels, trace, strict=True)}
    png = plots.save_curves(out / "losses.png", [plots.Panel(series, ylabel="total loss")])
    doc = {
        "total_per_step": np.asarray(r.losses).tolist(),
        "final_parts": {k: np.asarray(v).tolist() for k, v in r.parts.items()},
    }
    return {"losses": str(png), "losses_json": str(atomic.write_json(out / "losses.json", doc))}


def save_sweep(out: pathlib.Path, s: Settings, r: transfer.Result) -> dict[str, str]:
    labels = [f"a/b={x:g}" for x in s.ratios]
    grid = images.save_grid(out / "sweep.png", r.image, len(s.ratios), col_labels=labels,
                            value_range=_RANGE)  # fmt: skip
    for x, im in zip(s.ratios, r.image, strict=True):
        images.save_image(out / f"result_ratio_{x:g}.png", im, value_range=_RANGE)
    if r.snapshots is not None:
        for k in range(r.snapshots.shape[1]):
            path = out / "snapshots" / f"step_{(k + 1) * s.snapshot_every:05d}.png"
            images.save_grid(path, r.snapshots[:, k], len(s.ratios), value_range=_RANGE)
    return {"grid": str(grid), **save_losses(out, r, labels)}


def save_result(out: pathlib.Path, s: Settings, r: transfer.Result) -> dict[str, str]:
    written = {"result": str(images.save_image(out / "result.png", r.image, value_range=_RANGE))}
    if r.snapshots is not None:
        for k, im in enumerate(r.snapshots):
            path = out / "snapshots" / f"step_{(k + 1) * s.snapshot_every:05d}.png"
            images.save_image(path, im, value_range=_RANGE)
        written["snapshots"] = str(out / "snapshots")
    return {**written, **save_losses(out, r)}


def run(s: Settings) -> dict[str, str]:
    """Runs one CLI invocation; returns ``{what: path}`` of the files written.

    Raises:
      ImageError: missing/corrupt input image.
      ValueError: inconsistent settings (named by flag).
      optim.NonFiniteLossError: the loss became NaN/inf (names the step; the
        last finite image is saved).
    """
    settings.check(s)
    x = read_inputs(s)
    out = pathlib.Path(s.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net = load_net(s)
    record: dict[str, Any] = {**dataclasses.asdict(s), "vgg": net.cfg.name}
    log.info("style transfer settings: %s", json.dumps(record))
    atomic.write_json(out / "settings.json", record)
    bar = Progress(s.steps * max(1, len(s.scales)), s.progress and s.mode != "sweep")
    try:
        r = optimise(net, s, x, bar if bar.bar is not None else None)
    except optim.NonFiniteLossError as e:  # keep the work done before the failure
        save_last_finite(out, e)
        raise
    finally:
        bar.close()
    written = save_sweep(out, s, r) if s.mode == "sweep" else save_result(out, s, r)
    last = np.asarray(r.losses)[..., -1]
    log.info("done: final total loss %s; wrote %s", np.round(last, 6).tolist(), out)
    return written
