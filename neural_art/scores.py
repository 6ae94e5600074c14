"""Per-network scores for curating a sweep (none of them claims to measure beauty).

All take images as arrays in ``[-1, 1]`` (the generators' range) and are pure
``jnp`` functions, so a sweep computes them on device in the same program as the
images. Shapes: one network's images ``[L, H, W, 3]`` (its L rows/latents); the
unperturbed network's images of the same latents ``[L, H, W, 3]``.

* :func:`colourfulness` -- Hasler & Süsstrunk (2003), "Measuring colourfulness in
  natural images", eq. (3): with ``rg = R - G`` and ``yb = (R + G)/2 - B`` on the
  0..255 scale, ``M = sqrt(σ_rg² + σ_yb²) + 0.3·sqrt(μ_rg² + μ_yb²)``; mean over rows.
* :func:`complexity` -- mean gradient magnitude of the luminance (0..1 scale),
  ``mean(sqrt(∂x² + ∂y²))`` with forward differences; mean over rows.
* :func:`departure` -- RMS pixel distance (0..1 scale) of each row to the
  unperturbed network's image of the same latent; mean over rows.
* :func:`diversity` -- mean pairwise RMS distance (0..1 scale) between a
  network's own rows (0 for a single row).
* :func:`jpeg_ratio` -- host side: JPEG size (quality 75) over raw size, a
  compressibility proxy for spatial complexity.

:func:`load_score` turns ``--score_with=module:function`` into a user score, by
the function's signature (its required positional parameters):

* one, ``f(images)``: called with the network's images;
* two, ``f(images, reference)``: called with θ*'s images of the same latents too
  (e.g. ``neural_art.scores:departure`` itself);
* none, a *factory*: called once before any compute, as ``f()`` or, with
  ``--score_weights=SPEC``, ``f(SPEC)``; it returns the score (one or two
  parameters, as above), e.g. ``styletransfer.scores:vgg_departure`` with
  ``--score_weights=vgg16`` (the spec is the factory's to read: weights, a
  path...). ``--score_weights`` with a hook that is not a factory is an error.

The score's name (in ``scores.json`` and the gallery) is the function's name.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import io
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from neural_art.errors import UserError

NAMES = ("departure", "colourfulness", "complexity", "diversity")
SCORE_WITH_HELP = ("Extra score module:function: f(images) or f(images, reference) -> scalar (images "
                   "[L,H,W,3] in [-1,1], reference: theta*'s), or a factory f() / f(--score_weights).")
SCORE_WEIGHTS_HELP = ("Spec passed to a --score_with factory, e.g. random:vgg16 for "
                      "styletransfer.scores:vgg_departure.")


def _unit(images: jax.Array) -> jax.Array:
    return (jnp.asarray(images, jnp.float32) + 1.0) * 0.5


def colourfulness(images: jax.Array) -> jax.Array:
    x = _unit(images) * 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    axes = (-2, -1)
    std = jnp.sqrt(jnp.var(rg, axes) + jnp.var(yb, axes))
    mean = jnp.sqrt(jnp.mean(rg, axes) ** 2 + jnp.mean(yb, axes) ** 2)
    return jnp.mean(std + 0.3 * mean)


def complexity(images: jax.Array) -> jax.Array:
    lum = _unit(images) @ jnp.asarray([0.299, 0.587, 0.114], jnp.float32)
    dx = lum[..., :-1, 1:] - lum[..., :-1, :-1]
    dy = lum[..., 1:, :-1] - lum[..., :-1, :-1]
    return jnp.mean(jnp.sqrt(dx**2 + dy**2))


def _rms(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.mean((_unit(a) - _unit(b)) ** 2, axis=(-3, -2, -1)))


def departure(images: jax.Array, original: jax.Array) -> jax.Array:
    return jnp.mean(_rms(images, original))


def diversity(images: jax.Array) -> jax.Array:
    n = images.shape[0]
    if n < 2:
        return jnp.zeros((), jnp.float32)
    d = _rms(images[:, None], images[None, :])
    return jnp.sum(d) / (n * (n - 1))


def all_scores(images: jax.Array, original: jax.Array) -> dict[str, jax.Array]:
    """Every on-device score of one network: ``{name: scalar}`` (:data:`NAMES`)."""
    return {
        "departure": departure(images, original),
        "colourfulness": colourfulness(images),
        "complexity": complexity(images),
        "diversity": diversity(images),
    }


def jpeg_ratio(image_uint8: np.ndarray, quality: int = 75) -> float:
    """JPEG bytes / raw bytes of one ``[H, W, 3]`` uint8 image (host side)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image_uint8)).save(buf, format="JPEG", quality=quality)
    return buf.tell() / float(np.asarray(image_uint8).size)


def load_score_fn(spec: str) -> tuple[str, Callable[[jax.Array], jax.Array]]:
    """``"package.module:function"`` -> ``(function name, function)``; the function
    maps one network's images ``[L, H, W, 3]`` in [-1, 1] to a scalar score."""
    mod, sep, name = spec.partition(":")
    if not sep or not mod or not name:
        raise UserError(f"--score_with={spec!r}: use module:function, e.g. mypkg.aesthetic:score")
    try:
        fn = getattr(importlib.import_module(mod), name)
    except (ImportError, AttributeError) as e:
        raise UserError(f"--score_with={spec!r}: cannot import it ({e})") from e
    if not callable(fn):
        raise UserError(f"--score_with={spec!r}: {name} is not callable")
    return name, fn


@dataclasses.dataclass(frozen=True)
class Score:
    """A user score: ``name``, the function, and whether it takes θ*'s images."""

    name: str
    fn: Callable
    reference: bool = False

    def __call__(self, images, reference):
        return self.fn(images, reference) if self.reference else self.fn(images)


def _required(fn) -> int | None:
    """How many required positional parameters ``fn`` has (None: no signature)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    n = sum(p.kind in kinds and p.default is p.empty for p in params)
    star = any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params)
    return max(n, 1) if star else n  # f(*args) takes images: not a factory


@functools.lru_cache(maxsize=8)
def load_score(spec: str, weights: str = "") -> Score:
    """``--score_with`` / ``--score_weights`` -> :class:`Score` (module docstring); a
    factory is called here, once per process (cached: the CLI's check before any
    compute and the sweep share it). Raises ``ValueError`` naming the flags."""
    if not spec:
        raise UserError(f"--score_weights={weights}: needs --score_with=module:factory")
    name, fn = load_score_fn(spec)
    flag = f"--score_with={spec}" + (f" --score_weights={weights}" if weights else "")
    n = _required(fn)
    if n == 0:
        try:
            fn = fn(weights) if weights else fn()
        except ValueError as e:
            raise UserError(f"{flag}: {e}") from e
        if not callable(fn):
            raise UserError(f"{flag}: the factory {name} returned {type(fn).__name__}, not a score")
        n = _required(fn)
        if n == 0:
            raise UserError(f"{flag}: the score {name} returned takes no images")
    elif weights:
        raise UserError(f"{flag}: --score_weights needs a factory hook (a function of no required "
                         f"argument that returns the score); {name} takes {n} argument(s)")  # fmt: skip
    if n is not None and n > 2:
        raise UserError(f"{flag}: a score takes (images) or (images, reference); {name} needs {n} arguments")
    return Score(name, fn, reference=n == 2)

