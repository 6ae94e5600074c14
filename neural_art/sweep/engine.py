"""Perturbed-generator sweeps of any generator: many perturbed networks in one
compiled, sharded program (Janik's Figs. 3 and 4, arXiv:2109.08103, at scale).

A model hands the engine a :class:`Generator` (pure functions of a params
pytree) and the rows every network draws (a pytree of arrays whose leading axis
is the row: BigGAN's ``(z, y)``, DCGAN's ``z``). For each network k the weights
θ_k (:class:`neural_art.sweep.networks.Networks`: seed k's perturbation with key
``fold_in(root, k)``, or a lineage's) are built *on device inside the compiled
program* and draw the same rows as every other network. Networks are processed in
chunks, the network axis sharded over all devices of a 1-D mesh
(``jax.make_mesh``; multi-host when ``jax.distributed`` is initialised).

How a device walks its share of a chunk is the *strategy* (:class:`SweepPlan`):

* ``"map"``: ``lax.map`` over networks, one network's weights live at a time,
  all its rows batched (group 1);
* ``"vmap"``: all of the device's networks vmapped at once (one group);
* ``"hybrid"``: ``lax.map`` over groups of ``group`` networks, vmapped within.

The group width is fixed by the settings (never by how many networks remain or
by free memory) and the last group is padded, so network k's images do not
depend on the chunk size, on what else is in the chunk, or on the device count:
every network is computed by the same compiled group body. The chunk size comes
from the compiled program's own ``memory_analysis()`` against a stated budget.
Compiled programs are kept in a bounded least-recently-used cache keyed by the
generator (hashable: its static settings), the perturbation and the arguments'
abstract shapes: a second identical sweep compiles nothing.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from neural_art import capacity, lineage
from neural_art.errors import UserError
from neural_art.perturb import check_block
from neural_art.ranges import parse_ranges
from neural_art.sweep import multihost
from neural_art.sweep.networks import LINEAGE_TYPES, SEEDS, Hooks, Networks, Perturbation, networks

__all__ = ["Generator", "ProgramCache", "SweepPlan", "plan_sweep", "rows_fit", "sweep", "sweep_chunks",
           "sweep_plan"]  # fmt: skip

AXIS = "seeds"


class Generator(Protocol):
    """A generator as the engine sees it. Hashable (a frozen dataclass of its static
    settings: architecture, compute dtype, ...): it keys the compiled programs.

    ``generate(theta, rows, consts) -> [L, H, W, 3]`` float32 in [-1, 1]: network
    ``theta`` drawing ``rows`` (leading axis L); ``consts``: a pytree the same for
    every network (BigGAN: the truncation's BN-statistics selector).
    ``prepare(theta, consts) -> theta``: the network as it draws (BigGAN's
    ``--bn=recompute`` re-estimates BN statistics here; else the identity).
    ``hooks``: the model's :class:`neural_art.sweep.networks.Hooks`."""

    hooks: Hooks

    def generate(self, theta, rows, consts) -> jax.Array: ...

    def prepare(self, theta, consts): ...


def parse_seeds(spec: str | int | Sequence[int]) -> list[int]:
    """``"0-10,15,20-22"`` -> ``[0, 1, ..., 10, 15, 20, 21, 22]`` (inclusive, as in
    the paper's "seeds 0-10"; :func:`neural_art.ranges.parse_ranges`)."""
    return parse_ranges(spec, what="seed")


def seed_mesh(devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
    """A 1-D mesh over all devices (of all hosts) with axis ``"seeds"``."""
    devices = list(devices) if devices is not None else jax.devices()
    return jax.make_mesh((len(devices),), (AXIS,), devices=devices)


STRATEGIES = ("map", "vmap", "hybrid")
DEFAULT_GROUP = 8  # networks vmapped together by "hybrid" (and "vmap" when no chunk is given)
SEEDS_PER_DEVICE = 16  # the chunk tried first, per device, before the memory check
ROWS_POINTS = (8, 16)  # rows_fit's measured sizes: past the weights-copy plateau


def default_strategy(platform: str, n_rows: int) -> str:
    """The measured choice (BENCHMARKS.md). CPU: ``"map"`` at any number of rows
    (per-network kernels under vmap become grouped convolutions, slower than one
    network at a time with its rows batched). GPU/TPU: ``"hybrid"`` below 8 rows per
    network (a batch of 1-4 images leaves the device idle; a loop over 64 seeds x 1
    latent ran at 33 img/s, vmap at 670), else ``"map"``."""
    if platform == "cpu":
        return "map"
    return "hybrid" if n_rows < 8 else "map"


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """How a sweep runs, fixed by the settings (record it in a manifest: network k's
    pixels depend on ``strategy`` and ``group``, not on ``chunk`` or ``devices``).

    Attributes:
      strategy: ``"map"``, ``"vmap"`` or ``"hybrid"`` (module docstring).
      group: networks vmapped together (1 for ``"map"``).
      chunk: networks per chunk over all devices (a multiple of ``devices · group``).
      devices: devices the network axis is sharded over.
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


def _net_fn(gen: Generator, pert: Perturbation, nets: Networks):
    def one(params, root, net, rows, consts):
        theta = gen.prepare(nets.theta(pert, params, root, net, gen.hooks), consts)
        return gen.generate(theta, rows, consts).astype(jnp.float32)

    return one


def _local(one, group: int):
    def local(params, root, nets, rows, consts):  # this device's share: [n · group] networks
        def body(g):
            if group == 1:
                return one(params, root, jax.tree.map(lambda a: a[0], g), rows, consts)[None]
            return jax.vmap(one, in_axes=(None, None, 0, None, None))(params, root, g, rows, consts)

        out = jax.lax.map(body, jax.tree.map(lambda a: a.reshape(-1, group, *a.shape[1:]), nets))
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
    """A chunk program's arguments other than the networks, replicated over the mesh."""

    params: Any
    root: jax.Array
    rows: Any  # pytree, leading axis L
    consts: Any


def _abstract(tree) -> tuple:
    """A hashable description of a pytree's structure, shapes and dtypes."""
    leaves, treedef = jax.tree.flatten(tree)
    return treedef, tuple((jnp.shape(x), str(jnp.result_type(x))) for x in leaves)


def compiled_chunk(gen: Generator, pert: Perturbation, mesh, group: int, chunk: int, args: DeviceArgs,
                   nets: Networks = SEEDS):  # fmt: skip
    """The compiled chunk program for these settings and argument shapes (cached in
    a bounded :class:`ProgramCache`; ``args`` may be abstract). How lineages are bred
    (β, the cross rule) reaches the program only through its inputs: one program for all."""
    nets = dataclasses.replace(nets, breeding=None)

    def build():
        sharded = jax.shard_map(_local(_net_fn(gen, pert, nets), group), mesh=mesh,
                                in_specs=(P(), P(), P(AXIS), P(), P()), out_specs=P(AXIS),
                                check_vma=False)  # fmt: skip
        return jax.jit(sharded).lower(args.params, args.root, nets.abstract(chunk, NamedSharding(mesh, P(AXIS))),
                                      args.rows, args.consts).compile()  # fmt: skip

    sig = (gen, pert, mesh, group, chunk, _abstract(args.params), _abstract(args.rows), _abstract(args.consts), nets)
    return _COMPILED.get(sig, build)


def n_rows(rows) -> int:
    return int(jnp.shape(jax.tree.leaves(rows)[0])[0])


def _grouping(mesh, rows: int, n_nets: int, strategy, group, chunk_size) -> tuple[str, int, int, int]:
    """``(strategy, group, groups, smallest)``: the plan's first chunk is ``groups``
    groups per device, its smallest ``smallest`` (a given ``chunk_size`` is fixed)."""
    n_dev = mesh.devices.size
    strategy = strategy or default_strategy(mesh.devices.flat[0].platform, rows)
    if strategy not in STRATEGIES:
        raise UserError(f"unknown strategy {strategy!r}; choose one of {STRATEGIES}")
    if chunk_size is not None and chunk_size < 1:
        raise UserError(f"chunk_size must be >= 1, got {chunk_size}")
    need = -(-n_nets // n_dev)  # networks per device the whole sweep needs
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


def plan_sweep(gen: Generator, pert: Perturbation, mesh, n_nets: int, args: DeviceArgs, *, strategy=None,
               group=None, chunk_size=None, budget=None, nets: Networks = SEEDS) -> SweepPlan:  # fmt: skip
    """Chooses strategy, group and chunk (see :class:`SweepPlan`). Without
    ``chunk_size`` the chunk starts at ``SEEDS_PER_DEVICE`` networks per device (at
    most what ``n_nets`` needs) and is halved until the compiled program's own
    peak fits ``budget`` (default :func:`default_budget`). The smallest chunk (one
    group per device, or the given ``chunk_size``) is refused with
    :class:`neural_art.capacity.TooLarge` when its peak exceeds the device's memory
    itself (:func:`neural_art.capacity.hard_limit`), the budget being soft."""
    n_dev = mesh.devices.size
    rows = n_rows(args.rows)
    strategy, group, groups, smallest = _grouping(mesh, rows, n_nets, strategy, group, chunk_size)
    budget = budget or default_budget(mesh.devices.flat[0])
    while True:
        chunk = groups * group * n_dev
        peak = capacity.peak_bytes(compiled_chunk(gen, pert, mesh, group, chunk, args, nets))
        if chunk_size or groups == 1 or peak <= budget:
            if groups == smallest:
                limit, where = capacity.hard_limit(mesh.devices.flat[0])
                if peak > limit:  # rows -> peak through the origin: a lower bound on what fits
                    raise capacity.TooLarge(None, rows, rows * limit // peak, peak, limit, where,
                                            f"one chunk of {chunk} networks x {rows} rows", "rows")  # fmt: skip
            return SweepPlan(strategy, group, chunk, n_dev, peak, budget)
        groups //= 2


def rows_fit(gen: Generator, pert: Perturbation, mesh, n_nets: int, params, rows_like, consts, rows: int, *,
             strategy=None, group=None, chunk_size=None, nets: Networks = SEEDS,
             points: tuple[int, int] = ROWS_POINTS) -> capacity.Fit:  # fmt: skip
    """Peak bytes per device of the plan's smallest chunk (one group per device, or
    the given ``chunk_size``) as a function of the rows every network draws, from
    that program compiled at ``points`` rows (abstract arguments shaped like
    ``rows_like`` with another leading axis: nothing of ``rows``' size is built; the
    programs are cached as the plan's). Below ~8 rows the peak is the perturbation's
    copy of the weights, not the rows' activations, hence the default points 8 and
    16. ``rows`` picks the strategy as :func:`plan_sweep` would for that many rows."""
    n_dev = mesh.devices.size
    strategy, group, _, smallest = _grouping(mesh, rows, n_nets, strategy, group, chunk_size)
    rep = NamedSharding(mesh, P())
    abstract = lambda a, shape=None: jax.ShapeDtypeStruct(jnp.shape(a) if shape is None else shape,
                                                          jnp.result_type(a), sharding=rep)  # fmt: skip
    root = jax.ShapeDtypeStruct((), jax.random.key(0).dtype, sharding=rep)
    p_abs, c_abs = jax.tree.map(abstract, params), jax.tree.map(abstract, consts)

    def measure(r: int) -> int:
        r_abs = jax.tree.map(lambda a: abstract(a, (r, *jnp.shape(a)[1:])), rows_like)
        args = DeviceArgs(p_abs, root, r_abs, c_abs)
        return capacity.peak_bytes(compiled_chunk(gen, pert, mesh, group, smallest * group * n_dev, args, nets))

    return capacity.fit(measure, *points)


def device_args(gen: Generator, params, rows, consts, root, pert: Perturbation, mesh) -> DeviceArgs:
    """The chunk program's replicated arguments (every process its own copy)."""
    rows = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), rows)
    if len({jnp.shape(a)[0] for a in jax.tree.leaves(rows)}) != 1:
        raise UserError(f"every row input must have the same number of rows; got {jax.tree.map(jnp.shape, rows)}")
    if pert.mode == "replace":
        check_block(params, pert.block)
    return DeviceArgs(*multihost.replicated((params, root, rows, consts), mesh))


def sweep_chunks(gen: Generator, params, seeds: Sequence, rows, consts=(), *, root: jax.Array,
                 perturbation: Perturbation = Perturbation(), chunk_size: int | None = None,
                 mesh: jax.sharding.Mesh | None = None, strategy: str | None = None, group: int | None = None,
                 budget: int | None = None, plan: SweepPlan | None = None, gather: bool = False,
                 breeding: lineage.Breeding = lineage.Breeding()) -> Iterator[tuple[list, np.ndarray]]:  # fmt: skip
    """Yields ``(networks, images [n, L, H, W, 3])`` per chunk, for the networks whose
    images this process holds (all of them on one host, or with ``gather``).

    Args:
      gen: the :class:`Generator`; params: θ*; rows: every network's rows (leading
        axis L); consts: the generator's constants.
      seeds: perturbation seeds (network k uses ``fold_in(root, k)``), or lineages
        (:mod:`neural_art.lineage`: ``Lineage`` objects or strings such as
        ``"17.4x203.1"``; eq. (2) with the perturbation's α / per-block α, bred
        by ``breeding``); a seed's lineage ``"k"`` is seed k's network.
      chunk_size: networks per chunk over all devices (rounded up to a multiple of
        devices x group); default: sized by the compiled program's memory
        analysis against ``budget`` (bytes per device, :func:`default_budget`).
      strategy, group: see :class:`SweepPlan`; default :func:`default_strategy`.
      plan: a :class:`SweepPlan` from :func:`sweep_plan` (e.g. read back from a
        manifest) instead of ``chunk_size``/``strategy``/``group``/``budget``.
      gather: every process gets every network's images (all-gathered over the
        processes of a multi-host mesh; nothing changes on one host).

    The next chunk is dispatched before the current one is copied to the host,
    so device work overlaps the caller's image writing.
    """
    seeds, nets = networks(seeds, params, perturbation, breeding, root)
    mesh = mesh or seed_mesh()
    args = device_args(gen, params, rows, consts, root, perturbation, mesh)
    if plan is None:
        plan = plan_sweep(gen, perturbation, mesh, len(seeds), args, strategy=strategy, group=group,
                          chunk_size=chunk_size, budget=budget, nets=nets)  # fmt: skip
    if plan.devices != mesh.devices.size:
        n_dev = mesh.devices.size
        plan = dataclasses.replace(plan, devices=n_dev,
                                   chunk=-(-plan.chunk // (n_dev * plan.group)) * n_dev * plan.group)  # fmt: skip
    prog = compiled_chunk(gen, perturbation, mesh, plan.group, plan.chunk, args, nets)
    yield from _run_chunks(prog, args, list(seeds), plan.chunk, mesh, gather, nets, root)


def sweep_plan(gen: Generator, params, seeds: Sequence, rows, consts=(), *, root: jax.Array,
               perturbation: Perturbation = Perturbation(), mesh: jax.sharding.Mesh | None = None,
               breeding: lineage.Breeding = lineage.Breeding(), **kw) -> SweepPlan:  # fmt: skip
    """The :class:`SweepPlan` that :func:`sweep_chunks` with the same arguments uses
    (compiles its program, which the sweep then reuses)."""
    seeds, nets = networks(seeds, params, perturbation, breeding, root)
    mesh = mesh or seed_mesh()
    args = device_args(gen, params, rows, consts, root, perturbation, mesh)
    return plan_sweep(gen, perturbation, mesh, len(seeds), args, nets=nets, **kw)


def _run_chunks(prog, args: DeviceArgs, seeds, chunk, mesh, gather=False, nets: Networks = SEEDS, root=None):
    seed_sharding = NamedSharding(mesh, P(AXIS))

    def launch(chunk_seeds):
        padded = list(chunk_seeds) + [chunk_seeds[-1]] * (chunk - len(chunk_seeds))
        host = nets.host(padded, root)
        arr = jax.tree.map(lambda h: jax.make_array_from_callback(h.shape, seed_sharding,
                                                                  lambda idx, h=h: h[idx]), host)  # fmt: skip
        return chunk_seeds, padded, prog(args.params, args.root, arr, args.rows, args.consts)

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


def sweep(gen: Generator, params, seeds, rows, consts=(), **kw) -> np.ndarray:
    """All of :func:`sweep_chunks`' images in network order: ``[S, L, H, W, 3]``
    float32 in [-1, 1] (single host)."""
    seeds = lineage.parse_networks(seeds) if isinstance(seeds, str) else list(seeds)
    if any(isinstance(s, (str, *LINEAGE_TYPES)) for s in seeds):  # lineages: the ids sweep_chunks yields
        seeds = [s if isinstance(s, LINEAGE_TYPES) else lineage.parse(s) for s in seeds]
    by_seed = {}
    for ss, imgs in sweep_chunks(gen, params, seeds, rows, consts, **kw):
        by_seed.update(zip(ss, imgs, strict=True))
    return np.stack([by_seed[s] for s in seeds])
