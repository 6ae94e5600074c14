"""Latent sampling with explicit keys."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def truncated_noise(key: jax.Array, n: int, truncation: float = 1.0, dim: int = 128) -> jax.Array:
    """``[n, dim]`` latents: ``truncation · TruncatedNormal(-2, 2)``.

    The same distribution as the reference's ``truncated_noise_sample`` (scipy
    ``truncnorm(-2, 2)`` times the truncation), drawn from a JAX key.
    """
    return truncation * jax.random.truncated_normal(key, -2.0, 2.0, (n, dim), jnp.float32)
