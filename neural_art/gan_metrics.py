"""Sample-quality statistics over feature vectors: FID and KID, pure JAX.

* Fréchet distance (Heusel et al. 2017, arXiv:1706.08500, eq. 6) between
  Gaussians fitted to two feature sets:
  ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``. ``Tr((S1 S2)^(1/2))`` is
  computed as the sum of the square roots of the eigenvalues of the symmetric
  ``S1^(1/2) S2 S1^(1/2)`` (same spectrum as ``S1 S2``), two ``eigh`` calls,
  so it runs on device inside a jitted program (pytorch-fid uses SciPy's
  ``sqrtm`` of ``S1 S2`` on the host; both agree to <= 1e-6 relative in float64,
  tests/test_fid.py). From features with fewer rows than dimensions
  (:func:`fid_from_features`) the same trace is one small SVD.
* Kernel Inception Distance (Bińkowski et al. 2018, arXiv:1801.01401, sec. 3):
  the unbiased estimator of MMD^2 with the polynomial kernel
  ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets of both sets
  (the subsets' indices come from an explicit key).

Features are ``[N, D]``; covariances are the unbiased ones (``np.cov``).

"FID" and "KID" are these statistics on the FID Inception's pool3 features
only. On any other features (:mod:`dcgan.evaluate`'s VGG stand-in) the same
functions compute a Fréchet distance and a polynomial-kernel MMD^2, and callers
name them so (``frechet_<features>``, ``mmd_<features>``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_HI = jax.lax.Precision.HIGHEST


def gaussian_stats(feats: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``feats [N, D]`` -> ``(mu [D], sigma [D, D])`` (unbiased covariance, N >= 2)."""
    mu = jnp.mean(feats, axis=0)
    c = feats - mu
    return mu, jnp.matmul(c.T, c, precision=_HI) / (feats.shape[0] - 1)


def _sqrt_psd(s: jax.Array) -> jax.Array:
    w, v = jnp.linalg.eigh(s)
    return jnp.matmul(v * jnp.sqrt(jnp.clip(w, 0.0)), v.T, precision=_HI)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> jax.Array:
    """Eq. 6 of Heusel et al. for two Gaussians (scalar; see the module doc)."""
    r = _sqrt_psd(sigma1)
    m = jnp.matmul(jnp.matmul(r, sigma2, precision=_HI), r, precision=_HI)
    tr_covmean = jnp.sum(jnp.sqrt(jnp.clip(jnp.linalg.eigvalsh((m + m.T) / 2), 0.0)))
    d = mu1 - mu2
    return jnp.dot(d, d) + jnp.trace(sigma1) + jnp.trace(sigma2) - 2.0 * tr_covmean


def fid_from_features(real: jax.Array, fake: jax.Array) -> jax.Array:
    """Eq. 6 from two feature sets ``[n1, D]``, ``[n2, D]``.

    With fewer rows than dimensions (an in-training evaluation: 256 images,
    D = 2048) the covariances have rank < D and ``Tr((S1 S2)^(1/2))`` is exactly
    the nuclear norm of ``A1 A2^T`` over ``sqrt((n1 - 1)(n2 - 1))`` (``A``: the
    centred features; the nonzero eigenvalues of ``S1 S2`` are the squared
    singular values of ``A1 A2^T`` scaled so): an ``[n1, n2]`` SVD instead of two
    ``[D, D]`` eigendecompositions. Otherwise :func:`frechet_distance`."""
    n1, n2, d = real.shape[0], fake.shape[0], real.shape[1]
    if min(n1, n2) >= d:
        return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))
    return _fid_low_rank(real, fake)


def _fid_low_rank(real: jax.Array, fake: jax.Array) -> jax.Array:
    n1, n2 = real.shape[0], fake.shape[0]
    mu1, mu2 = jnp.mean(real, 0), jnp.mean(fake, 0)
    a1, a2 = real - mu1, fake - mu2
    c = jnp.matmul(a1, a2.T, precision=_HI)
    tr_covmean = jnp.sum(jnp.linalg.svd(c, compute_uv=False)) / jnp.sqrt((n1 - 1.0) * (n2 - 1.0))
    tr1, tr2 = jnp.sum(a1 * a1) / (n1 - 1), jnp.sum(a2 * a2) / (n2 - 1)
    d = mu1 - mu2
    return jnp.dot(d, d) + tr1 + tr2 - 2.0 * tr_covmean


def polynomial_mmd2(x: jax.Array, y: jax.Array) -> jax.Array:
    """Unbiased MMD^2 between ``x [m, D]`` and ``y [n, D]``, kernel ``(x.y/D + 1)^3``."""
    d = x.shape[1]
    k = lambda a, b: (jnp.matmul(a, b.T, precision=_HI) / d + 1.0) ** 3
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    m, n = x.shape[0], y.shape[0]
    sxx = (jnp.sum(kxx) - jnp.trace(kxx)) / (m * (m - 1))
    syy = (jnp.sum(kyy) - jnp.trace(kyy)) / (n * (n - 1))
    return sxx + syy - 2.0 * jnp.mean(kxy)


def kid_subsets(key: jax.Array, n_real: int, n_fake: int, num_subsets: int,
                subset_size: int) -> tuple[jax.Array, jax.Array]:  # fmt: skip
    """Indices ``([S, m] into real, [S, m] into fake)``, each subset without replacement."""
    kr, kf = jax.random.split(key)
    pick = lambda k, n: jax.vmap(lambda kk: jax.random.permutation(kk, n)[:subset_size])(
        jax.random.split(k, num_subsets)
    )
    return pick(kr, n_real), pick(kf, n_fake)


def kid(real: jax.Array, fake: jax.Array, key: jax.Array, *, num_subsets: int = 100,
        subset_size: int = 1000) -> tuple[jax.Array, jax.Array]:  # fmt: skip
    """KID: mean and standard deviation over ``num_subsets`` subsets of
    ``min(subset_size, N_real, N_fake)`` rows of each set."""
    m = min(subset_size, real.shape[0], fake.shape[0])
    ir, i_f = kid_subsets(key, real.shape[0], fake.shape[0], num_subsets, m)
    vals = jax.lax.map(lambda ij: polynomial_mmd2(real[ij[0]], fake[ij[1]]), (ir, i_f))
    return jnp.mean(vals), jnp.std(vals)
