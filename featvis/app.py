"""What ``python -m featvis`` does, as a library: parse targets, build the
objective/parameterisation/optimiser for a method, render in vmapped chunks,
write PNGs. :mod:`featvis.main` only parses flags and calls :func:`visualise`.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from featvis import despraz as D
from featvis import objectives as O
from featvis import param as P
from featvis import render as R
from featvis import transform as T

METHODS = ("pixel", "fft", "despraz", "despraz-pretrained")


@dataclasses.dataclass(frozen=True)
class Target:
    """One visualisation target: ``layer=None`` is a class (``index`` a tuple of
    class ids, two or more for a compound), else a filter ``index[0]`` of ``layer``."""

    layer: str | None
    index: tuple[int, ...]
    label: str


def _class_id(tok: str) -> int:
    if re.fullmatch(r"\d+", tok):
        return int(tok)
    try:
        from neural_art import imagenet as classes
    except ImportError as e:  # pragma: no cover
        raise ValueError(f"class names need neural_art.imagenet; use ids ({tok!r})") from e
    try:
        return classes.class_index(tok)
    except (KeyError, ValueError) as e:
        raise ValueError(f"unknown class {tok!r}: {e}") from e


def _class_label(i: int) -> str:
    try:
        from neural_art import imagenet as classes

        return f"{i} {classes.class_name(i)}"
    except Exception:
        return str(i)


def _range(spec: str) -> list[int]:
    m = re.fullmatch(r"(\d+)-(\d+)", spec)
    if m:
        a, b = int(m[1]), int(m[2])
        if b < a:
            raise ValueError(f"empty range {spec!r}")
        return list(range(a, b + 1))
    if not re.fullmatch(r"\d+", spec):
        raise ValueError(f"bad channel {spec!r}: want an id or a range a-b")
    return [int(spec)]


def parse_targets(spec: str | Sequence[str]) -> list[Target]:
    """``"668, mosque, 10-12, ostrich+bullfrog, relu4_2:0-3, conv5_1:7"`` -> targets.

    Class tokens: an id, a range ``a-b`` (inclusive), a name (any ImageNet
    synonym, via ``neural_art.imagenet``) or ``a+b`` (compound). Filter
    tokens: ``layer:channel`` with a channel id or range.
    """
    toks = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[Target] = []
    for tok in (t.strip() for t in toks):
        if not tok:
            continue
        if ":" in tok:
            layer, ch = tok.split(":", 1)
            out += [Target(layer.strip(), (c,), f"{layer.strip()}:{c}") for c in _range(ch.strip())]
        elif "+" in tok:
            ids = tuple(_class_id(t.strip()) for t in tok.split("+"))
            out.append(Target(None, ids, "+".join(_class_label(i) for i in ids)))
        elif re.fullmatch(r"\d+-\d+", tok):
            out += [Target(None, (i,), _class_label(i)) for i in _range(tok)]
        else:
            i = _class_id(tok)
            out.append(Target(None, (i,), _class_label(i)))
    if not out:
        raise ValueError(f"no targets in {spec!r}")
    return out


def objective_factory(
    layer: str | None, arity: int, method: str, objective: str, num_classes: int
) -> Callable:
    """``f(index_array) -> Objective`` for one group of targets (vmappable)."""
    if layer is not None:
        if objective == "neuron":
            return lambda n: O.neuron(layer, n[0])
        return lambda n: O.channel(layer, n[0])
    kind = objective
    if kind == "auto":
        kind = "despraz" if method.startswith("despraz") or arity > 1 else "logit"
    if kind == "despraz":
        return lambda n: O.despraz_classes(n, num_classes=num_classes)
    if arity > 1:
        return lambda n: sum((O.class_logit(n[k]) for k in range(arity)), O.Objective._lift(0.0))
    return lambda n: O.class_logit(n[0])


def method_setup(
    method: str, size: int, *, decoder: dict | None = None, optimizer: str = "default",
    lr: float | None = None, transforms: str = "default",
):  # fmt: skip
    """``(param, optax optimiser, transforms list)`` for a method (Table 1 for Despraz)."""
    if method == "pixel":
        prm, opt, trs = (
            P.pixel(size, size, l2=1e-3, blur_every=4, blur_sigma=0.5),
            optax.adam(lr or 0.01),
            [],
        )
    elif method == "fft":
        prm, opt, trs = P.fft(size, size), optax.adam(lr or 0.05), T.standard()
    elif method == "despraz":
        prm, opt, trs = D.scratch(), D.scratch_optimizer(lr or 0.002), []
    elif method == "despraz-pretrained":
        if decoder is None:
            raise ValueError(
                "despraz-pretrained needs a decoder (python -m featvis.train_autoencoder)"
            )
        prm, opt, trs = D.pretrained(decoder), D.pretrained_optimizer(lr or 0.01), []
    else:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    if optimizer != "default":
        opt = {
            "adam": optax.adam, "adamax": optax.adamax,
            "sgd": lambda l: optax.sgd(l, momentum=0.9, nesterov=True),
        }[optimizer](lr or 0.01)  # fmt: skip
    if transforms == "none":
        trs = []
    elif transforms == "standard":
        trs = T.standard()
    return prm, opt, trs


def display(images: np.ndarray, method: str) -> np.ndarray:
    """Images for PNGs in [0, 1]: clipped; for Despraz as their ``print_img``:
    per image ``sqrt(x - min)`` divided by its max (G's output is unbounded)."""
    x = np.asarray(images, np.float32)
    if method.startswith("despraz"):
        x = np.sqrt(x - x.min(axis=(-3, -2, -1), keepdims=True))
        return x / np.maximum(x.max(axis=(-3, -2, -1), keepdims=True), 1e-8)
    return np.clip(x, 0, 1)


def check_targets(model: R.Model, targets: Sequence[Target], size: int, num_classes: int):
    """Raises ``ValueError`` naming the bad target if a class id is outside
    ``0..num_classes-1``, a layer is unknown to the model or a channel is out of
    range (shapes from ``jax.eval_shape``: nothing is computed)."""
    for t in targets:
        if t.layer is None:
            for i in t.index:
                if not 0 <= i < num_classes:
                    raise ValueError(
                        f"target {t.label!r}: class id {i} not in 0..{num_classes - 1}"
                    )
    x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
    try:
        _, feats = jax.eval_shape(model.apply, model.params, x)
    except (ValueError, KeyError) as e:
        raise ValueError(f"bad target layer: {e}") from e
    for t in targets:
        if t.layer is None:
            continue
        if t.layer not in feats:
            raise ValueError(f"target {t.label!r}: the model has no layer {t.layer!r}")
        c = feats[t.layer].shape[-1]
        if not 0 <= t.index[0] < c:
            raise ValueError(f"target {t.label!r}: {t.layer} has channels 0..{c - 1}")


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", s)[:60]


def visualise(
    model: R.Model,
    targets: Sequence[Target],
    *,
    method: str = "fft",
    size: int = 224,
    steps: int = 256,
    thresholds: Sequence[int] = (),
    optimizer: str = "default",
    lr: float | None = None,
    transforms: str = "default",
    objective: str = "auto",
    decoder: dict | None = None,
    num_classes: int = 1000,
    chunk: int = 16,
    seed: int = 0,
    output: str | pathlib.Path = "featvis_out",
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Renders every target, writes ``output/NNNN_label.png`` and ``output/grid.png``
    (rows: targets, columns: snapshots). Target ``i`` (in the given order) uses
    ``fold_in(key(seed), i)``. Returns images ``[T, S, H, W, 3]`` and labels."""
    from neural_art import images as imio

    if method.startswith("despraz") and size != 224:
        raise ValueError("Despraz's generator is 224x224 by design (--size=224)")
    check_targets(model, targets, size, num_classes)
    prm, opt, trs = method_setup(method, size, decoder=decoder, optimizer=optimizer, lr=lr,
                                 transforms=transforms)  # fmt: skip
    th = tuple(sorted(set(thresholds) | {steps}))
    key = jax.random.key(seed)
    n = len(targets)
    groups: dict[tuple, list[int]] = {}
    for i, t in enumerate(targets):
        groups.setdefault((t.layer, len(t.index)), []).append(i)
    result = [None] * n
    done = 0
    for (layer, arity), idx in groups.items():
        fn = objective_factory(layer, arity, method, objective, num_classes)
        tgt = jnp.asarray([targets[i].index for i in idx], jnp.int32)
        # per-target keys follow the global target order, not the grouping
        gkey_idx = np.asarray(idx)
        out = _render_group(fn, tgt, gkey_idx, prm, model, key, steps, th, opt, trs, chunk,
                            lambda d, _t, base=done: progress and progress(base + d, n))  # fmt: skip
        for j, i in enumerate(idx):
            result[i] = out[j]
        done += len(idx)
    imgs = np.stack([np.asarray(r[:, 0]) for r in result])  # [T, S, H, W, 3]
    shown = display(imgs, method)
    outdir = pathlib.Path(output)
    outdir.mkdir(parents=True, exist_ok=True)
    labels = [t.label for t in targets]
    for i, (t, im) in enumerate(zip(targets, shown, strict=True)):
        imio.save_image(outdir / f"{i:04d}_{_slug(t.label)}.png", im[-1], value_range=(0, 1))
    imio.save_grid(
        outdir / "grid.png", shown, row_labels=labels, col_labels=[f"step {s}" for s in th],
        title=f"featvis {method}", value_range=(0, 1),
    )  # fmt: skip
    return {"images": imgs, "labels": labels, "thresholds": th}


def _render_group(fn, tgt, gidx, prm, model, key, steps, th, opt, trs, chunk, progress):
    """render_many with keys ``fold_in(key, global target index)``; images ``[G, S, B, H, W, 3]``."""
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(gidx, jnp.int32))
    res = R.render_many(
        fn, tgt, prm, model, key=key, steps=steps, thresholds=th, optimizer=opt,
        transforms=trs, chunk=chunk, progress=progress, keys=keys,
    )  # fmt: skip
    return res.images
