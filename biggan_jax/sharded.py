"""Perturbed-generator sweeps: many perturbed BigGAN-deep networks in one
compiled, sharded program (Janik's Figs. 3 and 4 at scale).

For each seed k the network θ_k = perturb(θ*, fold_in(root, k)) is built *on
device inside the compiled program* and generates the same latents ``z`` /
classes ``y`` as every other seed (the paper's rows). Seeds are processed in
chunks, the seed axis sharded over all devices of a 1-D mesh
(``jax.make_mesh``; multi-host when ``jax.distributed`` is initialised).

How a device walks its share of a chunk is the *strategy* (:class:`SweepPlan`):

* ``"map"``: ``lax.map`` over seeds, one seed's weights live at a time, all its
  latents batched (group 1);
* ``"vmap"``: all of the device's seeds vmapped at once (one group);
* ``"hybrid"``: ``lax.map`` over groups of ``group`` seeds, vmapped within.

The group width is fixed by the settings (never by how many seeds remain or by
free memory) and the last group is padded, so seed k's images do not depend on
the chunk size, on what else is in the chunk, or on the device count: every seed
is computed by the same compiled group body. Its key is ``fold_in(root, k)``
(noise: :func:`neural_art.perturb.normals`). The chunk size comes from the
compiled program's own ``memory_analysis()`` against a stated budget.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from biggan_jax import multihost
from biggan_jax.bn import with_bn
from biggan_jax.configs import BigGANConfig
from biggan_jax.layers import truncation_stat_selector
from biggan_jax.model import BigGANDeep, _cast
from biggan_jax.perturb import MODES, SEEDS, Networks, Perturbation
from biggan_jax.perturb import networks as _networks
from neural_art import capacity, lineage
from neural_art.perturb import check_block
from neural_art.errors import UserError
from neural_art.ranges import parse_ranges

__all__ = ["MODES", "Perturbation", "ProgramCache", "SweepPlan", "sweep", "sweep_chunks", "sweep_plan"]

AXIS = "seeds"


def parse_seeds(spec: str | int | Sequence[int]) -> list[int]:
    """``"0-10,15,20-22"`` -> ``[0, 1, ..., 10, 15, 20, 21, 22]`` (inclusive, as in
    the paper's "seeds 0-10"; :func:`neural_art.ranges.parse_ranges`)."""
    return parse_ranges(spec, what="seed")


def seed_mesh(devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
    """A 1-D mesh over all devices (of all hosts) with axis ``"seeds"``."""
    devices = list(devices) if devices is not None else jax.devices()
    return jax.make_mesh((len(devices),), (AXIS,), devices=devices)


STRATEGIES = ("map", "vmap", "hybrid")
DEFAULT_GROUP = 8  # seeds vmapped together by "hybrid" (and "vmap" when no chunk is given)
SEEDS_PER_DEVICE = 16  # the chunk tried first, per device, before the memory check
ROWS_POINTS = (8, 16)  # rows_fit's measured sizes: past the weights-copy plateau


def default_strategy(platform: str, n_latents: int) -> str:
    """The measured choice (BENCHMARKS.md, issue 10). CPU: ``"map"`` at any number of
    latents (per-seed kernels under vmap become grouped convolutions, slower than
    one seed at a time with its latents batched). GPU/TPU: ``"hybrid"`` below 8
    latents per seed (a batch of 1-4 images leaves the device idle; PERF_NOTES: a
    loop over 64 seeds x 1 latent ran at 33 img/s, vmap at 670), else ``"map"``."""
    if platform == "cpu":
        return "map"
    return "hybrid" if n_latents < 8 else "map"


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """How a sweep runs, fixed by the settings (record it in a manifest: seed k's
    pixels depend on ``strategy`` and ``group``, not on ``chunk`` or ``devices``).

    Attributes:
      strategy: ``"map"``, ``"vmap"`` or ``"hybrid"`` (module docstring).
      group: seeds vmapped together (1 for ``"map"``).
      chunk: seeds per chunk over all devices (a multiple of ``devices · group``).
      devices: devices the seed axis is sharded over.
      peak_bytes: the compiled chunk program's own peak per device
        (``memory_analysis``: arguments + outputs + temporaries - aliased).
      budget: the bytes per device the chunk was sized to fit.
    """

    strategy: str
    group: int
    chunk: int
    devices: int
    peak_bytes: int = 0
    budget: int = 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def default_budget(device: jax.Device) -> int:
    """Bytes per device one chunk may use: half the device's memory, at most 12 GiB;
    on CPU (no memory stats) a fixed 2 GiB, not the free memory of the moment."""
    try:
        limit = (device.memory_stats() or {}).get("bytes_limit")
    except Exception:  # backends without memory_stats
        limit = None
    return min(12 << 30, limit // 2) if limit else 2 << 30


def peak_bytes(compiled) -> int:
    """A compiled program's peak device bytes from its own ``memory_analysis()``
    (:func:`neural_art.capacity.peak_bytes`)."""
    return capacity.peak_bytes(compiled)


def _seed_fn(cfg, pert, dt, bn_batch=None, nets: Networks = SEEDS):
    def one(params, root, net, z, y, sel):
        theta = nets.theta(pert, params, root, net)
        if pert.bn == "recompute":
            theta = with_bn("recompute", cfg, theta, *bn_batch, sel)
        return BigGANDeep(cfg, dt).apply(_cast(theta, dt), z, y, sel).astype(jnp.float32)

    return one


def _local(one, group: int):
    def local(params, root, seeds, z, y, sel):  # this device's share: [n · group] seeds
        def body(g):
            if group == 1:
                return one(params, root, jax.tree.map(lambda a: a[0], g), z, y, sel)[None]
            return jax.vmap(one, in_axes=(None, None, 0, None, None, None))(
                params, root, g, z, y, sel
            )

        out = jax.lax.map(body, jax.tree.map(lambda a: a.reshape(-1, group, *a.shape[1:]), seeds))
        return out.reshape(-1, *out.shape[2:])

    return local


class ProgramCache:
    """Compiled programs by their settings, at most ``maxsize`` of them: the least
    recently used is dropped when a new one would exceed it (a long-lived process
    sweeping many settings holds a bounded number of executables)."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._programs: collections.OrderedDict = collections.OrderedDict()

    def get(self, key: Hashable, build: Callable[[], Any]):
        """The program under ``key``, built by ``build()`` the first time."""
        if key in self._programs:
            self._programs.move_to_end(key)
            return self._programs[key]
        program = self._programs[key] = build()
        while len(self._programs) > self.maxsize:
            self._programs.popitem(last=False)
        return program

    def __len__(self) -> int:
        return len(self._programs)

    def clear(self) -> None:
        self._programs.clear()


# plan_sweep compiles at most log2(SEEDS_PER_DEVICE) + 1 = 5 sizes of one setting, rows_fit 2 more
_COMPILED = ProgramCache(maxsize=8)


class DeviceArgs(NamedTuple):
    """A chunk program's arguments other than the seeds, replicated over the mesh."""

    params: Any
    root: jax.Array
    z: jax.Array  # [L, z_dim]
    y: jax.Array  # [L, num_classes]
    sel: tuple  # the truncation's BN-statistics selector


def bn_key(bn_batch) -> str:
    """A hashable digest of ``bn_batch`` (``(z_bn, y_bn)`` or None) for the program cache."""
    if bn_batch is None:
        return ""
    return hashlib.sha256(b"".join(np.asarray(a, np.float32).tobytes() for a in bn_batch)).hexdigest()


def _abstract(tree) -> tuple:
    """A hashable description of a pytree's structure, shapes and dtypes."""
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, tuple((jnp.shape(x), str(jnp.result_type(x))) for x in leaves)


def _build_chunk(cfg, pert, dtype, mesh, group: int, chunk: int, args: DeviceArgs, bn_batch=None,
                 nets: Networks = SEEDS):  # fmt: skip
    """Compiles the chunk program (uncached; ``args`` may be abstract)."""
    bn = None if bn_batch is None else tuple(jnp.asarray(a, jnp.float32) for a in bn_batch)
    sharded = jax.shard_map(
        _local(_seed_fn(cfg, pert, jnp.dtype(dtype), bn, nets), group),
        mesh=mesh,
        in_specs=(P(), P(), P(AXIS), P(), P(), P()),
        out_specs=P(AXIS),
        check_vma=False,
    )
    return jax.jit(sharded).lower(args.params, args.root, nets.abstract(chunk, NamedSharding(mesh, P(AXIS))), args.z, args.y,
                                  args.sel).compile()  # fmt: skip


def compiled_chunk(cfg, pert, dtype, mesh, group: int, chunk: int, args: DeviceArgs, bn_batch=None,
                   nets: Networks = SEEDS):  # fmt: skip
    """The compiled chunk program for these settings and argument shapes (cached in
    a bounded :class:`ProgramCache`: a second identical sweep compiles nothing).
    ``bn_batch``: ``(z_bn, y_bn)`` for ``pert.bn == "recompute"`` (constants of the
    program)."""
    if pert.bn == "recompute" and bn_batch is None:
        raise UserError("bn='recompute' needs a bn_batch (z_bn, y_bn)")
    sig = (cfg, pert, str(dtype), mesh, group, chunk, _abstract(args.params), jnp.shape(args.z),
           bn_key(bn_batch) if pert.bn == "recompute" else "", nets)  # fmt: skip

    return _COMPILED.get(sig, lambda: _build_chunk(cfg, pert, dtype, mesh, group, chunk, args, bn_batch, nets))


def _grouping(mesh, rows: int, n_seeds: int, strategy, group, chunk_size) -> tuple[str, int, int, int]:
    """``(strategy, group, groups, smallest)``: the plan's first chunk is ``groups``
    groups per device, its smallest ``smallest`` (a given ``chunk_size`` is fixed)."""
    n_dev = mesh.devices.size
    strategy = strategy or default_strategy(mesh.devices.flat[0].platform, rows)
    if strategy not in STRATEGIES:
        raise UserError(f"unknown strategy {strategy!r}; choose one of {STRATEGIES}")
    if chunk_size is not None and chunk_size < 1:
        raise UserError(f"chunk_size must be >= 1, got {chunk_size}")
    need = -(-n_seeds // n_dev)  # seeds per device the whole sweep needs
    if strategy == "map":
        group = 1
    elif strategy == "vmap":
        group = group or (-(-chunk_size // n_dev) if chunk_size else DEFAULT_GROUP)
    else:
        group = group or DEFAULT_GROUP
    if strategy == "vmap":
        groups = 1
    elif chunk_size:
        groups = -(-chunk_size // (n_dev * group))
    else:
        groups = max(1, min(SEEDS_PER_DEVICE // group, -(-need // group)))
    return strategy, group, groups, groups if chunk_size else 1


def plan_sweep(cfg, pert, dtype, mesh, n_seeds: int, args, *, strategy=None, group=None,
               chunk_size=None, budget=None, bn_batch=None, nets: Networks = SEEDS) -> SweepPlan:
    """Chooses strategy, group and chunk (see :class:`SweepPlan`). Without
    ``chunk_size`` the chunk starts at ``SEEDS_PER_DEVICE`` seeds per device (at
    most what ``n_seeds`` needs) and is halved until the compiled program's own
    peak fits ``budget`` (default :func:`default_budget`). The smallest chunk (one
    group per device, or the given ``chunk_size``) is refused with
    :class:`neural_art.capacity.TooLarge` when its peak exceeds the device's memory
    itself (:func:`neural_art.capacity.hard_limit`), the budget being soft."""
    n_dev = mesh.devices.size
    rows = jnp.shape(args.z)[0]
    strategy, group, groups, smallest = _grouping(mesh, rows, n_seeds, strategy, group, chunk_size)
    budget = budget or default_budget(mesh.devices.flat[0])
    while True:
        chunk = groups * group * n_dev
        compiled = compiled_chunk(cfg, pert, dtype, mesh, group, chunk, args, bn_batch, nets)
        peak = peak_bytes(compiled)
        if chunk_size or groups == 1 or peak <= budget:
            if groups == smallest:
                limit, where = capacity.hard_limit(mesh.devices.flat[0])
                if peak > limit:  # rows -> peak through the origin: a lower bound on what fits
                    raise capacity.TooLarge(None, rows, rows * limit // peak, peak, limit, where,
                                            f"one chunk of {chunk} networks x {rows} rows", "rows")  # fmt: skip
            return SweepPlan(strategy, group, chunk, n_dev, peak, budget)
        groups //= 2


def rows_fit(cfg, pert, dtype, mesh, n_seeds: int, params, truncation: float, rows: int, *,
             strategy=None, group=None, chunk_size=None, bn_batch=None, nets: Networks = SEEDS,
             hf_compat: bool = False, points: tuple[int, int] = ROWS_POINTS) -> capacity.Fit:  # fmt: skip
    """Peak bytes per device of the plan's smallest chunk (one group per device, or
    the given ``chunk_size``) as a function of the rows (latents) every network
    generates, from that program compiled at ``points`` rows (abstract arguments:
    nothing of ``rows``' size is built or compiled; the programs are cached as the
    plan's). Below ~8 rows the peak is the perturbation's copy of the weights, not
    the rows' activations, hence the default points 8 and 16. ``rows`` picks the strategy as
    :func:`plan_sweep` would for that many rows."""
    n_dev = mesh.devices.size
    strategy, group, _, smallest = _grouping(mesh, rows, n_seeds, strategy, group, chunk_size)
    rep = NamedSharding(mesh, P())
    abstract = lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a), sharding=rep)
    sel = tuple(jnp.asarray(x) for x in truncation_stat_selector(truncation, cfg.n_stats, hf_compat=hf_compat))
    root = jax.ShapeDtypeStruct((), jax.random.key(0).dtype, sharding=rep)
    p_abs = jax.tree.map(abstract, params)

    def measure(r: int) -> int:
        args = DeviceArgs(p_abs, root, jax.ShapeDtypeStruct((r, cfg.z_dim), jnp.float32, sharding=rep),
                          jax.ShapeDtypeStruct((r, cfg.num_classes), jnp.float32, sharding=rep),
                          jax.tree.map(abstract, sel))  # fmt: skip
        return peak_bytes(compiled_chunk(cfg, pert, dtype, mesh, group, smallest * group * n_dev, args,
                                         bn_batch, nets))  # fmt: skip

    return capacity.fit(measure, *points)


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
    strategy: str | None = None,
    group: int | None = None,
    budget: int | None = None,
    plan: SweepPlan | None = None,
    bn_batch=None,
    gather: bool = False,
    breeding: lineage.Breeding = lineage.Breeding(),
) -> Iterator[tuple[list, np.ndarray]]:
    """Yields ``(seeds, images [n, L, H, W, 3])`` per chunk, for the seeds whose
    images this process holds (all of them on one host, or with ``gather``).

    Args:
      seeds: perturbation seeds (network k uses ``fold_in(root, k)``), or lineages
        (:mod:`neural_art.lineage`: ``Lineage`` objects or strings such as
        ``"17.4x203.1"``; eq. (2) with the perturbation's α / per-block α, bred
        by ``breeding``); a seed's lineage ``"k"`` is seed k's network.
      z: ``[L, z_dim]`` latents, y: ``[L, num_classes]``: the same for every seed.
      chunk_size: seeds per chunk over all devices (rounded up to a multiple of
        devices x group); default: sized by the compiled program's memory
        analysis against ``budget`` (bytes per device, :func:`default_budget`).
      strategy, group: see :class:`SweepPlan`; default :func:`default_strategy`.
      plan: a :class:`SweepPlan` from :func:`sweep_plan` (e.g. read back from a
        manifest) instead of ``chunk_size``/``strategy``/``group``/``budget``.
      dtype: ``"float32"`` or ``"bfloat16"`` compute.
      bn_batch: ``(z_bn [B, z_dim], y_bn [B, classes])`` for ``perturbation.bn == "recompute"``.
      gather: every process gets every seed's images (all-gathered over the
        processes of a multi-host mesh; nothing changes on one host).

    The next chunk is dispatched before the current one is copied to the host,
    so device work overlaps the caller's image writing.
    """
    seeds, nets = networks(seeds, params, perturbation, breeding, root)
    mesh = mesh or seed_mesh()
    args = _device_args(cfg, params, z, y, truncation, root, perturbation, mesh, hf_compat)
    if plan is None:
        plan = plan_sweep(cfg, perturbation, dtype, mesh, len(seeds), args, strategy=strategy,
                          group=group, chunk_size=chunk_size, budget=budget, bn_batch=bn_batch,
                          nets=nets)  # fmt: skip
    if plan.devices != mesh.devices.size:
        plan = dataclasses.replace(plan, devices=mesh.devices.size,
                                   chunk=-(-plan.chunk // (mesh.devices.size * plan.group))
                                   * mesh.devices.size * plan.group)
    prog = compiled_chunk(cfg, perturbation, dtype, mesh, plan.group, plan.chunk, args, bn_batch, nets)
    yield from _run_chunks(prog, args, list(seeds), plan.chunk, mesh, gather, nets, root)


def sweep_plan(cfg: BigGANConfig, params, seeds: Sequence[int], z, y, truncation: float, *,
               root: jax.Array, perturbation: Perturbation = Perturbation(),
               dtype: str = "float32", mesh: jax.sharding.Mesh | None = None,
               hf_compat: bool = False, breeding: lineage.Breeding = lineage.Breeding(),
               **kw) -> SweepPlan:  # fmt: skip
    """The :class:`SweepPlan` that :func:`sweep_chunks` with the same arguments uses
    (compiles its program, which the sweep then reuses)."""
    seeds, nets = networks(seeds, params, perturbation, breeding, root)
    mesh = mesh or seed_mesh()
    args = _device_args(cfg, params, z, y, truncation, root, perturbation, mesh, hf_compat)
    return plan_sweep(cfg, perturbation, dtype, mesh, len(seeds), args, nets=nets, **kw)





def networks(seeds: Sequence, params, pert: Perturbation, breeding: lineage.Breeding,
             root: jax.Array) -> tuple[list, Networks]:  # fmt: skip
    """Checked seeds (:func:`check_seeds`) or lineages, and what the program takes
    (:func:`biggan_jax.perturb.networks`)."""
    lins, nets = _networks(seeds, params, pert, breeding, root)
    return (check_seeds(seeds), nets) if lins is None else (lins, nets)


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """``seeds`` as a list of ints (order and repeats kept), before any compute: the
    checks of ``--seeds`` (:func:`neural_art.ranges.parse_ranges`: none, a non-integer,
    one outside ``[0, 2**31)`` or too many raise ``ValueError``)."""
    seeds = list(seeds)
    parse_ranges(seeds, what="seed")
    return [int(s) for s in seeds]


def _device_args(cfg, params, z, y, truncation, root, perturbation, mesh, hf_compat):
    z = jnp.asarray(z, jnp.float32)
    y = jnp.asarray(y, jnp.float32)
    if z.ndim != 2 or y.ndim != 2 or z.shape[0] != y.shape[0]:
        raise UserError(
            f"z [L, {cfg.z_dim}] and y [L, {cfg.num_classes}] must pair up; got {z.shape}, {y.shape}"
        )
    if perturbation.mode == "replace":
        check_block(params, perturbation.block)
    sel = tuple(
        jnp.asarray(x)
        for x in truncation_stat_selector(truncation, cfg.n_stats, hf_compat=hf_compat)
    )
    return DeviceArgs(*multihost.replicated((params, root, z, y, sel), mesh))


def _run_chunks(prog, args: DeviceArgs, seeds, chunk, mesh, gather=False, nets: Networks = SEEDS,
                root=None):  # fmt: skip
    seed_sharding = NamedSharding(mesh, P(AXIS))

    def launch(chunk_seeds):
        padded = list(chunk_seeds) + [chunk_seeds[-1]] * (chunk - len(chunk_seeds))
        host = nets.host(padded, root)
        arr = jax.tree.map(lambda h: jax.make_array_from_callback(h.shape, seed_sharding,
                                                                  lambda idx, h=h: h[idx]), host)  # fmt: skip
        return chunk_seeds, padded, prog(args.params, args.root, arr, args.z, args.y, args.sel)

    chunks = [seeds[i : i + chunk] for i in range(0, len(seeds), chunk)]
    pending = launch(chunks[0]) if chunks else None
    for i in range(len(chunks)):
        chunk_seeds, padded, out = pending
        pending = launch(chunks[i + 1]) if i + 1 < len(chunks) else None
        if gather and not out.is_fully_addressable:  # every host: the whole chunk
            yield list(chunk_seeds), multihost_utils.process_allgather(out, tiled=True)[: len(chunk_seeds)]
            continue
        got_seeds, got_imgs = [], []
        for shard in sorted(out.addressable_shards, key=lambda s: s.index[0].start or 0):
            sl = shard.index[0]
            data = np.asarray(shard.data)
            for j, s in enumerate(range(sl.start or 0, sl.stop or chunk)):
                if s < len(chunk_seeds):
                    got_seeds.append(padded[s])
                    got_imgs.append(data[j])
        yield got_seeds, np.stack(got_imgs) if got_imgs else np.zeros((0,), np.float32)


def sweep(cfg: BigGANConfig, params, seeds, z, y, truncation: float, **kw) -> np.ndarray:
    """All of :func:`sweep_chunks`' images in seed order: ``[S, L, H, W, 3]``
    float32 in [-1, 1] (single host)."""
    seeds = lineage.parse_networks(seeds) if isinstance(seeds, str) else list(seeds)
    if any(isinstance(s, str) for s in seeds):  # lineage strings: the ids sweep_chunks yields
        seeds = [lineage.parse(s) if isinstance(s, str) else s for s in seeds]
    by_seed = {}
    for ss, imgs in sweep_chunks(cfg, params, seeds, z, y, truncation, **kw):
        by_seed.update(zip(ss, imgs, strict=True))
    return np.stack([by_seed[s] for s in seeds])
