"""One DCGAN training step (Beyers & Loane sec. 4; pytorch/examples update order).

1. ``z ~ N(0, 1)`` from ``fold_in(rng, step)``; ``fake = G(z)`` (train-mode BN).
2. D step: ``BCE(D(real), 1) + BCE(D(fake), 0)`` (real and fake batches go
   through D separately, as in pytorch/examples), Adam.
3. G step: ``BCE(D'(fake), 1)`` with the updated D, backpropagated through the
   same forward pass of G, Adam.

Adam(lr 1e-4, b1 0.5, b2 0.999, eps 1e-8), batch 128 by default. The loop
around it is :mod:`dcgan.train`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from dcgan.model import (
    DCGANConfig,
    discriminate,
    generate,
    init_discriminator,
    init_generator,
    sample_latents,
)

State = dict[str, Any]


def model_config(config: ml_collections.ConfigDict) -> DCGANConfig:
    return DCGANConfig(**config.model.to_dict())


def make_optimizer(config) -> optax.GradientTransformation:
    return optax.adam(config.lr, b1=config.b1, b2=config.b2, eps=config.eps)


def init_state(config, key: jax.Array) -> State:
    """Fresh state: G and D from ``fold_in(key, 1/2)``, Adam states at zero."""
    mcfg = model_config(config)
    g = init_generator(mcfg, jax.random.fold_in(key, 1))
    d = init_discriminator(mcfg, jax.random.fold_in(key, 2))
    tx = make_optimizer(config)
    return {
        "step": jnp.zeros((), jnp.int32),
        "g": g,
        "d": d,
        "g_opt": tx.init(g["params"]),
        "d_opt": tx.init(d["params"]),
    }


def bce(logits, label):
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)))


def make_train_step(config):
    """Returns ``step(state, real, rng) -> (state, metrics)`` (not yet jitted).

    ``real: [B, res, res, nc]`` in [-1, 1]; ``rng`` is the run's root key.
    """
    mcfg = model_config(config)
    tx = make_optimizer(config)

    def step(state: State, real: jax.Array, rng: jax.Array):
        key = jax.random.fold_in(rng, state["step"])
        z = sample_latents(key, real.shape[0], mcfg.nz, config.latent_dist)
        g, d = state["g"], state["d"]

        def g_fwd(gp):
            return generate(mcfg, {"params": gp, "batch_stats": g["batch_stats"]}, z, train=True)

        fake, g_vjp, g_stats = jax.vjp(g_fwd, g["params"], has_aux=True)

        def d_loss_fn(dp):
            lr, st = discriminate(
                mcfg, {"params": dp, "batch_stats": d["batch_stats"]}, real, train=True
            )
            lf, st = discriminate(mcfg, {"params": dp, "batch_stats": st}, fake, train=True)
            return bce(lr, 1.0) + bce(lf, 0.0), (st, lr, lf)

        (d_loss, (d_stats, lr, lf)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
            d["params"]
        )
        upd, d_opt = tx.update(d_grads, state["d_opt"], d["params"])
        d_params = optax.apply_updates(d["params"], upd)

        def g_loss_fn(x):
            l2, st = discriminate(mcfg, {"params": d_params, "batch_stats": d_stats}, x, train=True)
            return bce(l2, 1.0), (st, l2)

        (g_loss, (d_stats, l2)), dx = jax.value_and_grad(g_loss_fn, has_aux=True)(fake)
        (g_grads,) = g_vjp(dx)
        upd, g_opt = tx.update(g_grads, state["g_opt"], g["params"])
        g_params = optax.apply_updates(g["params"], upd)

        new = {
            "step": state["step"] + 1,
            "g": {"params": g_params, "batch_stats": g_stats},
            "d": {"params": d_params, "batch_stats": d_stats},
            "g_opt": g_opt,
            "d_opt": d_opt,
        }
        metrics = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": jnp.mean(jax.nn.sigmoid(lr)),
            "d_fake": jnp.mean(jax.nn.sigmoid(lf)),
            "d_fake_after": jnp.mean(jax.nn.sigmoid(l2)),
            "d_grad_norm": optax.tree.norm(d_grads),
            "g_grad_norm": optax.tree.norm(g_grads),
        }
        return new, metrics

    return step
