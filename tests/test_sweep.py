"""biggan_jax.sweep: seed stability across chunks and devices (the CLI: test_biggan_cli.py)."""

import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from fixtures import TINY_BIGGAN
from procs import ROOT, python_env

import biggan_jax
from biggan_jax.sharded import Perturbation, parse_seeds, seed_mesh, sweep

# 8 fake CPU devices need XLA_FLAGS before jax starts: one interpreter, two layouts
# of one program each (1 and 2 seeds per device); it saves the 16 seeds' images.
_EIGHT = textwrap.dedent(
    """
    import sys, jax, numpy as np, biggan_jax
    from biggan_jax.sharded import sweep, seed_mesh, Perturbation
    assert jax.device_count() == 8
    cfg, params = biggan_jax.load({weights!r})
    z = biggan_jax.truncated_noise(jax.random.key(1), 1, 0.5)
    y = biggan_jax.class_vector(["volcano"])
    kw = dict(root=jax.random.key(42), perturbation=Perturbation(alpha=0.35), mesh=seed_mesh())
    seeds = list(range(16))
    a = sweep(cfg, params, seeds, z, y, 0.5, chunk_size=8, **kw)    # 1 per device, 2 chunks
    b = sweep(cfg, params, seeds, z, y, 0.5, chunk_size=16, **kw)   # 2 per device, 1 chunk
    e = sweep(cfg, params, [3, 5, 11, 13, 14], z, y, 0.5, chunk_size=8, **kw)  # padded
    np.testing.assert_allclose(b, a, atol=1e-5)
    np.testing.assert_allclose(e, a[[3, 5, 11, 13, 14]], atol=1e-5)
    np.save(sys.argv[1], a)
    print("stable", a.shape)
    """
)


def test_seed_stability_on_8_fake_devices_with_chunking(tiny_biggan, tmp_path):
    """Seed k's images are the same swept alone, among 16, in other chunk sizes, on 1 or 8
    devices: 8 fake devices in a subprocess, 1 device here (the same numbers)."""
    saved = tmp_path / "a.npy"
    proc = subprocess.Popen([sys.executable, "-c", _EIGHT.format(weights=TINY_BIGGAN), saved], cwd=ROOT,
                            env=python_env(XLA_FLAGS="--xla_force_host_platform_device_count=8"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:  # meanwhile, one device in this process
        cfg, params = tiny_biggan
        z = biggan_jax.truncated_noise(jax.random.key(1), 1, 0.5)
        y = biggan_jax.class_vector(["volcano"])
        root = jax.random.key(42)
        kw = dict(root=root, perturbation=Perturbation(alpha=0.35))
        one = seed_mesh(jax.devices()[:1])
        c = sweep(cfg, params, [5], z, y, 0.5, mesh=one, **kw)  # alone, 1 device
        np.testing.assert_array_equal(biggan_jax.sweep(cfg, params, [5], z, y, 0.5, mesh=one, **kw), c)
        d = sweep(cfg, params, [11, 3], z, y, 0.5, chunk_size=1, mesh=one, **kw)  # other order, 2 chunks
        rep = dict(root=root, perturbation=Perturbation(mode="replace", block="B2"), mesh=one, chunk_size=1)
        r = sweep(cfg, params, [0, 2], z, y, 0.5, **rep)
        r1 = sweep(cfg, params, [2], z, y, 0.5, **rep)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr[-4000:]
    assert "stable (16, 1, 128, 128, 3)" in stdout
    a = np.load(saved)  # 8 devices, chunks of 8
    np.testing.assert_allclose(c[0], a[5], atol=1e-5)
    np.testing.assert_allclose(d, a[[11, 3]], atol=1e-5)
    assert not np.allclose(a[0], a[1], atol=1e-3)  # different networks
    np.testing.assert_allclose(r1[0], r[1], atol=1e-5)
    assert not np.allclose(r[0], a[0], atol=1e-3)


def test_parse_seeds():
    assert parse_seeds("0-3,7,9-10") == [0, 1, 2, 3, 7, 9, 10]
    assert parse_seeds("5,5,1") == [5, 1]
    for bad in ("0-", "a-3", "3-1", "1,,2", "-1"):
        with pytest.raises(ValueError, match="malformed seed range"):
            parse_seeds(bad)
    with pytest.raises(ValueError, match="alpha"):
        Perturbation(alpha=-0.1)


def test_public_api_refuses_no_seeds_and_non_seeds_before_compute(tiny_biggan):
    cfg, params = tiny_biggan
    z = biggan_jax.truncated_noise(jax.random.key(1), 1, 0.5)
    y = biggan_jax.class_vector(["volcano"])
    kw = dict(root=jax.random.key(0), perturbation=Perturbation(alpha=0.35))
    for bad, msg in (([], "no seeds"), ([1, -2], r"\[-2\]"), ([2**31], "integers in"), ([1.5], "integers in")):
        with pytest.raises(ValueError, match=msg):
            sweep(cfg, params, bad, z, y, 0.5, **kw)
    with pytest.raises(ValueError, match="no seeds"):
        biggan_jax.sharded.sweep_plan(cfg, params, [], z, y, 0.5, **kw)
