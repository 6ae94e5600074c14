"""Optimisers named by their settings, projections and the non-finite error of
:mod:`neural_art.optim` (the one optimisation loop of style transfer and featvis).

    opt = make_optimizer("adam", 0.02)      # == make_optimizer("adam", 0.05): the rate is data
    opt = make_optimizer("sgd", 0.01, momentum=0.1, nesterov=True)

An :class:`Optimizer` is a frozen dataclass: equal settings compare and hash
equal, so a freshly built one reuses the compiled programs of an equal one (the
loop's programs are cached by ``jax.jit`` with the optimiser as a static
argument; a raw optax object is keyed by identity, so a new ``optax.adam(0.02)``
compiles again). The learning rate of the first-order optimisers is not part of
the key: ``optax.inject_hyperparams`` keeps it in the optimiser state, where
:func:`neural_art.optim.run` sets it, so another rate compiles nothing either.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from neural_art.errors import UserError

NAMES = ("adam", "adamax", "sgd", "lbfgs")
DEFAULT_RATES = {"adam": 0.02, "adamax": 0.002, "sgd": 0.01}  # for pixels in [0, 1]


class NonFiniteLossError(FloatingPointError, UserError):
    """The loss or its gradient became NaN/inf; ``step`` is the first bad step (0-based).

    A ``ValueError`` too: the CLI's error path (:func:`neural_art.cli.run`)
    reports it in one line, exit 1.

    ``last_good`` holds the params the loop froze at (the last finite iterate),
    so callers can still save the work done before the failure; ``saved`` is
    where a caller saved it (set by the style-transfer pipeline)."""

    def __init__(self, step: int, where: str = "", last_good: Any = None,
                 advice: str = "Try a smaller learning rate."):  # fmt: skip
        self.step = int(step)
        self.last_good = last_good
        self.saved: str | None = None
        super().__init__(
            f"loss or gradient became non-finite at step {self.step}{where}; stopped. {advice}"
        )


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """An optax optimiser named by its settings (see the module docstring).

    ``adam`` / ``adamax`` (``b1``, ``b2``, ``eps``), ``sgd`` (``momentum``,
    ``nesterov``) and ``lbfgs`` (zoom line search; ``learning_rate`` None lets
    the line search pick the step; its rate is part of the key)."""

    name: str
    learning_rate: float | None = dataclasses.field(default=None, compare=False)
    memory_size: int = 10
    max_linesearch_steps: int = 20
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    momentum: float | None = None
    nesterov: bool = False
    static_rate: float | None = dataclasses.field(default=None, init=False)  # in the key

    def __post_init__(self):
        rate = self.learning_rate if self.name == "lbfgs" else None
        object.__setattr__(self, "static_rate", rate)

    @property
    def rate(self) -> float | None:
        default = DEFAULT_RATES.get(self.name)
        return default if self.learning_rate is None else self.learning_rate

    @functools.cached_property
    def transformation(self) -> optax.GradientTransformationExtraArgs:
        if self.name == "lbfgs":
            return optax.lbfgs(
                learning_rate=self.learning_rate,
                memory_size=self.memory_size,
                linesearch=optax.scale_by_zoom_linesearch(
                    max_linesearch_steps=self.max_linesearch_steps, initial_guess_strategy="one"
                ),
            )
        if self.name == "sgd":
            return optax.inject_hyperparams(optax.sgd, static_args=("momentum", "nesterov"))(
                learning_rate=self.rate, momentum=self.momentum, nesterov=self.nesterov
            )
        factory = {"adam": optax.adam, "adamax": optax.adamax}[self.name]
        return optax.inject_hyperparams(factory)(
            learning_rate=self.rate, b1=self.b1, b2=self.b2, eps=self.eps
        )

    def init(self, params):
        return self.transformation.init(params)

    def update(self, updates, state, params=None, **extra):
        return self.transformation.update(updates, state, params, **extra)

    def with_rate(self, state):
        """``state`` (from a compiled ``init`` of an equal optimiser) carrying this
        optimiser's learning rate (the first-order ones; L-BFGS's is in the key)."""
        if self.name == "lbfgs":
            return state
        old = state.hyperparams["learning_rate"]
        return state._replace(hyperparams={**state.hyperparams,
                                           "learning_rate": jnp.full_like(old, self.rate)})  # fmt: skip


def make_optimizer(name: str, learning_rate: float | None = None, **settings) -> Optimizer:
    """An :class:`Optimizer`: ``adam`` (default rate 0.02), ``adamax`` (0.002),
    ``sgd`` (0.01) or ``lbfgs``; ``settings`` are its other fields (``b1``, ``b2``,
    ``eps``, ``momentum``, ``nesterov``, ``memory_size``, ``max_linesearch_steps``).
    Equal arguments give equal optimisers, which share the compiled programs."""
    if name not in NAMES:
        raise UserError(f"unknown optimizer {name!r}; use one of {', '.join(NAMES)}")
    unknown = set(settings) - {f.name for f in dataclasses.fields(Optimizer) if f.init}
    if unknown:
        raise UserError(f"unknown optimizer setting(s) {', '.join(sorted(unknown))}")
    return Optimizer(name, learning_rate, **settings)


@functools.lru_cache(maxsize=16)
def clip(lo: float = 0.0, hi: float = 1.0) -> Callable[..., Any]:
    """Projection onto the box ``[lo, hi]`` (cached: same object for same bounds).
    Takes ``(params)`` or ``(params, step)`` (the step is ignored)."""
    return lambda params, step=None: jax.tree.map(lambda p: jnp.clip(p, lo, hi), params)


def check_finite(first_bad_step, where: str = "", last_good: Any = None, advice: str | None = None):
    """Raises :class:`NonFiniteLossError` if ``first_bad_step`` (from
    :func:`neural_art.optim.optimize`) is >= 0.

    With a leading batch axis (vmapped runs) reports the earliest bad step and its
    index. ``last_good`` (the loop's final, frozen params) travels with the error."""
    bad = jnp.asarray(jax.device_get(first_bad_step)).reshape(-1)
    hits = [(int(b), i) for i, b in enumerate(bad.tolist()) if b >= 0]
    if hits:
        step, i = min(hits)
        where = where + (f" (run {i} of the batch)" if bad.size > 1 else "")
        kw = {} if advice is None else {"advice": advice}
        raise NonFiniteLossError(step, where, last_good, **kw)
