"""Despraz et al.'s denoising autoencoder (their Fig. 3): trains the decoder G
used by the pretrained mode. ``python -m featvis.train_autoencoder --help``.

Encoder (autoencoder.ipynb): five blocks of two 3x3 *valid* convs (ReLU,
then BN) + 2x2 max-pool, widths 32/64/128/256/512 (224 -> 3x3x512), then
Dense 2048 (ReLU) and Dense 3200 (linear) = the feature vector. Decoder:
:data:`featvis.despraz.DECODER`. Loss: mean squared error between the clean
image and the reconstruction of the noisy one, images in VGG-Caffe pixel
units (0..255 minus the mean; see :func:`featvis.despraz.to_rgb01`).
Their notebook trains with Adadelta (Keras 1: lr 1.0, ρ 0.95, ε 1e-8) and,
despite the paper's "Gaussian noise was added", feeds clean images; we add
``noise_sd`` (default 20 Caffe units) as the paper says. Data: any
``tfds.ImageFolder`` tree (``root/<split>/<label>/*.jpg``), e.g. ImageNet's
dog synsets; images are resized to 224x224.
"""

from __future__ import annotations

import functools
import math
import pathlib
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

from featvis import despraz as D
from neural_art.atomic import atomic_path
from neural_art.errors import UserError, check_regular_file
from neural_art.pooling import max_pool_2x2

ENC_WIDTHS = (32, 64, 128, 256, 512)


def init_encoder(key: jax.Array, *, width: float = 1.0) -> dict:
    params, cin = {}, 3
    keys = jax.random.split(key, 12)
    i = 0
    for w in ENC_WIDTHS:
        cout = max(1, int(round(w * width)))
        for _ in range(2):
            params[f"conv{i}"] = {
                "kernel": D.glorot_uniform(keys[i], (3, 3, cin, cout), cin * 9, cout * 9),
                "bias": jnp.zeros((cout,)),
            }
            params[f"bn{i}"] = {"scale": jnp.ones((cout,)), "bias": jnp.zeros((cout,))}
            cin, i = cout, i + 1
    hid = max(1, int(round(2048 * width)))
    flat = cin * 3 * 3
    params["fc0"] = {
        "kernel": D.glorot_uniform(keys[10], (flat, hid), flat, hid),
        "bias": jnp.zeros((hid,)),
    }
    params["fc1"] = {
        "kernel": D.glorot_uniform(keys[11], (hid, D.N_FEATURES), hid, D.N_FEATURES),
        "bias": jnp.zeros((D.N_FEATURES,)),
    }
    return params


def apply_encoder(params: dict, x: jax.Array) -> jax.Array:
    """``x``: ``[B, 224, 224, 3]`` Caffe units -> ``[B, 3200]``."""
    conv = D.Conv(0, 3, "VALID")
    for i in range(10):
        x = D.batch_norm(D.conv(x, params[f"conv{i}"], conv), params[f"bn{i}"])
        if i % 2 == 1:
            x = max_pool_2x2(x)
    x = x.reshape(x.shape[0], -1)
    x = jax.nn.relu(x @ params["fc0"]["kernel"] + params["fc0"]["bias"])
    return x @ params["fc1"]["kernel"] + params["fc1"]["bias"]


def init(key: jax.Array, *, width: float = 1.0) -> dict:
    ke, kd = jax.random.split(key)
    return {
        "encoder": init_encoder(ke, width=width),
        "decoder": D.init_generator(kd, D.DECODER, width=width),
    }


def loss_fn(params: dict, clean: jax.Array, key: jax.Array, noise_sd: float) -> jax.Array:
    noisy = clean + noise_sd * jax.random.normal(key, clean.shape)
    rec = D.apply_generator(params["decoder"], apply_encoder(params["encoder"], noisy), D.DECODER)
    return jnp.mean(jnp.square(rec - clean))


@functools.cache
def optimizer(learning_rate: float = 1.0) -> optax.GradientTransformation:
    """Keras-1 ``adadelta`` defaults (lr 1.0, ρ 0.95, ε 1e-8); one object per rate."""
    return optax.adadelta(learning_rate, rho=0.95, eps=1e-8)


@functools.partial(jax.jit, static_argnames=("opt", "noise_sd"))
def train_step(params, opt_state, images, key, step, *, opt, noise_sd: float):
    """Step ``step`` (traced) on a batch, noise key ``fold_in(key, step)``:
    ``(params, opt_state, loss)``. One compiled program for every step."""
    loss, g = jax.value_and_grad(loss_fn)(params, images, jax.random.fold_in(key, step), noise_sd)
    u, opt_state = opt.update(g, opt_state, params)
    return optax.apply_updates(params, u), opt_state, loss


def image_batches(root: str, split: str, batch: int, *, seed: int = 0) -> Iterator[np.ndarray]:
    """Endless ``[batch, 224, 224, 3]`` float32 Caffe-unit batches.

    ``root``: a ``tfds.ImageFolder`` directory (``root/<split>/<label>/*.jpg``),
    or else a registered tfds dataset name with an ``image`` feature (e.g.
    ``stanford_dogs``; must be downloaded/prepared already or reachable)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    if pathlib.Path(root).is_dir():
        ds = tfds.ImageFolder(root).as_dataset(split=split, shuffle_files=True)
    else:
        ds = tfds.load(root, split=split, shuffle_files=True)
    mean = tf.constant(D.MEAN_RGB)

    def prep(ex):
        img = tf.image.resize(tf.cast(ex["image"], tf.float32), (224, 224))
        return img - mean

    ds = ds.map(prep).repeat().shuffle(256, seed=seed).batch(batch, drop_remainder=True)
    return iter(tfds.as_numpy(ds))


def _check_finite(losses: list, first_step: int) -> list[float]:
    """Reads a window of device losses back (one sync); raises at the first non-finite."""
    vals = np.asarray(jnp.stack(losses)).tolist()
    for i, v in enumerate(vals):
        if not math.isfinite(v):
            raise FloatingPointError(f"non-finite autoencoder loss at step {first_step + i}")
    return vals


def train(
    root: str,
    *,
    split: str = "train",
    steps: int = 1000,
    batch: int = 24,
    noise_sd: float = 20.0,
    width: float = 1.0,
    learning_rate: float = 1.0,
    seed: int = 0,
    log_every: int = 10,
    progress=None,
) -> tuple[dict, list[float]]:
    """Trains the autoencoder; returns ``(params, losses)``. Step ``s`` uses ``fold_in(key, s)``.

    Losses stay on the device and are read back (and checked finite) every
    ``log_every`` steps, when ``progress(step, loss)`` is called."""
    k_init, key = jax.random.split(jax.random.key(seed))
    params = init(k_init, width=width)
    opt = optimizer(learning_rate)
    state = opt.init(params)
    data = image_batches(root, split, batch, seed=seed)
    losses, window, nxt = [], [], jax.device_put(next(data))
    for s in range(steps):
        x = nxt
        params, state, loss = train_step(params, state, x, key, np.int32(s), opt=opt,
                                         noise_sd=float(noise_sd))  # fmt: skip
        if s < steps - 1:
            nxt = jax.device_put(next(data))  # the next batch's transfer overlaps this step
        window.append(loss)
        if s % log_every == 0 or s == steps - 1:
            losses += _check_finite(window, s + 1 - len(window))
            window = []
            if progress is not None:
                progress(s, losses[-1])
    return params, losses


def save_decoder(path: str | pathlib.Path, decoder: dict) -> pathlib.Path:
    """Decoder params as a flat ``.npz`` (keys ``conv0/kernel`` ...)."""
    path = pathlib.Path(path)
    flat = traverse_util.flatten_dict(jax.device_get(decoder), sep="/")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in flat.items()})
    return path


def load_decoder(path: str | pathlib.Path) -> dict:
    check_regular_file(path, "decoder .npz file")
    with np.load(path) as z:
        flat = {k: jnp.asarray(z[k]) for k in z.files}
    dec = traverse_util.unflatten_dict(flat, sep="/")
    n = len(dec) // 2
    if (
        n != len([x for x in D.DECODER if x != D.UP])
        or dec[f"conv{n - 1}"]["kernel"].shape[-1] != 3
    ):
        raise UserError(f"{path}: not a featvis.despraz.DECODER parameter file")
    return dec
