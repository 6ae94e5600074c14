"""Perturbed-generator sweeps: many perturbed BigGAN-deep networks in one
compiled, sharded program (Janik's Figs. 3 and 4 at scale).

For each seed k the network θ_k = perturb(θ*, fold_in(root, k)) is built *on
device inside the compiled program* and generates the same latents ``z`` /
classes ``y`` as every other seed (the paper's rows). Seeds are processed in
chunks: one compiled program per (model, mode, chunk size), the seed axis
sharded over all devices of a 1-D mesh (``jax.make_mesh``; multi-host when
``jax.distributed`` is initialised), each device vmapping over its share of
the chunk. Memory is that of one chunk, whatever the number of seeds.

Seed k's images do not depend on what else is in the chunk, the chunk size,
or the device count: its key is ``fold_in(root, k)`` and every leaf's noise is
``fold_in(key, crc32(path))``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from biggan_jax import perturb
from biggan_jax.configs import BigGANConfig
from biggan_jax.layers import truncation_stat_selector
from biggan_jax.model import BigGANDeep, _cast
from neural_art.perturb import match, trainable
from neural_art.ranges import parse_ranges

MODES = ("multiplicative", "replace")
AXIS = "seeds"


@dataclasses.dataclass(frozen=True)
class Perturbation:
    """Which random modification each seed's network gets.

    Attributes:
      mode: ``"multiplicative"`` (eq. 2) or ``"replace"`` (eq. 3).
      alpha: eq. (2)'s scale (paper: 0.35); must be >= 0.
      block: eq. (3)'s block, ``B1``..``B13`` (paper: ``B2``).
      effective: eq. (2) on the normalised weights (see :func:`perturb.multiplicative`).
      include: extra glob patterns added to eq. (2)'s selection, e.g.
        ``("batch_stats/*",)`` to perturb the standing statistics too.
    """

    mode: str = "multiplicative"
    alpha: float = 0.35
    block: str = "B2"
    effective: bool = False
    include: tuple[str, ...] = ()

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose one of {MODES}")
        if not (
            isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and self.alpha >= 0
        ):
            raise ValueError(f"alpha must be a finite number >= 0, got {self.alpha!r}")

    def apply(self, params, key: jax.Array):
        """θ = this perturbation of ``params`` with ``key`` (pure, jit/vmap friendly)."""
        if self.mode == "multiplicative":
            where = None
            if self.include:
                base = trainable(params)
                extra = match(*self.include)
                where = lambda p, x: base(p, x) or extra(p, x)
            return perturb.multiplicative(
                params, key, alpha=self.alpha, where=where, effective=self.effective
            )
        return perturb.replace_block(params, key, self.block)


def parse_seeds(spec: str | int | Sequence[int]) -> list[int]:
    """``"0-10,15,20-22"`` -> ``[0, 1, ..., 10, 15, 20, 21, 22]`` (inclusive, as in
    the paper's "seeds 0-10"; :func:`neural_art.ranges.parse_ranges`)."""
    return parse_ranges(spec, what="seed")


def seed_mesh(devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
    """A 1-D mesh over all devices (of all hosts) with axis ``"seeds"``."""
    devices = list(devices) if devices is not None else jax.devices()
    return jax.make_mesh((len(devices),), (AXIS,), devices=devices)


def bytes_per_seed(cfg: BigGANConfig, n_latents: int, dtype=jnp.float32) -> int:
    """Rough device bytes one seed needs in flight: its weights (copy + noise, fp32)
    plus activations of its images (the largest resolution's few live tensors)."""
    n_params = sum(
        math.prod(s.shape)
        for s in jax.tree.leaves(
            jax.eval_shape(
                lambda: BigGANDeep(cfg).init(
                    jax.random.key(0),
                    jnp.zeros((1, cfg.z_dim)),
                    jnp.zeros((1, cfg.num_classes)),
                    truncation_stat_selector(1.0),
                )
            )
        )
    )
    act = 6 * cfg.output_dim**2 * cfg.channel_width * jnp.dtype(dtype).itemsize
    return 3 * 4 * n_params + n_latents * act


DEFAULT_BUDGET = (
    12 << 30
)  # bytes per device for one chunk (the sweep's peak-memory target is 16 GB)


def auto_chunk_per_device(
    cfg: BigGANConfig,
    n_latents: int,
    dtype=jnp.float32,
    fraction: float = 0.5,
    budget: int = DEFAULT_BUDGET,
) -> int:
    """Seeds per device per chunk that fit in ``min(budget, fraction · device memory)``."""
    dev = jax.local_devices()[0]
    limit = None
    try:
        stats = dev.memory_stats()
        limit = stats.get("bytes_limit") if stats else None
    except Exception:  # backends without memory_stats
        limit = None
    if limit is None:  # CPU: share the host's free memory between the local devices
        try:
            import psutil

            limit = psutil.virtual_memory().available / max(1, jax.local_device_count())
        except ImportError:
            limit = 4 << 30
    return max(1, int(min(budget, fraction * limit) // bytes_per_seed(cfg, n_latents, dtype)))


@functools.lru_cache(maxsize=16)
def _program(cfg: BigGANConfig, pert: Perturbation, dtype: str, mesh: jax.sharding.Mesh):
    dt = jnp.dtype(dtype)

    def one(params, root, seed, z, y, sel):
        theta = pert.apply(params, jax.random.fold_in(root, seed))
        return BigGANDeep(cfg, dt).apply(_cast(theta, dt), z, y, sel).astype(jnp.float32)

    def local(params, root, seeds, z, y, sel):  # this device's share of the chunk
        return jax.vmap(one, in_axes=(None, None, 0, None, None, None))(
            params, root, seeds, z, y, sel
        )

    sharded = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(P(), P(), P(AXIS), P(), P(), P()),
        out_specs=P(AXIS),
        check_vma=False,
    )
    return jax.jit(sharded)


def sweep_chunks(
    cfg: BigGANConfig,
    params,
    seeds: Sequence[int],
    z,
    y,
    truncation: float,
    *,
    root: jax.Array,
    perturbation: Perturbation = Perturbation(),
    dtype: str = "float32",
    chunk_size: int | None = None,
    mesh: jax.sharding.Mesh | None = None,
    hf_compat: bool = False,
) -> Iterator[tuple[list[int], np.ndarray]]:
    """Yields ``(seeds, images [n, L, H, W, 3])`` per chunk, for the seeds whose
    images this process holds (all of them on one host).

    Args:
      seeds: perturbation seeds (network k uses ``fold_in(root, k)``).
      z: ``[L, z_dim]`` latents, y: ``[L, num_classes]``: the same for every seed.
      chunk_size: seeds per chunk over all devices (rounded up to a multiple of
        the device count); default: as many as fit in half of device memory.
      dtype: ``"float32"`` or ``"bfloat16"`` compute.

    The next chunk is dispatched before the current one is copied to the host,
    so device work overlaps the caller's image writing.
    """
    mesh = mesh or seed_mesh()
    n_dev = mesh.devices.size
    z = jnp.asarray(z, jnp.float32)
    y = jnp.asarray(y, jnp.float32)
    if z.ndim != 2 or y.ndim != 2 or z.shape[0] != y.shape[0]:
        raise ValueError(
            f"z [L, {cfg.z_dim}] and y [L, {cfg.num_classes}] must pair up; got {z.shape}, {y.shape}"
        )
    if perturbation.mode == "replace":
        perturb.check_block(params, perturbation.block)
    per_dev = (
        -(-chunk_size // n_dev) if chunk_size else auto_chunk_per_device(cfg, z.shape[0], dtype)
    )
    per_dev = min(per_dev, -(-len(seeds) // n_dev))
    chunk = per_dev * n_dev
    sel = tuple(
        jnp.asarray(x)
        for x in truncation_stat_selector(truncation, cfg.n_stats, hf_compat=hf_compat)
    )
    prog = _program(cfg, perturbation, str(jnp.dtype(dtype)), mesh)
    repl = NamedSharding(mesh, P())
    params = jax.device_put(params, repl)
    z, y = jax.device_put((z, y), repl)
    sel = jax.device_put(sel, repl)
    seed_sharding = NamedSharding(mesh, P(AXIS))

    def launch(chunk_seeds):
        padded = np.asarray(
            list(chunk_seeds) + [chunk_seeds[-1]] * (chunk - len(chunk_seeds)), np.int32
        )
        arr = jax.make_array_from_callback(padded.shape, seed_sharding, lambda idx: padded[idx])
        return chunk_seeds, padded, prog(params, root, arr, z, y, sel)

    chunks = [list(seeds[i : i + chunk]) for i in range(0, len(seeds), chunk)]
    pending = launch(chunks[0]) if chunks else None
    for i in range(len(chunks)):
        chunk_seeds, padded, out = pending
        pending = launch(chunks[i + 1]) if i + 1 < len(chunks) else None
        got_seeds, got_imgs = [], []
        for shard in sorted(out.addressable_shards, key=lambda s: s.index[0].start or 0):
            sl = shard.index[0]
            data = np.asarray(shard.data)
            for j, s in enumerate(range(sl.start or 0, sl.stop or chunk)):
                if s < len(chunk_seeds) and (s == 0 or padded[s] not in got_seeds):
                    got_seeds.append(int(padded[s]))
                    got_imgs.append(data[j])
        yield got_seeds, np.stack(got_imgs) if got_imgs else np.zeros((0,), np.float32)


def sweep(cfg: BigGANConfig, params, seeds, z, y, truncation: float, **kw) -> np.ndarray:
    """All of :func:`sweep_chunks`' images in seed order: ``[S, L, H, W, 3]``
    float32 in [-1, 1] (single host)."""
    seeds = parse_seeds(seeds) if isinstance(seeds, str) else list(seeds)
    by_seed = {}
    for ss, imgs in sweep_chunks(cfg, params, seeds, z, y, truncation, **kw):
        by_seed.update(zip(ss, imgs, strict=True))
    return np.stack([by_seed[s] for s in seeds])
