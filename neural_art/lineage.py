"""Networks named by their ancestry: weight-space breeding of Janik's perturbed
networks (eq. 2 of "Aesthetics and neural network image representations",
arXiv:2109.08103), for any params pytree.

A *lineage* is a path of seeds (:func:`parse` / ``str``)::

    17            seed 17's eq.-(2) network (the sweep's network 17)
    17.4          child 4 of 17
    17.4x203      a cross of 17.4 and 203
    17.4x203.1    child 1 of that cross
    17x(203.4)    a cross of 17 and 203.4 (a right operand that is not a seed
                  is parenthesised; ``.`` and ``x`` apply left to right)

Every network is ``θ = θ*·(1 + α_b·ε)`` (eq. 2; ``α_b`` the α of the leaf's
block, :mod:`neural_art.blocks`), and its noise ε is a pure function of the
lineage and the root key (``--seed``); every node has a key:

    key(k)     = fold_in(root, k)                       (the sweep's seed key)
    key(P.c)   = fold_in(key(P), c)
    key(A x B) = fold_in(fold_in(key(A), 2³²−1), h(str(B)))
    (h(s): the first 4 bytes of sha256(s), little-endian, as uint32)

and, with N(key) the per-leaf standard normals of :func:`neural_art.perturb.normals`:

    ε(k)     = N(key(k))
    ε(P.c)   = cos(πβ/2)·ε(P) + sin(πβ/2)·N(key(P.c))              (a child)
    ε(A x B) = (cos(πt/2)·ε(A) + sin(πt/2)·ε(B)) / s               (cross "mix")
    ε(A x B)_b = ε(A)_b or ε(B)_b, B's if h(str(A x B) + "/" + b) is odd
                                                     (cross "blocks", per block b)

β ∈ [0, 1] sets how far a child strays (β = 0: the parent exactly; β = 1: an
unrelated network), one β for every generation of a lineage (a setting of the
run, as α is); t = 1/2 by default (the walks' rule, :mod:`neural_art.walk`).
A child's fresh draw is independent of everything before it, so cos² + sin² = 1
keeps every entry N(0, 1); ``s`` = the standard deviation of the mixture (1 for
independent parents; parents of one family are correlated, and ``s`` undoes
it). ε is thus a linear combination Σ_i c_{i,b}·N(key_i) of a lineage's draws
(:func:`terms`), evaluated in one vectorised draw per key (:func:`network`),
jit/vmap-able with the keys and coefficients as arrays (:func:`stack`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from neural_art import blocks, perturb
from neural_art.errors import UserError
from neural_art.ranges import parse_ranges

CROSSES = ("mix", "blocks")
CROSS_TAG = 2**32 - 1  # folded in before a cross's partner: no child index (< 2³¹) collides
MAX_DEPTH = 64  # generations and crosses in one lineage


@dataclasses.dataclass(frozen=True)
class Root:
    """Seed ``seed``'s eq.-(2) network."""

    seed: int

    def __str__(self) -> str:
        return str(self.seed)


@dataclasses.dataclass(frozen=True)
class Child:
    """Child ``index`` of ``parent``."""

    parent: Lineage
    index: int

    def __str__(self) -> str:
        return f"{self.parent}.{self.index}"


@dataclasses.dataclass(frozen=True)
class Cross:
    """A cross of ``a`` and ``b``."""

    a: Lineage
    b: Lineage

    def __str__(self) -> str:
        right = str(self.b) if isinstance(self.b, Root) else f"({self.b})"
        return f"{self.a}x{right}"


Lineage = Root | Child | Cross

_TOKEN = re.compile(r"\d+|[.x()]")


def parse(text: str | int) -> Lineage:
    """``"17.4x203.1"`` -> ``Child(Cross(Child(Root(17), 4), Root(203)), 1)``;
    seeds and child indices are integers in ``[0, 2**31)``."""
    s = str(text).strip()
    tokens = _TOKEN.findall(s)
    if not s or "".join(tokens) != s:
        raise UserError(f"lineage {text!r}: use seeds joined by '.' (child) and 'x' (cross), e.g. 17.4x203.1")
    pos = 0

    def bad(why: str) -> UserError:
        return UserError(f"lineage {text!r}: {why}")

    def number() -> int:
        nonlocal pos
        if pos >= len(tokens) or not tokens[pos].isdigit():
            raise bad("a seed or child number is missing")
        n = int(tokens[pos])
        if n >= 2**31:
            raise bad(f"{n} is not in [0, 2**31)")
        pos += 1
        return n

    def primary(depth: int) -> Lineage:
        nonlocal pos
        if pos < len(tokens) and tokens[pos] == "(":
            pos += 1
            inner = node(depth + 1)
            if pos >= len(tokens) or tokens[pos] != ")":
                raise bad("unbalanced parentheses")
            pos += 1
            return inner
        return Root(number())

    def node(depth: int) -> Lineage:
        nonlocal pos
        out = primary(depth)
        while pos < len(tokens) and tokens[pos] in ".x":
            depth += 1
            if depth > MAX_DEPTH:
                raise bad(f"more than {MAX_DEPTH} generations and crosses")
            op, pos = tokens[pos], pos + 1
            out = Child(out, number()) if op == "." else Cross(out, primary(depth))
        return out

    out = node(0)
    if pos != len(tokens):
        raise bad(f"unexpected {tokens[pos]!r}")
    return out


def parse_list(spec: str | Sequence[str]) -> list[Lineage]:
    """``"17,203.4"`` (or a list) -> lineages, repeats dropped, order kept."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[Lineage] = []
    for p in parts:
        lin = parse(p)
        if lin not in out:
            out.append(lin)
    if not out:
        raise UserError("no lineage given")
    return out


def parse_networks(spec: str) -> list[int] | list[Lineage]:
    """``--seeds``: plain ranges (``"0-10,15"`` -> ints, :func:`neural_art.ranges.parse_ranges`)
    or, if any part is a lineage (has ``.``, ``x`` or ``(``, no ``-``), every part as
    lineages (``"0-2,17.4"`` -> ``0, 1, 2, 17.4``; a seed k is ``Root(k)``)."""
    parts = [p.strip() for p in str(spec).split(",")]
    is_lineage = lambda p: "-" not in p and bool(set(p) & set(".x("))  # a range is a range
    if not any(is_lineage(p) for p in parts):
        return parse_ranges(spec, what="seed")
    out: list[Lineage] = []
    for p in parts:
        lins = [parse(p)] if is_lineage(p) else [Root(k) for k in parse_ranges(p, what="seed")]
        out.extend(lin for lin in lins if lin not in out)
    return out


def network_id(lin: Lineage | int) -> int | str:
    """How a sweep records a network: seed k as the int k, any other lineage as its string."""
    return lin.seed if isinstance(lin, Root) else lin if isinstance(lin, int) else str(lin)


def is_network_id(net) -> bool:
    """A seed (int in [0, 2**31)) or a lineage string that is not a plain seed."""
    if type(net) is int:
        return 0 <= net < 2**31
    try:
        return isinstance(net, str) and not isinstance(parse(net), Root) and str(parse(net)) == net
    except UserError:
        return False


def parents(net: int | str | Lineage) -> list[str]:
    """The networks ``net`` was bred from, as id strings, nearest first: a child's
    parent and, when that parent is a cross, the cross's two operands; a cross's
    two operands; none for a seed. ``"17.4"`` -> ``["17"]``, ``"17.4x203.1"`` ->
    ``["17.4x203", "17.4", "203"]``, ``"17x(203.4)"`` -> ``["17", "203.4"]``."""
    if isinstance(net, (int, np.integer)):
        return []  # a seed
    lin = net if isinstance(net, (Root, Child, Cross)) else parse(net)
    up = lin.parent if isinstance(lin, Child) else lin
    out = [str(lin.parent)] if isinstance(lin, Child) else []
    if isinstance(up, Cross):
        out += [str(up.a), str(up.b)]
    return list(dict.fromkeys(out))  # 17x17: one parent


def children(nets: Sequence[int | str]) -> dict[str, list[str]]:
    """``{id string: its children among nets}`` for each of ``nets`` (seeds or lineage
    strings): the inverse of :func:`parents` within ``nets``, in their order (a cross's
    child is a child of both operands)."""
    out: dict[str, list[str]] = {str(n): [] for n in nets}
    for n in out:
        for p in parents(n):
            if p in out:
                out[p].append(n)
    return out


def dir_name(net: int | str | None) -> str:
    """A network's file name stem: ``seed_000017``, ``net_17.4x203.1``; None: ``original``."""
    if net is None:
        return "original"
    return f"seed_{net:06d}" if isinstance(net, int) else f"net_{net}"


def id_order(net: int | str):
    """Sort key of network ids: seeds by number, then lineages by their string."""
    return (1, net) if isinstance(net, str) else (0, f"{net:010d}")


@dataclasses.dataclass(frozen=True)
class Breeding:
    """How children and crosses are made (module docstring's formulas).

    Attributes:
      beta: a child's departure from its parent, in [0, 1] (0: the parent).
      cross: ``"mix"`` (spherical mixture at ``t``) or ``"blocks"`` (each block's
        ε from one parent).
      t: the mixture's weight of the second parent, in [0, 1] (1/2: halfway).
    """

    beta: float = 0.3
    cross: str = "mix"
    t: float = 0.5

    def __post_init__(self):
        for name in ("beta", "t"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                raise UserError(f"{name} must be a number in [0, 1], got {v!r}")
        if self.cross not in CROSSES:
            raise UserError(f"unknown cross {self.cross!r}; choose one of {CROSSES}")


def key(root: jax.Array, lineage: Lineage) -> jax.Array:
    """The node's key (module docstring): ``fold_in`` steps from ``root``."""
    if isinstance(lineage, Root):
        return jax.random.fold_in(root, lineage.seed)
    if isinstance(lineage, Child):
        return jax.random.fold_in(key(root, lineage.parent), lineage.index)
    tagged = jax.random.fold_in(key(root, lineage.a), CROSS_TAG)
    return jax.random.fold_in(tagged, _hash(str(lineage.b)))


def _hash(text: str) -> int:
    """h(text): a uint32 from sha256 (crc32 would not do: its parity is linear in the text)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def terms(lineage: Lineage, breeding: Breeding, names: Sequence[str]) -> dict[Lineage, np.ndarray]:
    """ε(lineage) as ``{draw node: coefficients [len(names)]}`` (float64): block
    ``names[j]``'s ε is ``Σ c[j]·N(key(node))``; nodes with all-zero coefficients
    are left out (so β = 0 gives exactly the parent's terms)."""
    n = len(names)
    if isinstance(lineage, Root):
        return {lineage: np.ones(n)}
    if isinstance(lineage, Child):
        c, s = math.cos(math.pi * breeding.beta / 2), math.sin(math.pi * breeding.beta / 2)
        out = {d: c * v for d, v in terms(lineage.parent, breeding, names).items()} if c else {}
        if s:
            out[lineage] = out.get(lineage, 0.0) + s * np.ones(n)
        return out
    ta, tb = terms(lineage.a, breeding, names), terms(lineage.b, breeding, names)
    if breeding.cross == "blocks":
        pick_b = np.array([_hash(f"{lineage}/{b}") & 1 for b in names], bool)
        out = {d: np.where(pick_b, 0.0, v) for d, v in ta.items()}
        for d, v in tb.items():
            out[d] = out.get(d, 0.0) + np.where(pick_b, v, 0.0)
    else:
        ca, cb = math.cos(math.pi * breeding.t / 2), math.sin(math.pi * breeding.t / 2)
        out = {d: ca * v for d, v in ta.items()}
        for d, v in tb.items():
            out[d] = out.get(d, 0.0) + cb * v
        norm = np.sqrt(sum(v**2 for v in out.values()))  # 1 for unrelated parents
        out = {d: v / norm for d, v in out.items()}
    return {d: v for d, v in out.items() if np.any(v != 0)}


def stack(root: jax.Array, lineages: Sequence[Lineage], breeding: Breeding, names: Sequence[str],
          width: int | None = None) -> tuple[jax.Array, np.ndarray]:  # fmt: skip
    """``(keys [N, M], coefs [N, M, len(names)] float32)`` of ``lineages``, each padded
    to ``M = width`` (default: the most any of them needs) draws with zero
    coefficients: the arguments of :func:`network_from` for a batch (vmap over N)."""
    per = [terms(lin, breeding, names) for lin in lineages]
    m = width or max(len(t) for t in per)
    if any(len(t) > m for t in per):
        raise UserError(f"a lineage needs more than {m} draws")
    keys, coefs = [], np.zeros((len(per), m, len(names)), np.float32)
    for i, t in enumerate(per):
        nodes = list(t)
        keys.append(jnp.stack([key(root, d) for d in nodes] + [key(root, nodes[0])] * (m - len(nodes))))
        for j, d in enumerate(nodes):
            coefs[i, j] = t[d]
    return jnp.stack(keys), coefs


def noise_from(params, keys: jax.Array, coefs: jax.Array, *, where: perturb.Where | None = None,
               alpha_of=lambda path: 1.0) -> dict[str, jax.Array]:  # fmt: skip
    """``{leaf path: ε}``, ε = Σ_i coefs[i, b]·N(keys[i]) for each leaf selected by
    ``where`` (default :func:`neural_art.perturb.trainable`) whose ``alpha_of(path)``
    is not 0; ``b`` its block's index in :func:`neural_art.perturb.block_names`."""
    where = where or perturb.trainable(params)
    index = {b: j for j, b in enumerate(perturb.block_names(params))}
    flat = [(perturb.path_str(p), x) for p, x in jax.tree_util.tree_leaves_with_path(params)]
    sel = [(p, jnp.shape(x)) for p, x in flat if where(p, x) and alpha_of(p) != 0.0]
    paths, shapes = [p for p, _ in sel], [s for _, s in sel]
    draws = [perturb.normals(keys[m], paths, shapes) for m in range(keys.shape[0])]
    return {p: sum(coefs[m, index[blocks.block_of(p, params)]] * d[j] for m, d in enumerate(draws))
            for j, p in enumerate(paths)}  # fmt: skip


def network_from(params, keys: jax.Array, coefs: jax.Array, *, alpha: float = 0.35,
                 alphas: Mapping[str, float] | None = None, where: perturb.Where | None = None):  # fmt: skip
    """θ = θ*·(1 + α_b·ε) with ε of :func:`noise_from` (``keys [M]``, ``coefs [M,
    n_blocks]`` from :func:`stack`). Leaves not selected (or of α_b = 0) are returned
    as is. Pure; vmap over ``keys`` / ``coefs`` for many networks."""
    alpha_of = blocks.alpha_of(params, alphas or {}, alpha)
    eps = noise_from(params, keys, coefs, where=where, alpha_of=alpha_of)
    return blocks.scaled(params, eps, alpha_of)


def host_inputs(root: jax.Array, lineages: Sequence[Lineage], breeding: Breeding,
                names: Sequence[str], width: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """:func:`stack` as host arrays for a compiled program's argument: ``(key data
    [N, width, ...] uint32, coefs [N, width, len(names)] float32)``; rebuild the keys
    with ``jax.random.wrap_key_data(data, impl=jax.random.key_impl(root))``."""
    keys, coefs = stack(root, lineages, breeding, names, width)
    return np.asarray(jax.random.key_data(keys)), coefs


def network(params, root: jax.Array, lineage: Lineage | str, breeding: Breeding = Breeding(), **kw):
    """The network of ``lineage`` (a :class:`Lineage` or its string): θ*·(1 + α_b·ε).
    ``kw``: ``alpha``, ``alphas``, ``where`` of :func:`network_from`. Seed k's lineage
    ``"k"`` is exactly :func:`neural_art.perturb.multiplicative` with
    ``seed_key(root, k)``."""
    lin = parse(lineage) if isinstance(lineage, (str, int)) else lineage
    keys, coefs = stack(root, [lin], breeding, perturb.block_names(params))
    return network_from(params, keys[0], jnp.asarray(coefs[0]), **kw)


def epsilon(params, root: jax.Array, lineage: Lineage | str, breeding: Breeding = Breeding(),
            where: perturb.Where | None = None) -> dict[str, jax.Array]:  # fmt: skip
    """``{leaf path: ε}`` of ``lineage`` over the leaves ``where`` selects (default:
    the trainable ones): the noise :func:`network` scales by α."""
    lin = parse(lineage) if isinstance(lineage, (str, int)) else lineage
    keys, coefs = stack(root, [lin], breeding, perturb.block_names(params))
    return noise_from(params, keys[0], jnp.asarray(coefs[0]), where=where)
