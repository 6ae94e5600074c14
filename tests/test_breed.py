"""Lineages in the compiled, chunked BigGAN sweep (biggan_jax.sharded): a lineage's
images are its network's (neural_art.lineage), in any chunk or company; seed k's
lineage "k" draws seed k's images."""

import jax
import numpy as np
import pytest

import biggan_jax
from biggan_jax.sharded import Perturbation, sweep
from neural_art import lineage as L
from neural_art import perturb
from neural_art.errors import UserError
from neural_art.images import to_uint8

BREED = L.Breeding(beta=0.3)


@pytest.fixture(scope="module")
def setup(tiny_biggan):
    cfg, params = tiny_biggan
    # one row, and below lineages of three draws in chunks of 2: the shapes of the CLI tests'
    # breeding runs (here and in test_gallery_breed.py), so the chunk programs compile once
    z = biggan_jax.truncated_noise(jax.random.key(1), 1, 0.5)
    y = biggan_jax.class_vector(["volcano"])
    kw = dict(root=jax.random.key(42), perturbation=Perturbation(alpha=0.35), strategy="map")
    return cfg, params, z, y, kw


def test_a_lineage_sweep_draws_each_lineages_network_in_any_chunk(setup):
    """Chunks of 2 (one compiled program, three draws per network): the pixels of a
    lineage do not depend on its chunk, position or company, and are its network's
    (lineage.network_from, through generate; within one grey level)."""
    cfg, params, z, y, kw = setup
    lins = ["3", "3.1", "3x5", "3x5.2"]
    got = to_uint8(sweep(cfg, params, lins, z, y, 0.5, breeding=BREED, chunk_size=2, **kw))
    other = to_uint8(sweep(cfg, params, ["3x5.2", "3"], z, y, 0.5, breeding=BREED, chunk_size=2, **kw))
    np.testing.assert_array_equal(other, got[[3, 0]])  # other chunk and company, same pixels
    assert len({g.tobytes() for g in got}) == 4
    names = perturb.block_names(params)
    keys, coefs = L.stack(kw["root"], [L.parse(s) for s in lins], BREED, names)
    net = jax.jit(lambda k, c: L.network_from(params, k, c, alpha=0.35))
    for i in (0, 3):
        want = to_uint8(np.asarray(biggan_jax.generate(cfg, net(keys[i], coefs[i]), z, y, 0.5)))
        assert np.abs(got[i].astype(int) - want).max() <= 1, lins[i]


def test_lineages_need_eq2_and_a_valid_string(setup):
    cfg, params, z, y, kw = setup
    with pytest.raises(UserError, match="lineage '3.'"):
        sweep(cfg, params, ["3."], z, y, 0.5, **kw)
    with pytest.raises(UserError, match="mode multiplicative"):
        sweep(cfg, params, ["3.1"], z, y, 0.5, **{**kw, "perturbation": Perturbation(mode="replace")})
    assert L.parse_networks("0-2,17.4") == [L.Root(0), L.Root(1), L.Root(2), L.parse("17.4")]
    assert L.parse_networks("0-2,5") == [0, 1, 2, 5]


def test_cli_breeds_into_the_same_out_dir_and_a_lineage_regenerates_bit_exactly(tmp_path):
    """Seeds, then a generation bred from one of them (and a cross) into the same
    --out_dir: one manifest listing both, the breeding recorded, each child under
    images/net_<lineage>; the gallery's regenerate command for a child of the cross,
    run in a fresh --out_dir, writes the same PNG bytes."""
    import json
    import shlex

    from cli_harness import assert_one_line_error, run_cli
    from fixtures import TINY_BIGGAN

    base = [f"--weights={TINY_BIGGAN}", "--classes=volcano", "--truncation=0.5", "--chunk_size=2"]
    out = tmp_path / "s"
    r = run_cli("biggan_jax", [*base, "--seeds=1-2", f"--out_dir={out}"])
    assert r.code == 0, r.err[-3000:]
    r = run_cli("biggan_jax", [*base, "--mode=breed", "--parents=1", "--cross=1:2", "--children=2",
                               "--beta=0.3", f"--out_dir={out}"])  # fmt: skip
    assert r.code == 0, r.err[-3000:]
    man = json.loads((out / "manifest.json").read_text())
    assert man["seeds_done"] == [1, 2, "1.0", "1.1", "1x2.0", "1x2.1"], man["seeds_done"]
    assert man["breeding"] == {"beta": 0.3, "cross": "mix", "t": 0.5}
    png = out / "images" / "net_1x2.1" / "r000_volcano_l0.png"
    assert png.is_file() and (out / "images" / "seed_000002" / "r000_volcano_l0.png").is_file()
    scores = json.loads((out / "scores.json").read_text())
    assert "1x2.1" in json.dumps(scores)
    page = (out / "index.html").read_text()
    cmd = next(c for c in _commands(page) if "--seeds=1x2.1" in c)
    argv = shlex.split(cmd, comments=True)
    assert argv[:3] == ["python", "-m", "biggan_jax"] and "--beta=0.3" in argv
    fresh = tmp_path / "fresh"
    argv = [a for a in argv[3:] if not a.startswith("--out_dir=")] + [f"--out_dir={fresh}"]
    r = run_cli("biggan_jax", argv)
    assert r.code == 0, r.err[-3000:]
    assert (fresh / "images" / "net_1x2.1" / "r000_volcano_l0.png").read_bytes() == png.read_bytes()
    r = run_cli("biggan_jax", [*base, "--mode=breed", "--children=2", f"--out_dir={tmp_path / 'x'}"])
    assert_one_line_error(r, (2,), "--parents")
    r = run_cli("biggan_jax", [*base, "--seeds=1.2", "--mode=replace", f"--out_dir={tmp_path / 'x'}"])
    assert_one_line_error(r, (2,), "lineages in --seeds")


def _commands(page: str) -> list[str]:
    """The regenerate commands in a gallery page's JSON data."""
    import json
    import re

    return [json.loads(f'"{m}"') for m in re.findall(r'"command":\s*"((?:[^"\\]|\\.)*)"', page)]
