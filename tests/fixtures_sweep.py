"""Session fixtures shared by the sweep tests (imported by tests/fixtures.py).

``SWEEP_TINY_ARGS`` is the one tiny sweep setting the fault, resume and
two-process tests share (BigGAN-deep-128 at width 4, one class, one latent), so
its compiled chunk programs are built once per worker (and hit the run's XLA
cache in a subprocess)."""

from __future__ import annotations

import json
import pathlib

import pytest

SWEEP_TINY_ARGS = ["--weights=random:biggan-deep-128:4", "--classes=volcano", "--latents=1",
                   "--truncation=0.5"]  # fmt: skip
SWEEP_TINY_SEEDS = 12  # seeds 0-11
SWEEP_TINY_CHUNK = 4  # the reference's chunking: three chunks


def sweep_pngs(out: pathlib.Path) -> dict[str, bytes]:
    """Every PNG under ``out/images``, by relative path."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "images").rglob("*.png"))}


@pytest.fixture(scope="session")
def sweep_tiny_reference(tmp_path_factory):
    """``(out_dir, pngs)`` of one uninterrupted ``python -m biggan_jax`` run (in
    process) of seeds 0-11 in chunks of 4. Read only: tests copy from it."""
    from cli_harness import run_cli

    out = tmp_path_factory.mktemp("sweep_ref") / "sweep"
    r = run_cli("biggan_jax", [*SWEEP_TINY_ARGS, f"--seeds=0-{SWEEP_TINY_SEEDS - 1}",
                               f"--chunk_size={SWEEP_TINY_CHUNK}", f"--out_dir={out}"])  # fmt: skip
    assert r.code == 0, r.err[-3000:]
    m = json.loads((out / "manifest.json").read_text())
    assert m["seeds_done"] == list(range(SWEEP_TINY_SEEDS)) and m["plan"]["chunk"] == SWEEP_TINY_CHUNK
    pngs = sweep_pngs(out)
    assert len(pngs) == SWEEP_TINY_SEEDS + 1  # one image per seed, and θ*'s
    return out, pngs
