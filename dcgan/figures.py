"""The seed's analyses of a trained DCGAN (Beyers & Loane sec. 4.3), each writing a labelled PNG.

* :func:`interpolation` -- walk through 12 latent points with wrap-around
  (Fig. 4): row ``i`` starts at ``G(z_i)`` and moves toward ``z_{i+1}``; the last
  row moves back to ``z_0``. ``mode="linear"`` (the paper) or ``"slerp"``
  (spherical, better suited to Gaussian latents).
* :func:`vector_arithmetic` -- ``G(z1 - z2 + z3)`` (Fig. 5), where ``z1``, ``z2``
  may each be the mean of 3 exemplars (Radford et al. sec. 6.3). The exemplars
  are picked automatically by a concept score over candidate samples
  (``"colorfulness"``, Hasler & Suesstrunk 2003, as in Fig. 5a; ``"texture"``,
  mean gradient magnitude, as in Fig. 5b) or given as latent seeds.
* :func:`project` -- deconvnet (Zeiler & Fergus 2014) projections of D's conv
  activations back to pixels, and guided backprop (Springenberg et al. 2015)
  (Fig. 6). Both are the vector-Jacobian product of one chosen activation with
  the network, with the nonlinearity's backward rule replaced:

  - deconvnet: the reconstruction signal ``r`` passes the layer's nonlinearity
    itself, ignoring the forward input: ReLU gives ``relu(r)`` (Z&F); for
    D's **LeakyReLU(0.2) we use ``leaky_relu(r, 0.2)``** -- the same rule (apply
    the layer's own rectifier to the signal).
  - guided backprop: ``r -> f'(x) * relu(r)``, i.e. the true LeakyReLU
    derivative (1 for ``x >= 0``, 0.2 below) times the positive part of the
    signal (for ReLU this is Springenberg's ``1[x>0] 1[r>0] r``).

  Convolutions are transposed (the deconvnet's "filtering" step); D has no
  pooling, so no switches are needed; BN runs in inference mode, a per-channel
  affine map whose transpose scales by ``scale / sqrt(var + eps)``.
  The chosen activation is the strongest unit of a channel (Z&F: "all other
  activations set to zero"), or the whole channel map (``select="map"``).

CLI: :mod:`dcgan.analysis`.
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from dcgan import hub
from dcgan.layers import leaky_relu
from dcgan.model import (
    DCGANConfig,
    Discriminator,
    generate_fn,
    sample_latents,
)
from neural_art.errors import UserError
from neural_art.images import save_grid


def generate_chunked(cfg, g, z, chunk: int = 64) -> np.ndarray:
    """G (inference mode) on ``z: [N, nz]`` in chunks; numpy ``[N, H, W, C]``."""
    f = generate_fn(cfg)
    z = jnp.asarray(z)
    return np.concatenate([np.asarray(f(g, z[i : i + chunk])) for i in range(0, len(z), chunk)])


# ------------------------------------------------------------------ interpolation


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
    """Spherical interpolation of ``a, b: [..., d]`` at ``t: [...]`` (linear if parallel)."""
    t = jnp.asarray(t)[..., None]
    na, nb = jnp.linalg.norm(a, axis=-1, keepdims=True), jnp.linalg.norm(b, axis=-1, keepdims=True)
    cos = jnp.clip(jnp.sum(a * b, -1, keepdims=True) / (na * nb + 1e-12), -1.0, 1.0)
    omega = jnp.arccos(cos)
    so = jnp.sin(omega)
    safe = so > 1e-6
    so = jnp.where(safe, so, 1.0)
    s = jnp.where(safe, jnp.sin((1 - t) * omega) / so, 1 - t)
    u = jnp.where(safe, jnp.sin(t * omega) / so, t)
    return s * a + u * b


def interpolation_latents(zs: jax.Array, steps: int, mode: str = "linear") -> jax.Array:
    """``zs: [n, d]`` -> ``[n, steps, d]``: row i goes from ``zs[i]`` (t = 0) toward
    ``zs[(i + 1) % n]`` (t = (steps-1)/steps), so consecutive rows join up and the
    last row wraps around to the first."""
    zs = jnp.asarray(zs)
    nxt = jnp.roll(zs, -1, axis=0)
    t = jnp.arange(steps) / steps
    a, b = zs[:, None, :], nxt[:, None, :]
    if mode == "linear":
        return a + t[None, :, None] * (b - a)
    if mode == "slerp":
        return slerp(jnp.broadcast_to(a, (len(zs), steps, zs.shape[1])), jnp.broadcast_to(b, (len(zs), steps, zs.shape[1])), jnp.broadcast_to(t, (len(zs), steps)))  # fmt: skip
    raise UserError(f"mode must be 'linear' or 'slerp', got {mode!r}")


def interpolation(
    cfg, g, out, *, key=None, n_points: int = 12, steps: int = 8, mode: str = "linear"
):
    """Fig. 4: writes a ``n_points x steps`` grid; returns ``(path, images)``."""
    key = jax.random.key(0) if key is None else key
    zs = sample_latents(key, n_points, cfg.nz)
    lat = interpolation_latents(zs, steps, mode)
    imgs = generate_chunked(cfg, g, lat.reshape(-1, cfg.nz)).reshape(n_points, steps, *(_img_shape(cfg)))
    rows = [f"z{i}->z{(i + 1) % n_points}" for i in range(n_points)]
    cols = [f"t={k}/{steps}" for k in range(steps)]
    path = save_grid(
        out, imgs, row_labels=rows, col_labels=cols, title=f"{mode} interpolation, wrap-around"
    )
    return path, imgs


def _img_shape(cfg):
    return (cfg.resolution, cfg.resolution, cfg.nc)


# ------------------------------------------------------------------ vector arithmetic


def colorfulness(images) -> np.ndarray:
    """Hasler & Suesstrunk (2003) colourfulness of ``[N, H, W, 3]`` images in [-1, 1]."""
    x = (np.asarray(images, np.float32) + 1) * 127.5
    if x.shape[-1] == 1:
        return np.zeros(len(x))
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    std = np.sqrt(rg.std((1, 2)) ** 2 + yb.std((1, 2)) ** 2)
    mean = np.sqrt(rg.mean((1, 2)) ** 2 + yb.mean((1, 2)) ** 2)
    return std + 0.3 * mean


def texture(images) -> np.ndarray:
    """Mean gradient magnitude of the grey image (high: detailed texture)."""
    x = np.asarray(images, np.float32).mean(-1)
    return np.abs(np.diff(x, axis=1)).mean((1, 2)) + np.abs(np.diff(x, axis=2)).mean((1, 2))


CONCEPTS = {"colorfulness": colorfulness, "texture": texture}


def pick_exemplars(
    cfg, g, key, *, concept: str = "colorfulness", n_candidates: int = 64, k: int = 3
):
    """Latents of the ``k`` samples scoring highest (``z1``) and lowest (``z2``) on ``concept``."""
    z = sample_latents(key, n_candidates, cfg.nz)
    score = CONCEPTS[concept](generate_chunked(cfg, g, z))
    order = np.argsort(-score)
    return z[order[:k]], z[order[-k:]]


def vector_arithmetic(cfg, g, out, z1, z2, z3, *, title: str = "G(z1 - z2 + z3)"):
    """Fig. 5: ``z1, z2: [k, nz]`` exemplars (averaged), ``z3: [m, nz]``.

    Rows: one per ``z3``; columns: ``G(mean z1)``, ``G(mean z2)``, ``G(z3)``,
    ``G(mean z1 - mean z2 + z3)``. Returns ``(path, images [m, 4, H, W, C])``.
    """
    z1, z2, z3 = (jnp.atleast_2d(jnp.asarray(v)) for v in (z1, z2, z3))
    m1, m2 = z1.mean(0), z2.mean(0)
    res = m1 - m2 + z3
    lat = jnp.concatenate([m1[None], m2[None], z3, res])
    im = generate_chunked(cfg, g, lat)
    m = len(z3)
    grid = np.stack([np.broadcast_to(im[0], (m, *im.shape[1:])), np.broadcast_to(im[1], (m, *im.shape[1:])),
                     im[2 : 2 + m], im[2 + m :]], axis=1)  # fmt: skip
    k1, k2 = len(z1), len(z2)
    cols = [
        f"G(z1) avg{k1}" if k1 > 1 else "G(z1)",
        f"G(z2) avg{k2}" if k2 > 1 else "G(z2)",
        "G(z3)",
        "G(z1-z2+z3)",
    ]
    path = save_grid(
        out, grid, col_labels=cols, row_labels=[f"z3 #{i}" for i in range(m)], title=title
    )
    return path, grid


# ------------------------------------------------------------------ deconvnet / guided backprop


def backward_rule(method: str, slope: float = 0.2):
    """LeakyReLU whose backward pass follows ``method`` (see module docstring)."""
    if method not in ("deconvnet", "guided", "gradient"):
        raise UserError(f"method must be deconvnet, guided or gradient, got {method!r}")

    @jax.custom_vjp
    def act(x):
        return leaky_relu(x, slope)

    def fwd(x):
        return leaky_relu(x, slope), x

    def bwd(x, r):
        if method == "deconvnet":
            return (leaky_relu(r, slope),)
        deriv = jnp.where(x >= 0, 1.0, slope)
        if method == "guided":
            return (deriv * jnp.maximum(r, 0.0),)
        return (deriv * r,)

    act.defvjp(fwd, bwd)
    return act


def project(
    cfg: DCGANConfig,
    d,
    image,
    layer: str,
    channels,
    *,
    method: str = "deconvnet",
    select: str = "max",
):
    """Projects activations of D's ``layer`` (``conv0``..) back to pixel space.

    Args:
      d: D's variables; ``image``: ``[H, W, C]`` in [-1, 1].
      channels: channel indices; one projection per channel.
      select: ``"max"`` keeps only the channel's strongest activation, ``"map"``
        keeps the whole channel map (everything else zero).

    Returns:
      ``[len(channels), H, W, C]`` reconstructions (unnormalised).
    """
    net = Discriminator(cfg, act=backward_rule(method, cfg.leak))
    x = jnp.asarray(image)[None]

    def feats(x):
        return net.apply(d, x, train=False)[1][layer]

    a, vjp = jax.vjp(feats, x)

    def one(c):
        m = a[0, :, :, c]
        if select == "max":
            idx = jnp.argmax(m)
            mask = jnp.zeros(m.size).at[idx].set(1.0).reshape(m.shape)
        else:
            mask = jnp.ones_like(m)
        cot = jnp.zeros_like(a).at[0, :, :, c].set(m * mask)
        return vjp(cot)[0][0]

    return jax.lax.map(one, jnp.asarray(channels))


def _normalise(r):
    """Per-image: centre at grey, scale by max |r| -> [-1, 1]."""
    r = np.asarray(r)
    s = np.abs(r).reshape(len(r), -1).max(1).reshape(-1, 1, 1, 1)
    return r / np.maximum(s, 1e-12)


def top_channels(cfg, d, image, layer: str, k: int = 16) -> np.ndarray:
    """The ``k`` channels of ``layer`` with the strongest activation on ``image``."""
    a = Discriminator(cfg).apply(d, jnp.asarray(image)[None], train=False)[1][layer][0]
    return np.argsort(-np.asarray(a.max((0, 1))))[:k]


def deconv_figure(
    cfg, d, image, out, *, method: str = "deconvnet", n_filters: int = 16, select: str = "max"
):
    """Fig. 6: one row per conv layer of D: the input image, then the projections of
    the ``n_filters`` most active channels. Returns ``(path, images [L, 1+n, H, W, C])``."""
    layers = [f"conv{i}" for i in range(cfg.n_up)]
    rows = []
    for layer in layers:
        ch = top_channels(cfg, d, image, layer, n_filters)
        rec = _normalise(project(cfg, d, image, layer, ch, method=method, select=select))
        if len(ch) < n_filters:
            rec = np.concatenate([rec, np.zeros((n_filters - len(ch), *rec.shape[1:]))])
        rows.append(np.concatenate([np.asarray(image)[None], rec]))
    grid = np.stack(rows)
    cols = ["input"] + [f"#{i + 1}" for i in range(n_filters)]
    title = f"{method}: D's conv activations projected to pixels ({select}; columns: top channels)"
    return save_grid(out, grid, col_labels=cols, row_labels=layers, title=title), grid


def example_image(cfg: DCGANConfig, g=None, *, seed: int = 0) -> np.ndarray:
    """A ``[res, res, nc]`` input for the deconvnet figure: a centre patch of
    scikit-image's astronaut prepared the seed's way if scikit-image is
    installed, else a sample of ``g``."""
    try:
        import skimage.data
        from PIL import Image

        from dcgan.input_pipeline import seed_size

        im = Image.fromarray(skimage.data.astronaut())
        w, h = seed_size(im.width, im.height, 128 * 128, cfg.resolution)
        a = np.asarray(im.resize((w, h), Image.Resampling.LANCZOS), np.float32) / 127.5 - 1
        r = cfg.resolution
        y, x = (h - r) // 2, (w - r) // 2
        a = a[y : y + r, x : x + r]
        return a.mean(-1, keepdims=True) if cfg.nc == 1 else a
    except ImportError:
        if g is None:
            raise
        return generate_chunked(cfg, g, sample_latents(jax.random.key(seed), 1, cfg.nz))[0]


ALL = ("interp", "slerp", "arith", "deconv", "guided")


def run_all(out_dir, *, weights=None, what=ALL, seed: int = 0,
            concept: str = "colorfulness") -> dict[str, pathlib.Path]:  # fmt: skip
    """Runs the chosen analyses on exported weights (default: the embedded model)."""
    what = ALL if "all" in what else tuple(what)
    unknown = sorted(set(what) - set(ALL))
    if unknown:
        raise UserError(f"unknown analyses {unknown} (choose from {', '.join(ALL)} or all)")
    if concept not in CONCEPTS:
        raise UserError(f"unknown concept {concept!r} ({', '.join(CONCEPTS)})")
    cfg, params = hub.load(weights)
    g, d = params["generator"], params["discriminator"]
    out_dir = pathlib.Path(out_dir)
    key = jax.random.key(seed)
    paths = {}
    if "interp" in what:
        paths["interp"] = interpolation(
            cfg, g, out_dir / "interpolation_linear.png", key=key, mode="linear"
        )[0]
    if "slerp" in what:
        paths["slerp"] = interpolation(
            cfg, g, out_dir / "interpolation_slerp.png", key=key, mode="slerp"
        )[0]
    if "arith" in what:
        z1, z2 = pick_exemplars(cfg, g, jax.random.fold_in(key, 1), concept=concept)
        z3 = sample_latents(jax.random.fold_in(key, 2), 4, cfg.nz)
        # z1 / z2: the 3 most / least {concept} of 64 samples, averaged (short: the grid is narrow)
        title = f"z1-z2+z3, {concept}, avg of 3"
        paths["arith"] = vector_arithmetic(cfg, g, out_dir / f"vector_arithmetic_{concept}.png", z1, z2, z3,
                                           title=title)[0]  # fmt: skip
    if ("deconv" in what or "guided" in what) and not d:
        raise UserError("these weights have no discriminator: deconvnet figures need D")
    image = example_image(cfg, g, seed=seed) if ("deconv" in what or "guided" in what) else None
    if "deconv" in what:
        paths["deconv"] = deconv_figure(
            cfg, d, image, out_dir / "deconvnet.png", method="deconvnet"
        )[0]
    if "guided" in what:
        paths["guided"] = deconv_figure(
            cfg, d, image, out_dir / "guided_backprop.png", method="guided"
        )[0]
    return paths
