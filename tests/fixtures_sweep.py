"""Session fixtures shared by the sweep-engine tests (imported by tests/fixtures.py).

The engine (:mod:`neural_art.sweep`) runs every generator, so its tests run for each
CLI in :data:`GENERATORS`: one tiny setting each (BigGAN-deep-128 at width 4, one
class, one latent; the DCGAN's 32x32 preset at width 8, one latent), whose compiled
chunk programs are built once per worker (and hit the run's XLA cache in a
subprocess). ``sweep_tiny_reference`` is parametrised over them: every test that
takes it runs once per generator."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import pytest


@dataclasses.dataclass(frozen=True)
class TinySweep:
    module: str  # what `python -m` runs
    args: tuple[str, ...]  # the tiny setting (weights, rows)
    image: str  # the one row's file name in a network's directory


GENERATORS = {
    "biggan": TinySweep("biggan_jax", ("--weights=random:biggan-deep-128:4", "--classes=volcano", "--latents=1",
                                       "--truncation=0.5"), "r000_volcano_l0.png"),
    "dcgan": TinySweep("dcgan.sweep", ("--weights=random:seed-32:8", "--latents=1"), "z0.png"),
}  # fmt: skip
SWEEP_TINY_ARGS = list(GENERATORS["biggan"].args)  # BigGAN's (the tests of BigGAN-only flags)
SWEEP_TINY_SEEDS = 12  # seeds 0-11
SWEEP_TINY_CHUNK = 4  # the reference's chunking: three chunks


def sweep_pngs(out: pathlib.Path) -> dict[str, bytes]:
    """Every PNG under ``out/images``, by relative path."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "images").rglob("*.png"))}


@pytest.fixture(scope="session", params=sorted(GENERATORS))
def sweep_tiny_reference(request, tmp_path_factory):
    """``(out_dir, pngs, TinySweep)`` of one uninterrupted in-process run of a generator's
    sweep CLI, seeds 0-11 in chunks of 4. Read only: tests copy from it."""
    from cli_harness import run_cli

    gen = GENERATORS[request.param]
    out = tmp_path_factory.mktemp(f"sweep_ref_{request.param}") / "sweep"
    r = run_cli(gen.module, [*gen.args, f"--seeds=0-{SWEEP_TINY_SEEDS - 1}", f"--chunk_size={SWEEP_TINY_CHUNK}",
                             f"--out_dir={out}"])  # fmt: skip
    assert r.code == 0, r.err[-3000:]
    m = json.loads((out / "manifest.json").read_text())
    assert m["seeds_done"] == list(range(SWEEP_TINY_SEEDS)) and m["plan"]["chunk"] == SWEEP_TINY_CHUNK
    pngs = sweep_pngs(out)
    assert len(pngs) == SWEEP_TINY_SEEDS + 1  # one image per seed, and θ*'s
    return out, pngs, gen
