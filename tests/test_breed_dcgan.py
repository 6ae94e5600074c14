"""Breeding the embedded DCGAN (``python -m dcgan.sweep --mode=breed``, neural_art.lineage):
three generations bred into one --out_dir (one manifest, scores and image folders for
every lineage); a great-grandchild regenerated bit for bit from its lineage string alone
in a fresh interpreter and a fresh --out_dir; ε of children and crosses N(0, 1) on G's
weights; pixel departure from the parent growing with β, and β = 0 the parent exactly.

One subprocess: the regeneration, where a fresh process (nothing compiled, nothing
cached in memory, nothing read from the first directory) is the point. Every other
call runs in this process at 2 latents."""

import json

import jax
import numpy as np
import pytest
from cli_harness import assert_one_line_error, run_cli
from procs import run_python

import dcgan
from dcgan import perturbed
from dcgan.model import generate, sample_latents
from neural_art import lineage as L

BETA = 0.3
ARGS = ["--latents=2", f"--beta={BETA}"]
CHOSEN = "3.1.0.2"  # the great-grandchild regenerated from its string alone
GENERATIONS = [  # (flags, the networks each run adds, in the manifest's order)
    (["--seeds=2-4"], [2, 3, 4]),
    (["--mode=breed", "--parents=3", "--children=2"], ["3.0", "3.1"]),
    (["--mode=breed", "--parents=3.1", "--cross=3.0:4", "--children=2"], ["3.1.0", "3.1.1", "3.0x4.0", "3.0x4.1"]),
    (["--mode=breed", "--parents=3.1.0", "--children=3"], ["3.1.0.0", "3.1.0.1", "3.1.0.2"]),
]  # fmt: skip


def _pngs(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


@pytest.fixture(scope="module")
def three_generations(tmp_path_factory):
    """Seeds 2-4, then children of 3, of 3.1 (and of the cross 3.0x4), of 3.1.0, all
    into one --out_dir; returns the directory and seed 3's PNG bytes as first written."""
    out = tmp_path_factory.mktemp("generations") / "s"
    first = None
    for flags_, _ in GENERATIONS:
        r = run_cli("dcgan.sweep", [*ARGS, *flags_, f"--out_dir={out}"])
        assert r.code == 0, (flags_, r.err[-3000:])
        first = first or _pngs(out / "images" / "seed_000003")
    return out, first


def test_three_generations_in_one_out_dir(three_generations, tmp_path):
    """The manifest lists every generation's networks (seeds by number, then lineages
    by string), with the breeding; scores.json scores each; images/net_<lineage>/ holds z0, z1 for each;
    earlier generations' files are untouched; each child differs from its parent and
    its siblings; another β into the same directory is refused (β is one setting of
    every generation)."""
    out, seed3 = three_generations
    want = sorted((n for _, nets in GENERATIONS for n in nets), key=L.id_order)  # seeds first
    man = json.loads((out / "manifest.json").read_text())
    assert man["seeds_done"] == want, man["seeds_done"]
    assert man["breeding"] == {"beta": BETA, "cross": "mix", "t": 0.5}
    assert man["root_seed"] == 1 and man["latents"] == 2
    scores = json.loads((out / "scores.json").read_text())
    assert set(scores) == {str(n) for n in want}, sorted(scores)
    assert all(np.isfinite(v) for s in scores.values() for v in s.values())
    pngs = {str(n): _pngs(out / "images" / L.dir_name(n)) for n in want}
    assert all(list(p) == ["z0.png", "z1.png"] for p in pngs.values()), {n: list(p) for n, p in pngs.items()}
    assert pngs["3"] == seed3  # breeding into the directory rewrote no earlier network
    assert len({tuple(p.values()) for p in pngs.values()}) == len(want)  # every network its own images
    r = run_cli("dcgan.sweep", ["--latents=2", "--beta=0.5", "--mode=breed", "--parents=3.1.0.2",
                                "--children=1", f"--out_dir={out}"])  # fmt: skip
    assert_one_line_error(r, (1,), "breeding differ")
    assert not (out / "images" / "net_3.1.0.2.0").exists()


def test_a_great_grandchild_regenerates_bit_exactly_from_its_string(three_generations, tmp_path):
    """``python -m dcgan.sweep --seeds=3.1.0.2 --beta=0.3 --latents=2`` in a new
    interpreter and an empty --out_dir writes the same PNG bytes as the three-generation
    run (where 3.1.0.2 was drawn third in a chunk of three, after its ancestors)."""
    out, _ = three_generations
    fresh = tmp_path / "fresh"
    r = run_python(["-m", "dcgan.sweep", f"--seeds={CHOSEN}", *ARGS, f"--out_dir={fresh}"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((fresh / "manifest.json").read_text())["seeds_done"] == [CHOSEN]
    got, want = _pngs(fresh / "images" / f"net_{CHOSEN}"), _pngs(out / "images" / f"net_{CHOSEN}")
    assert list(want) == ["z0.png", "z1.png"]
    assert got == want


@pytest.fixture(scope="module")
def embedded():
    cfg, params = dcgan.load()
    return cfg, params["generator"]


def test_children_and_crosses_of_g_are_standard_normal(embedded):
    """KS against N(0, 1) over all 1.1M entries of G's trainable weights (the ones
    eq. 2 perturbs) for a child, a great-grandchild, a cross of unrelated networks, a
    cross of siblings (correlated parents) and a block-wise cross; a block-wise cross
    takes each of G's layers whole from one parent and some from each."""
    stats = pytest.importorskip("scipy.stats", reason="the KS test uses scipy.stats.kstest")
    _, g = embedded
    root = jax.random.key(perturbed.perturbation_root(0))
    mix, blocks = L.Breeding(beta=BETA), L.Breeding(beta=BETA, cross="blocks")
    eps = lambda lin, br: {p: np.asarray(v, np.float64).ravel()
                           for p, v in L.epsilon(g, root, lin, br).items()}  # fmt: skip
    flat = lambda e: np.concatenate(list(e.values()))
    cases = {"child": ("3.1", mix), "great-grandchild": (CHOSEN, mix), "cross": ("3.1x4", mix),
             "siblings": ("3.0x(3.1)", mix), "blocks": ("3.1x4", blocks)}  # fmt: skip
    got = {}
    for name, (lin, br) in cases.items():
        got[name] = e = eps(lin, br)
        assert set(e) == {p for p in e if p.startswith("params/")} and len(e) == 13, sorted(e)
        x = flat(e)
        assert x.size > 1_000_000
        assert stats.kstest(x, "norm").pvalue > 1e-3, name
        assert abs(x.std() - 1) < 0.005 and abs(x.mean()) < 0.005, (name, x.mean(), x.std())
    a, b = eps("3.1", blocks), eps("4", blocks)
    by_block = {}
    for p, e in got["blocks"].items():
        owner = "a" if np.array_equal(e, a[p]) else "b" if np.array_equal(e, b[p]) else None
        assert owner, p
        by_block.setdefault(p.split("/")[1], set()).add(owner)
    assert all(len(o) == 1 for o in by_block.values()), by_block
    assert {"a", "b"} == set().union(*by_block.values()), by_block
    assert np.corrcoef(flat(got["child"]), flat(eps("3", mix)))[0, 1] > 0.85  # cos(0.15π) = 0.891


def test_departure_from_the_parent_grows_with_beta(embedded):
    """Children 3.1.0-3.1.2 of 3.1 through ``dcgan.perturbed.images`` (the sweep's
    engine; one chunk of 5, as planning a chunk size costs a compile per call): at
    β = 0 their images are the parent's bit for bit (and the parent is seed 3); the
    mean |child − parent| then grows strictly over β = 0.1, 0.3, 1. The parent's
    images are its network's (``lineage.network``, then G, to float tolerance)."""
    cfg, g = embedded
    nets = ["3", "3.1", "3.1.0", "3.1.1", "3.1.2"]
    departure, parents = [], {}
    for beta in (0.0, 0.1, BETA, 1.0):
        imgs = np.asarray(perturbed.images(None, nets, latents=2, breeding=L.Breeding(beta=beta), chunk_size=5))
        assert imgs.shape == (5, 2, cfg.resolution, cfg.resolution, 3)
        parents[beta], kids = imgs[1], imgs[2:]
        if beta == 0.0:
            for k in (0, 2, 3, 4):
                np.testing.assert_array_equal(imgs[k], parents[beta], err_msg=nets[k])
        departure.append(float(np.mean([np.abs(k - parents[beta]).mean() for k in kids])))
    assert departure[0] == 0.0 and departure[1] < departure[2] < departure[3], departure
    root, z = jax.random.key(perturbed.perturbation_root(0)), sample_latents(jax.random.key(0), 2, cfg.nz)
    net = lambda g: L.network(g, root, "3.1", L.Breeding(beta=BETA), alpha=0.35)
    direct = jax.jit(lambda g, z: generate(cfg, net(g), z))(g, z)  # one network alone, not in a chunk
    np.testing.assert_allclose(parents[BETA], direct, atol=1e-5)
