"""biggan_jax.sweep: seed stability across chunks and devices (the CLI: test_biggan_cli.py)."""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from biggan_jax.sharded import Perturbation, parse_seeds

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", **kw.pop("env", {})}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=900, **kw
    )


def test_seed_stability_on_8_fake_devices_with_chunking():
    """Seed k's images are the same swept alone, among 16, in other chunk sizes, on 1 or 8 devices."""
    code = textwrap.dedent(
        """
        import os
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
        import jax, numpy as np, biggan_jax
        from biggan_jax.sharded import sweep, seed_mesh, Perturbation
        assert jax.device_count() == 8
        cfg = biggan_jax.BIGGAN_DEEP_128.replace(channel_width=4)
        params = biggan_jax.init_params(cfg, jax.random.key(0))
        z = biggan_jax.truncated_noise(jax.random.key(1), 2, 0.5)
        y = biggan_jax.class_vector(["volcano", "stupa"])
        root = jax.random.key(42)
        seeds = list(range(16))
        kw = dict(root=root, perturbation=Perturbation(alpha=0.35))
        a = sweep(cfg, params, seeds, z, y, 0.5, chunk_size=8, mesh=seed_mesh(), **kw)    # 1 per device, 2 chunks
        b = sweep(cfg, params, seeds, z, y, 0.5, chunk_size=16, mesh=seed_mesh(), **kw)   # 2 per device, 1 chunk
        one = seed_mesh(jax.devices()[:1])
        c = sweep(cfg, params, [5], z, y, 0.5, mesh=one, **kw)                            # alone, 1 device
        np.testing.assert_array_equal(biggan_jax.sweep(cfg, params, [5], z, y, 0.5, mesh=one, **kw), c)
        d = sweep(cfg, params, [11, 3], z, y, 0.5, chunk_size=1, mesh=one, **kw)          # other order, 2 chunks
        e = sweep(cfg, params, [3, 5, 11, 13, 14], z, y, 0.5, chunk_size=8, mesh=seed_mesh(), **kw)  # padded
        np.testing.assert_allclose(b, a, atol=1e-5)
        np.testing.assert_allclose(c[0], a[5], atol=1e-5)
        np.testing.assert_allclose(d, a[[11, 3]], atol=1e-5)
        np.testing.assert_allclose(e, a[[3, 5, 11, 13, 14]], atol=1e-5)
        assert not np.allclose(a[0], a[1], atol=1e-3)  # different networks
        rep = dict(root=root, perturbation=Perturbation(mode="replace", block="B2"), mesh=one, chunk_size=1)
        r = sweep(cfg, params, [0, 2], z, y, 0.5, **rep)
        r1 = sweep(cfg, params, [2], z, y, 0.5, **rep)
        np.testing.assert_allclose(r1[0], r[1], atol=1e-5)
        assert not np.allclose(r[0], a[0], atol=1e-3)
        print("stable", a.shape)
        """
    )
    r = _run(["-c", code])
    assert r.returncode == 0, r.stderr[-4000:]
    assert "stable (16, 2, 128, 128, 3)" in r.stdout


def test_parse_seeds():
    assert parse_seeds("0-3,7,9-10") == [0, 1, 2, 3, 7, 9, 10]
    assert parse_seeds("5,5,1") == [5, 1]
    for bad in ("0-", "a-3", "3-1", "1,,2", "-1"):
        with pytest.raises(ValueError, match="malformed seed range"):
            parse_seeds(bad)
    with pytest.raises(ValueError, match="alpha"):
        Perturbation(alpha=-0.1)
