"""Objectives: pure functions of a features dict that add and scale like numbers.

An :class:`Objective` wraps ``fn(features) -> scalar`` where ``features`` is the
dict a feature extractor returns (``styletransfer.vgg``: ``conv1_1``,
``relu1_1``, ..., ``fc8``; each ``[B, H, W, C]`` or ``[B, C]``). Objectives are
*maximised* by :mod:`featvis.render` (the loss is ``-objective + penalty``).
They compose as in lucid::

    obj = objectives.channel("relu4_2", 7) - 0.5 * objectives.channel("relu4_2", 9)
    obj = objectives.despraz_class(668)                # eq. (2) of Despraz et al.
    obj = objectives.despraz_classes([9, 31])          # two-class compound (their Fig. 9)

Every factory accepts *traced* target indices, so
``jax.vmap(lambda n: render(channel("relu4_2", n), ...))`` visualises many
filters in one compiled program. Batch axis: every objective averages over the
batch (diversity is the exception: it needs the batch).

Pre- and post-ReLU targets are just different layer names (``conv4_2`` vs
``relu4_2``; ``fc8`` are the logits, :func:`despraz_class` ReLUs them as their
code does). ``redirect=True`` on channel/neuron/class objectives reads the
pre-ReLU tensor and applies :func:`redirected_relu`, lucid's fix for grey
images: while ``features["__step__"] < redirect_steps`` the ReLU passes a
gradient that would raise a dead unit. Only the target's own ReLU is
redirected — the ReLUs inside the model are the model's (see the report in the
package docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
from neural_art.errors import UserError

Features = Mapping[str, jax.Array]

STEP_KEY = "__step__"  # render puts the optimisation step here (int32 scalar)

#: Despraz et al.'s penalty on non-target classes. Their code sets the "label"
#: of the non-target classes to -10/1000 = -0.01 inside ``1 - sum(y_true*y_pred)``.
DESPRAZ_LAMBDA = 0.01


class Objective:
    """A scalar function of a features dict, with arithmetic (lucid-style).

    ``(a + b)(f) == a(f) + b(f)``, ``(2 * a)(f) == 2 * a(f)``, ``-a``, ``a - b``,
    ``a * b`` and ``a / k`` likewise; numbers are promoted to constants.
    """

    def __init__(
        self, fn: Callable[[Features], jax.Array], name: str = "objective", layers=frozenset()
    ):
        self.fn = fn
        self.name = name
        self.layers = frozenset(layers)  # feature keys it reads (what the model must return)

    def __call__(self, features: Features) -> jax.Array:
        return self.fn(features)

    def __repr__(self) -> str:
        return f"Objective({self.name})"

    def _bin(self, other, op, sym, swap=False):
        o = other if isinstance(other, Objective) else constant(other)
        a, b = (o, self) if swap else (self, o)
        return Objective(
            lambda f: op(a(f), b(f)), f"({a.name} {sym} {b.name})", a.layers | b.layers
        )

    def __add__(self, o):
        return self._bin(o, jnp.add, "+")

    def __radd__(self, o):
        return self._bin(o, jnp.add, "+", swap=True)

    def __sub__(self, o):
        return self._bin(o, jnp.subtract, "-")

    def __rsub__(self, o):
        return self._bin(o, jnp.subtract, "-", swap=True)

    def __mul__(self, o):
        return self._bin(o, jnp.multiply, "*")

    def __rmul__(self, o):
        return self._bin(o, jnp.multiply, "*", swap=True)

    def __truediv__(self, o):
        return self._bin(o, jnp.divide, "/")

    def __neg__(self):
        return Objective(lambda f: -self(f), f"-{self.name}", self.layers)


def constant(value) -> Objective:
    """The objective that is ``value`` whatever the features (numbers in arithmetic)."""
    return Objective(lambda f: jnp.asarray(value, jnp.float32), repr(value))


def _pre_relu_name(layer: str) -> str:
    """``relu4_2 -> conv4_2``, ``relu6 -> fc6``: the tensor before a ReLU."""
    if not layer.startswith("relu"):
        raise UserError(f"redirect=True needs a post-ReLU layer name (relu*), got {layer!r}")
    rest = layer[4:]
    return ("conv" + rest) if "_" in rest else ("fc" + rest)


@jax.custom_vjp
def redirected_relu(x: jax.Array, active: jax.Array) -> jax.Array:
    """``relu(x)`` whose gradient, while ``active``, also flows where it would
    raise a dead unit (lucid's ``redirected_relu_grad``): ``g`` passes if
    ``x > 0`` or ``g < 0`` (a descent direction for the loss ``-relu``)."""
    del active
    return jnp.maximum(x, 0.0)


def _rr_fwd(x, active):
    return jnp.maximum(x, 0.0), (x, active)


def _rr_bwd(res, g):
    x, active = res
    plain = jnp.where(x > 0, g, 0.0)
    # lucid: gradient w.r.t. the *loss*; objectives are maximised, so a
    # cotangent g > 0 here would increase x: let it through even if x <= 0.
    redirected = jnp.where((x > 0) | (g > 0), g, 0.0)
    return jnp.where(active, redirected, plain), None


redirected_relu.defvjp(_rr_fwd, _rr_bwd)


def _src(layer: str, redirect: bool) -> str:
    return _pre_relu_name(layer) if redirect else layer


def _get(features: Features, layer: str, redirect: bool, redirect_steps: int) -> jax.Array:
    if not redirect:
        if layer not in features:
            raise UserError(f"objective wants layer {layer!r}; model returned {sorted(features)}")
        return features[layer]
    x = features[_pre_relu_name(layer)]
    step = features.get(STEP_KEY, jnp.asarray(redirect_steps, jnp.int32))
    return redirected_relu(x, step < redirect_steps)


def channel(layer: str, n, *, redirect: bool = False, redirect_steps: int = 16) -> Objective:
    """Mean of filter ``n``'s map in ``layer`` (``[B, H, W, C]``), averaged over the batch."""

    def fn(f):
        x = _get(f, layer, redirect, redirect_steps)
        return jnp.mean(jnp.take(x, n, axis=-1))

    return Objective(fn, f"channel({layer}, {n})", {_src(layer, redirect)})


def neuron(
    layer: str,
    n,
    x: int | None = None,
    y: int | None = None,
    *,
    redirect: bool = False,
    redirect_steps: int = 16,
) -> Objective:
    """Unit ``n`` of ``layer`` at one spatial position (default: the centre)."""

    def fn(f):
        a = _get(f, layer, redirect, redirect_steps)
        h, w = a.shape[1:3]
        yy = h // 2 if y is None else y
        xx = w // 2 if x is None else x
        return jnp.mean(jnp.take(a[:, yy, xx, :], n, axis=-1))

    return Objective(fn, f"neuron({layer}, {n})", {_src(layer, redirect)})


def layer(name: str) -> Objective:
    """DeepDream: mean of the squared activations of a whole layer."""
    return Objective(lambda f: jnp.mean(jnp.square(f[name])), f"layer({name})", {name})


def class_logit(n, *, layer: str = "fc8") -> Objective:
    """Logit (pre-softmax) ``n`` of the classifier, averaged over the batch."""
    return Objective(
        lambda f: jnp.mean(jnp.take(f[layer], n, axis=-1)), f"class_logit({n})", {layer}
    )


def despraz_weighted(weights: jax.Array, *, layer: str = "fc8") -> Objective:
    """``sum_j w_j * relu(logit_j)``, batch-averaged — the general form of their eq. (2).

    Their code: ``loss = 1 - sum(y_true * relu(fc8))``; we return the objective
    ``sum(w * relu(fc8))`` (the constant 1 changes no gradient).
    """
    weights = jnp.asarray(weights, jnp.float32)
    return Objective(
        lambda f: jnp.mean(jnp.sum(weights * jax.nn.relu(f[layer]), axis=-1)),
        "despraz_weighted",
        {layer},
    )


def despraz_class_weights(targets, num_classes: int = 1000, lam: float = DESPRAZ_LAMBDA):
    """Weights ``1`` at each target class and ``-lam`` elsewhere (their ``y_true``).

    ``targets``: int or int array (traced allowed), e.g. two classes for a compound.
    """
    t = jnp.atleast_1d(jnp.asarray(targets))
    hit = jnp.zeros((num_classes,), bool).at[t].set(True)
    return jnp.where(hit, 1.0, -lam)


def despraz_class(
    n, *, lam: float = DESPRAZ_LAMBDA, num_classes: int = 1000, layer: str = "fc8"
) -> Objective:
    """Eq. (2) without R: objective ``a(c_n) - lam * sum_{j != n} a(c_j)``, ``a = relu(logit)``."""
    obj = despraz_weighted(despraz_class_weights(n, num_classes, lam), layer=layer)
    obj.name = f"despraz_class({n})"
    return obj


def despraz_classes(
    ns: Sequence[int] | jax.Array,
    *,
    lam: float = DESPRAZ_LAMBDA,
    num_classes: int = 1000,
    layer: str = "fc8",
) -> Objective:
    """Compound image of several classes (their Fig. 9): every target weighted 1."""
    obj = despraz_weighted(despraz_class_weights(ns, num_classes, lam), layer=layer)
    obj.name = f"despraz_classes({ns})"
    return obj


def diversity(layer: str) -> Objective:
    """lucid's diversity: minus the mean pairwise cosine similarity of the batch's
    Gram matrices at ``layer`` (needs batch >= 2; 0 for batch 1)."""

    def fn(f):
        a = f[layer]
        b = a.shape[0]
        a = a.reshape(b, -1, a.shape[-1])
        grams = jnp.einsum("bpi,bpj->bij", a, a).reshape(b, -1)
        grams = grams / (jnp.linalg.norm(grams, axis=-1, keepdims=True) + 1e-12)
        sims = grams @ grams.T
        off = jnp.sum(sims) - jnp.trace(sims)
        return -off / max(b * (b - 1), 1)

    return Objective(fn, f"diversity({layer})", {layer})
