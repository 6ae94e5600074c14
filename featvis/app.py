"""What ``python -m featvis`` does, as a library: parse targets, build the
objective/parameterisation/optimiser for a method, render in vmapped chunks,
write PNGs. :mod:`featvis.main` only parses flags and calls :func:`visualise`.

    targets = app.parse_targets("668, mosque, relu4_2:0-3")
    out = app.visualise(model, targets, app.Settings(method="fft", steps=512), out_dir="out")
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import re
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from featvis import despraz as D
from featvis import objectives as O
from featvis import param as P
from featvis import render as R
from featvis import transform as T
from neural_art import atomic, capacity, imagenet, optim
from neural_art import images as imio
from neural_art.errors import UserError
from neural_art.ranges import parse_ranges

METHODS = ("pixel", "fft", "despraz", "despraz-pretrained")
OPTIMIZERS = ("default", "adam", "adamax", "sgd")
TRANSFORMS = ("default", "standard", "none")
OBJECTIVES = ("auto", "logit", "despraz", "neuron", "channel")


@dataclasses.dataclass(frozen=True)
class Target:
    """One visualisation target: ``layer=None`` is a class (``index`` a tuple of
    class ids, two or more for a compound), else a filter ``index[0]`` of ``layer``."""

    layer: str | None
    index: tuple[int, ...]
    label: str


@dataclasses.dataclass(frozen=True)
class Settings:
    """How to render (the CLI's flags of the same names).

    ``learning_rate=None``: the method's default; ``optimizer="default"``: Adam
    for pixel/fft, Table 1's for Despraz; ``transforms="default"``: lucid's
    standard set for fft, none otherwise; ``objective="auto"``: Despraz eq. 2
    for Despraz methods and compounds, the logit otherwise. Target ``i`` (in
    the given order) uses ``fold_in(key(seed), i)``."""

    method: str = "fft"
    size: int = 224
    steps: int = 256
    thresholds: tuple[int, ...] = ()
    optimizer: str = "default"
    learning_rate: float | None = None
    transforms: str = "default"
    objective: str = "auto"
    chunk_size: int = 16
    seed: int = 0

    def snapshot_steps(self) -> tuple[int, ...]:
        return R.check_thresholds(self.steps, self.thresholds)


def check_settings(s: Settings, *, has_decoder: bool) -> None:
    """Every check that needs no compute; ``ValueError`` naming the setting."""
    for name, value, known in [("method", s.method, METHODS), ("optimizer", s.optimizer, OPTIMIZERS),
                               ("transforms", s.transforms, TRANSFORMS),
                               ("objective", s.objective, OBJECTIVES)]:  # fmt: skip
        if value not in known:
            raise UserError(f"unknown {name} {value!r}; known: {', '.join(known)}")
    if s.steps < 1 or any(not 0 < t <= s.steps for t in s.thresholds):
        raise UserError(f"steps must be >= 1 and thresholds in 1..{s.steps}")
    if s.size < 1 or s.chunk_size < 1:
        raise UserError("size and chunk_size must be >= 1")
    if s.learning_rate is not None and not 0 < s.learning_rate < float("inf"):
        raise UserError(f"learning_rate must be finite and > 0, got {s.learning_rate}")
    if s.method.startswith("despraz") and s.size != 224:
        raise UserError("Despraz's generator is 224x224 by design (size=224)")
    if s.method == "despraz-pretrained" and not has_decoder:
        raise UserError("despraz-pretrained needs a decoder (python -m featvis.train_autoencoder)")


def _class_id(tok: str) -> int:
    if re.fullmatch(r"\d+", tok):
        return int(tok)
    try:
        return imagenet.class_index(tok)
    except (KeyError, ValueError) as e:
        raise UserError(f"unknown class {tok!r}: {e}") from e


def _class_label(i: int) -> str:
    try:
        return f"{i} {imagenet.class_name(i)}"
    except (KeyError, ValueError, IndexError):
        return str(i)


def _parse_token(tok: str) -> list[Target]:
    if ":" in tok:
        layer, ch = (s.strip() for s in tok.split(":", 1))
        try:
            chans = parse_ranges(ch, what="channel")
        except ValueError as e:
            raise UserError(f"bad channel {ch!r}: {e}") from e
        return [Target(layer, (c,), f"{layer}:{c}") for c in chans]
    if "+" in tok:
        ids = tuple(_class_id(t.strip()) for t in tok.split("+"))
        return [Target(None, ids, "+".join(_class_label(i) for i in ids))]
    if re.fullmatch(r"\d+-\d+", tok):
        return [Target(None, (i,), _class_label(i)) for i in parse_ranges(tok, what="class")]
    i = _class_id(tok)
    return [Target(None, (i,), _class_label(i))]


def parse_targets(spec: str | Sequence[str]) -> list[Target]:
    """``"668, mosque, 10-12, ostrich+bullfrog, relu4_2:0-3, conv5_1:7"`` -> targets.

    Class tokens: an id, a range ``a-b`` (inclusive, :mod:`neural_art.ranges`),
    a name (any ImageNet synonym, via :mod:`neural_art.imagenet`) or ``a+b``
    (compound). Filter tokens: ``layer:channel`` with a channel id or range.
    """
    toks = spec.split(",") if isinstance(spec, str) else list(spec)
    out = [t for tok in toks if tok.strip() for t in _parse_token(tok.strip())]
    if not out:
        raise UserError(f"no targets in {spec!r}")
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
        return lambda n: sum((O.class_logit(n[k]) for k in range(arity)), O.constant(0.0))
    return lambda n: O.class_logit(n[0])


def _optimizer(name: str, lr: float) -> optim.Optimizer:
    if name == "sgd":
        return optim.make_optimizer("sgd", lr, momentum=0.9, nesterov=True)
    return optim.make_optimizer(name, lr)


def method_setup(s: Settings, decoder: dict | None = None):
    """``(param, optimiser, transforms list)`` for a method (Table 1 for Despraz)."""
    lr, size = s.learning_rate, s.size
    if s.method == "pixel":
        prm = P.pixel(size, size, l2=1e-3, blur_every=4, blur_sigma=0.5)
        opt, trs = optim.make_optimizer("adam", lr or 0.01), []
    elif s.method == "fft":
        prm, opt, trs = P.fft(size, size), optim.make_optimizer("adam", lr or 0.05), T.standard()
    elif s.method == "despraz":
        prm, opt, trs = D.scratch(), D.scratch_optimizer(lr or 0.002), []
    elif s.method == "despraz-pretrained":
        if decoder is None:
            raise UserError("despraz-pretrained needs a decoder (python -m featvis.train_autoencoder)")
        prm, opt, trs = D.pretrained(decoder), D.pretrained_optimizer(lr or 0.01), []
    else:
        raise UserError(f"unknown method {s.method!r}; known: {', '.join(METHODS)}")
    if s.optimizer != "default":
        opt = _optimizer(s.optimizer, lr or 0.01)
    if s.transforms == "none":
        trs = []
    elif s.transforms == "standard":
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
        for i in t.index if t.layer is None else ():
            if not 0 <= i < num_classes:
                raise UserError(f"target {t.label!r}: class id {i} not in 0..{num_classes - 1}")
    x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
    try:
        _, feats = jax.eval_shape(model.apply, model.params, x)
    except (ValueError, KeyError) as e:
        raise UserError(f"bad target layer: {e}") from e
    for t in targets:
        if t.layer is None:
            continue
        if t.layer not in feats:
            raise UserError(f"target {t.label!r}: the model has no layer {t.layer!r}")
        c = feats[t.layer].shape[-1]
        if not 0 <= t.index[0] < c:
            raise UserError(f"target {t.label!r}: {t.layer} has channels 0..{c - 1}")


PLAN_SIZE = 512  # image sides up to which nothing is planned (the ordinary path compiles nothing more)
SIZE_POINTS = (32, 64)  # sides one step is measured at (VGG's smallest input is 32)


def step_fit(model: R.Model, targets: Sequence[Target], s: Settings, *, decoder: dict | None = None,
             num_classes: int = 1000) -> capacity.Fit:  # fmt: skip
    """Peak bytes of one optimisation step of one target (the smallest grouping: the
    first target's objective, its method's parameterisation, optimiser and transforms)
    as ``base + slope · size²``, from the step compiled at ``SIZE_POINTS`` sides
    (nothing of the requested size is built). VGG at those sides folds its pool
    into fc6 (:class:`featvis.render.Model` ``specialize``): the base misses the
    difference, small beside a large image's activations."""
    t = targets[0]
    fn = objective_factory(t.layer, len(t.index), s.method, s.objective, num_classes)
    key = jax.random.key(0)

    def measure(size: int) -> int:
        prm, opt, trs = method_setup(dataclasses.replace(s, size=size), decoder)
        target = jnp.asarray(t.index, jnp.int32)
        step = R.compile_step(fn, target, prm, model, key=key, optimizer=opt, transforms=trs)
        return capacity.peak_bytes(step)

    return capacity.fit(measure, *SIZE_POINTS, power=2)


def check_size(model: R.Model, targets: Sequence[Target], s: Settings, *, decoder: dict | None = None,
               num_classes: int = 1000) -> None:  # fmt: skip
    """Refuses ``size`` (:class:`neural_art.capacity.TooLarge`, flag ``--size``) when one
    step of one target cannot fit the device (:func:`neural_art.capacity.hard_limit`),
    from :func:`step_fit`. Sides up to ``PLAN_SIZE`` (and Despraz's fixed 224) are not
    planned: nothing more is compiled."""
    if s.size <= PLAN_SIZE or s.method.startswith("despraz"):
        return
    limit, where = capacity.hard_limit(jax.devices()[0])
    step_fit(model, targets, s, decoder=decoder, num_classes=num_classes).check(
        s.size, limit, flag="size", where=where,
        what=lambda n: f"one step of one target at {n}x{n}")  # fmt: skip


def render_targets(
    model: R.Model, targets: Sequence[Target], s: Settings, *, decoder: dict | None = None,
    num_classes: int = 1000, progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:  # fmt: skip
    """Raw images ``[T, S, H, W, 3]`` (S = snapshots), targets grouped by
    (layer, arity) into vmapped programs; target ``i`` keeps ``fold_in(key(seed), i)``."""
    prm, opt, trs = method_setup(s, decoder)
    key = jax.random.key(s.seed)
    groups: dict[tuple, list[int]] = {}
    for i, t in enumerate(targets):
        groups.setdefault((t.layer, len(t.index)), []).append(i)
    result, done = [None] * len(targets), 0
    for (layer, arity), idx in groups.items():
        fn = objective_factory(layer, arity, s.method, s.objective, num_classes)
        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(idx, jnp.int32))
        out = R.render_many(
            fn, jnp.asarray([targets[i].index for i in idx], jnp.int32), prm, model, key=key,
            steps=s.steps, thresholds=s.thresholds, optimizer=opt, transforms=trs,
            chunk_size=s.chunk_size, keys=keys,
            progress=lambda d, _t, base=done: progress and progress(base + d, len(targets)),
        )  # fmt: skip
        for j, i in enumerate(idx):
            result[i] = out.images[j]
        done += len(idx)
    return np.stack([np.asarray(r[:, 0]) for r in result])


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", s)[:60]


def write_pngs(out_dir, shown: np.ndarray, labels: Sequence[str], s: Settings) -> None:
    """``out_dir/NNNN_label.png`` (last snapshot) and ``out_dir/grid.png``, in that
    order. If ``out_dir`` fails mid-way (a full disk), the earlier targets' PNGs
    stay, the failing one and the rest go to a fallback directory and
    :class:`neural_art.atomic.OutputError` names both (:func:`neural_art.atomic.write_all`)."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [(f"{i:04d}_{_slug(label)}.png",
              functools.partial(imio.save_image, image=im[-1], value_range=(0, 1)))
             for i, (label, im) in enumerate(zip(labels, shown, strict=True))]  # fmt: skip
    grid = functools.partial(
        imio.save_grid, images=shown, row_labels=list(labels),
        col_labels=[f"step {t}" for t in s.snapshot_steps()], title=f"featvis {s.method}",
        value_range=(0, 1),
    )  # fmt: skip
    atomic.write_all(out, [*files, ("grid.png", grid)], app="featvis")


def visualise(
    model: R.Model, targets: Sequence[Target], settings: Settings = Settings(), *,
    decoder: dict | None = None, num_classes: int = 1000, out_dir: str | pathlib.Path = "featvis_out",
    progress: Callable[[int, int], None] | None = None,
) -> dict:  # fmt: skip
    """Renders every target, writes ``out_dir/NNNN_label.png`` and ``out_dir/grid.png``
    (rows: targets, columns: snapshots). Returns images ``[T, S, H, W, 3]``,
    labels and the snapshot steps. Before any compute, a ``size`` whose step cannot
    fit the device raises :class:`neural_art.capacity.TooLarge` (:func:`check_size`).
    Raises :class:`neural_art.atomic.OutputError` if ``out_dir`` fails mid-way
    (:func:`write_pngs`: nothing rendered is lost)."""
    check_settings(settings, has_decoder=decoder is not None)
    check_targets(model, targets, settings.size, num_classes)
    check_size(model, targets, settings, decoder=decoder, num_classes=num_classes)
    imgs = render_targets(model, targets, settings, decoder=decoder, num_classes=num_classes,
                          progress=progress)  # fmt: skip
    labels = [t.label for t in targets]
    write_pngs(out_dir, display(imgs, settings.method), labels, settings)
    return {"images": imgs, "labels": labels, "thresholds": settings.snapshot_steps()}
