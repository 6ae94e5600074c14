"""What ``python -m styletransfer`` does, as a library function (no flags here).

    from styletransfer import pipeline
    paths = pipeline.run(pipeline.Options(content="photo.jpg", styles=("starry.jpg",),
                                          weights="vgg19", output_dir="out"))

Writes into ``output_dir``: ``result.png`` (a sweep: ``sweep.png`` grid plus
``result_ratio_<r>.png`` each), ``snapshots/step_<n>.png``, ``losses.png``
(loss curve), ``losses.json`` (per-step totals and the final loss parts) and
``settings.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib

import numpy as np

from neural_art import images as imageio
from styletransfer import losses, optim, transfer, vgg

log = logging.getLogger(__name__)

MODES = ("transfer", "content", "texture", "sweep")


@dataclasses.dataclass(frozen=True)
class Options:
    """See ``python -m styletransfer --help`` for each field."""

    content: str | None = None
    styles: tuple[str, ...] = ()
    style_blend: tuple[float, ...] | None = None
    mode: str = "transfer"
    output_dir: str = "styletransfer_out"
    weights: str = "vgg19"
    content_layers: tuple[str, ...] = losses.CONTENT_LAYERS
    style_layers: tuple[str, ...] = losses.STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None
    content_weight: float = 1.0
    style_weight: float = 1e3
    tv_weight: float = 0.0
    ratios: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)
    optimizer: str = "lbfgs"
    learning_rate: float | None = None
    iterations: int = 300
    size: int | None = None
    max_size: int = 512
    pooling: str = "avg"
    init: str = "noise"
    pixel: str = "clip"
    original_colors: bool = False
    scales: tuple[int, ...] = ()
    snapshot_every: int = 0
    seed: int = 0
    progress: bool = True


def _check(o: Options) -> None:
    if o.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {o.mode!r}")
    if o.mode in ("transfer", "content", "sweep") and not o.content:
        raise ValueError(f"mode {o.mode!r} needs a content image (--content)")
    if o.mode in ("transfer", "texture", "sweep") and not o.styles:
        raise ValueError(f"mode {o.mode!r} needs at least one style image (--style)")
    if o.style_blend is not None and len(o.style_blend) != len(o.styles):
        raise ValueError(f"{len(o.style_blend)} --style_blend weights for {len(o.styles)} styles")
    if o.iterations < 1:
        raise ValueError("--iterations must be >= 1")


def save_loss_curve(path: str | os.PathLike, trace: np.ndarray, labels=None) -> pathlib.Path:
    """PNG of the total loss per step (log scale); ``trace`` ``[T]`` or ``[R, T]``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trace = np.atleast_2d(np.asarray(trace))
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for i, t in enumerate(trace):
        ax.plot(np.arange(len(t)), t, label=None if labels is None else labels[i])
    if np.all(trace[np.isfinite(trace)] > 0):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("total loss")
    if labels is not None:
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = pathlib.Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


class _Progress:
    """tqdm bar fed from inside the compiled loop (``jax.debug.callback``)."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="step", desc="optimising")

    def __call__(self, step, value):
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{float(value):.4g}", refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run(o: Options) -> dict[str, str]:
    """Runs one CLI invocation; returns ``{what: path}`` of the files written.

    Raises:
      imageio.ImageError: missing/corrupt input image.
      ValueError: inconsistent options.
      optim.NonFiniteLossError: the loss became NaN/inf (names the step).
    """
    from neural_art import images as img_io  # the project's one image writer

    _check(o)
    out = pathlib.Path(o.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    read = lambda p: imageio.load_image(p, size=o.size, max_size=o.max_size)
    content = read(o.content) if o.content else None
    styles = [read(p) for p in o.styles]
    init_image = None
    init = o.init
    if init not in ("noise", "content", "style"):
        init_image = read(init)
        init = "noise"
    cfg, params = vgg.load(o.weights, seed=o.seed, head=False)
    if "fc6" in params:  # the head is never used here; free it
        params = {k: v for k, v in params.items() if not k.startswith("fc")}
    net = transfer.Net(cfg, params)
    s = transfer.Settings(
        content_layers=tuple(o.content_layers),
        style_layers=tuple(o.style_layers),
        style_layer_weights=o.style_layer_weights,
        alpha=o.content_weight,
        beta=o.style_weight,
        tv_weight=o.tv_weight,
        optimizer=o.optimizer,
        learning_rate=o.learning_rate,
        num_steps=o.iterations,
        snapshot_every=o.snapshot_every,
        pooling=o.pooling,
        init=init,
        pixel=o.pixel,
        original_colors=o.original_colors,
        scales=tuple(o.scales),
        seed=o.seed,
    )
    settings = {**dataclasses.asdict(o), "vgg": cfg.name}
    log.info("style transfer settings: %s", json.dumps(settings))
    (out / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    n_scales = max(1, len(s.scales))
    bar = _Progress(o.iterations * n_scales, o.progress and o.mode != "sweep")
    blend = o.style_blend
    written: dict[str, str] = {}
    try:
        if o.mode == "transfer":
            r = transfer.stylize(
                net, content, styles, s, blend=blend, init_image=init_image, callback=bar
            )
        elif o.mode == "content":
            layer = s.content_layers[0]
            r = transfer.reconstruct_content(
                net, content, layer, s, init_image=init_image, callback=bar
            )
        elif o.mode == "texture":
            hw = content.shape[:2] if content is not None else None
            r = transfer.synthesize_texture(
                net, styles, s.style_layers, s, size=hw, styles_blend=blend,
                init_image=init_image, callback=bar,
            )  # fmt: skip
        else:
            log.info("α/β sweep over ratios %s in one compiled program", o.ratios)
            r = transfer.sweep(
                net, content, styles, o.ratios, s, blend=blend, init_image=init_image
            )
    except optim.NonFiniteLossError as e:  # keep the work done before the failure
        if e.last_good is not None:
            im = np.asarray(e.last_good)
            path = out / f"last_finite_step_{e.step:05d}.png"
            if im.ndim == 4:
                img_io.save_grid(path, im, len(im), value_range=(0.0, 1.0))
            else:
                img_io.save_image(path, im, value_range=(0.0, 1.0))
            e.saved = str(path)
            e.args = (f"{e.args[0]} The last finite image is in {path}.",)
        raise
    finally:
        bar.close()
    vr = (0.0, 1.0)
    if o.mode == "sweep":
        labels = [f"a/b={x:g}" for x in o.ratios]
        written["grid"] = str(
            img_io.save_grid(out / "sweep.png", r.image, len(o.ratios), col_labels=labels,
                             value_range=vr)
        )  # fmt: skip
        for x, im in zip(o.ratios, r.image, strict=True):
            img_io.save_image(out / f"result_ratio_{x:g}.png", im, value_range=vr)
        if r.snapshots is not None:
            for k in range(r.snapshots.shape[1]):
                step = (k + 1) * o.snapshot_every
                img_io.save_grid(
                    out / "snapshots" / f"step_{step:05d}.png", r.snapshots[:, k], len(o.ratios),
                    value_range=vr,
                )  # fmt: skip
        written["losses"] = str(save_loss_curve(out / "losses.png", r.losses, labels))
    else:
        written["result"] = str(img_io.save_image(out / "result.png", r.image, value_range=vr))
        if r.snapshots is not None:
            for k, im in enumerate(r.snapshots):
                step = (k + 1) * o.snapshot_every
                img_io.save_image(out / "snapshots" / f"step_{step:05d}.png", im, value_range=vr)
            written["snapshots"] = str(out / "snapshots")
        written["losses"] = str(save_loss_curve(out / "losses.png", r.losses))
    (out / "losses.json").write_text(
        json.dumps(
            {
                "total_per_step": np.asarray(r.losses).tolist(),
                "final_parts": {k: np.asarray(v).tolist() for k, v in r.parts.items()},
            }
        )
        + "\n"
    )
    written["losses_json"] = str(out / "losses.json")
    last = np.asarray(r.losses)[..., -1]
    log.info("done: final total loss %s; wrote %s", np.round(last, 6).tolist(), out)
    return written
