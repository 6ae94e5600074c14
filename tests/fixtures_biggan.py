"""Session fixtures shared by the biggan tests (imported by tests/fixtures.py)."""

from __future__ import annotations

import pytest

# One tiny sweep of the BigGAN CLI, shared by tests/test_biggan_cli.py (manifest,
# regeneration, resume) and tests/test_golden.py's "biggan_sweep" case (pixels).
BIGGAN_SWEEP_ARGV = [
    "--weights=random:biggan-deep-128:4", "--classes=volcano,espresso", "--seeds=0-2",
    "--latents=1", "--chunk_size=2", "--truncation=0.5",
]  # fmt: skip


@pytest.fixture(scope="session")
def biggan_cli_sweep(tmp_path_factory):
    """``(out_dir, CliResult)`` of ``python -m biggan_jax *BIGGAN_SWEEP_ARGV``, run
    in-process once per worker. Tests only read it (a test that writes copies it)."""
    from cli_harness import run_cli

    out = tmp_path_factory.mktemp("biggan_cli_sweep") / "sweep"
    r = run_cli("biggan_jax", [*BIGGAN_SWEEP_ARGV, f"--out_dir={out}"])
    assert r.code == 0, r.err[-3000:]
    return out, r
