"""BigGAN-deep model: shapes, invariants, truncation statistics, classes, jit/vmap."""

import math
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from procs import run_python

import biggan_jax
from biggan_jax.layers import power_iteration, select_stats, sn_sigma, truncation_stat_selector

# tests/fixtures.py's TINY_BIGGAN (width 4); batches of 2 throughout, so the compiled
# generator is shared by these tests (and by test_perturb's, test_biggan_cli's).
SMALL = biggan_jax.BIGGAN_DEEP_128.replace(channel_width=4)


@pytest.fixture(scope="module")
def small_params(tiny_biggan):
    cfg, params = tiny_biggan
    assert cfg == SMALL
    return params


def test_block_names_match_janik_fig2():
    cfg = biggan_jax.BIGGAN_DEEP_256
    blocks = cfg.blocks()
    assert [b.name for b in blocks] == [f"B{i}" for i in range(1, 14)]
    assert [b.name for b in blocks if b.kind == "attention"] == ["B9"]
    assert [b.name for b in blocks if b.up] == ["B2", "B4", "B6", "B8", "B11", "B13"]
    assert (
        len(biggan_jax.BIGGAN_DEEP_128.blocks()) == 11
        and len(biggan_jax.BIGGAN_DEEP_512.blocks()) == 15
    )


def test_config_validation():
    with pytest.raises(ValueError, match="upsample to"):
        biggan_jax.BIGGAN_DEEP_128.replace(output_dim=256)
    with pytest.raises(ValueError, match="unknown BigGAN config field"):
        biggan_jax.BigGANConfig.from_hf_dict(
            {**biggan_jax.BIGGAN_DEEP_128.to_hf_dict(), "bogus": 1}
        )
    cfg = biggan_jax.BigGANConfig.from_hf_dict(
        biggan_jax.BIGGAN_DEEP_512.to_hf_dict(), name="biggan-deep-512"
    )
    assert cfg == biggan_jax.BIGGAN_DEEP_512


def test_shapes_range_and_finiteness(small_params):
    z = biggan_jax.truncated_noise(jax.random.key(1), 2, 0.5)
    y = biggan_jax.class_vector([3, {"stupa": 0.5, 0: 0.5}])
    out = biggan_jax.generate(SMALL, small_params, z, y, 0.5)
    assert out.shape == (2, 128, 128, 3) and out.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(out))) and float(jnp.abs(out).max()) <= 1.0


def test_spectral_vectors_give_top_singular_value(small_params):
    k = small_params["params"]["B3"]["conv_1"]["kernel"]
    s = small_params["spectral"]["B3"]["conv_1"]
    top = np.linalg.svd(np.asarray(k).reshape(-1, k.shape[-1]), compute_uv=False)[0]
    np.testing.assert_allclose(float(sn_sigma(k, s["u"], s["v"])), top, rtol=0.1)
    u, v = power_iteration(k, s["u"], n_iter=50)
    np.testing.assert_allclose(float(sn_sigma(k, u, v)), top, rtol=1e-3)
    # normalised kernel has spectral norm ~1
    w = np.asarray(k).reshape(-1, k.shape[-1]) / float(sn_sigma(k, u, v))
    np.testing.assert_allclose(np.linalg.svd(w, compute_uv=False)[0], 1.0, rtol=1e-3)


def _reference_rows(t, n=51):
    """The reference's arithmetic (pytorch_pretrained_biggan BigGANBatchNorm.forward)."""
    coef, start = math.modf(t / (1.0 / (n - 1)))
    start = int(start)
    if coef != 0.0:
        return {start: coef, start + 1: 1 - coef}
    return {start: 1.0}


def test_hf_compat_selector_reproduces_reference_arithmetic():
    table = np.random.RandomState(0).randn(51, 4).astype(np.float32)
    for t in np.round(np.arange(0.01, 1.0001, 0.01), 2).tolist() + [0.123, 0.5555, 0.999]:
        want = sum(w * table[r] for r, w in _reference_rows(t).items())
        got = select_stats(table, truncation_stat_selector(t, hf_compat=True))
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, atol=1e-6)


def test_reference_quirks_are_exactly_the_documented_truncations():
    """At the grid truncations k/50 the reference should use row k alone; float
    rounding of t/0.02 makes it use another row exactly at 0.14, 0.28, 0.56, 0.58,
    0.94. Ours (default) uses row k there."""
    wrong = [
        round(k / 50, 2) for k in range(1, 51) if _reference_rows(round(k / 50, 2)) != {k: 1.0}
    ]
    assert wrong == [0.14, 0.28, 0.56, 0.58, 0.94]
    for t in wrong:
        rows = _reference_rows(t)
        assert max(rows, key=rows.get) != round(
            t * 50
        )  # it is the wrong row, not a rounding detail
    table = np.random.RandomState(1).randn(51, 2).astype(np.float32)
    for k in range(1, 51):
        np.testing.assert_allclose(np.asarray(select_stats(table, truncation_stat_selector(k / 50))), table[k],
                                   rtol=1e-5, atol=1e-6)  # fmt: skip


def test_correct_selector_interpolates_and_is_continuous():
    table = np.arange(51, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    for t in (0.02, 0.14, 0.4, 1.0):
        np.testing.assert_allclose(
            np.asarray(select_stats(table, truncation_stat_selector(t))), t * 50, rtol=1e-5
        )
    np.testing.assert_allclose(
        np.asarray(select_stats(table, truncation_stat_selector(0.123))), 6.15, rtol=1e-5
    )
    # traceable
    f = jax.jit(lambda t: select_stats(table, truncation_stat_selector(t)))
    np.testing.assert_allclose(np.asarray(f(0.5)), 25.0, rtol=1e-6)


def test_hf_compat_needs_concrete_truncation(small_params):
    z = jnp.zeros((2, 128))
    y = biggan_jax.class_vector([1, 2])
    f = jax.jit(lambda p, t: biggan_jax.generate(SMALL, p, z, y, t, hf_compat=True))
    with pytest.raises(TypeError, match="concrete"):
        f(small_params, 0.5)
    # without hf_compat the truncation may be traced
    out = jax.jit(lambda p, t: biggan_jax.generate(SMALL, p, z, y, t))(small_params, 0.5)
    np.testing.assert_allclose(np.asarray(out), np.asarray(biggan_jax.generate(SMALL, small_params, z, y, 0.5)),
                               atol=1e-6)  # fmt: skip


def test_no_recompilation_across_truncations(small_params):
    from biggan_jax.model import _generate

    z = biggan_jax.truncated_noise(jax.random.key(2), 2, 0.4)
    y = biggan_jax.class_vector([5, 6])
    biggan_jax.generate(SMALL, small_params, z, y, 0.4)
    n = _generate._cache_size()
    for t in (0.3, 0.77, 1.0):
        biggan_jax.generate(SMALL, small_params, z, y, t).block_until_ready()
    biggan_jax.generate(SMALL, small_params, z, y, 0.14, hf_compat=True).block_until_ready()
    assert _generate._cache_size() == n


def test_vmap_over_parameter_sets(small_params):
    # another parameter set, and the stack, in numpy (eager jnp ops compile per leaf shape)
    rng = np.random.default_rng(7)
    other = {**small_params, "params": jax.tree.map(
        lambda x: np.asarray(x) * (1 + 0.35 * rng.standard_normal(x.shape)).astype(np.float32),
        small_params["params"])}  # fmt: skip
    stacked = jax.tree.map(lambda a, b: np.stack([np.asarray(a), np.asarray(b)]), small_params, other)
    z = biggan_jax.truncated_noise(jax.random.key(3), 2, 0.5)
    y = biggan_jax.class_vector([10, 20])
    both = jax.vmap(lambda p: biggan_jax.generate(SMALL, p, z, y, 0.5))(stacked)
    assert not np.allclose(both[0], both[1], atol=1e-2)  # two generators, not one twice
    for i, p in enumerate((small_params, other)):
        np.testing.assert_allclose(
            np.asarray(both[i]), np.asarray(biggan_jax.generate(SMALL, p, z, y, 0.5)), atol=1e-5
        )


def test_bf16_close_to_fp32(small_params):
    z = biggan_jax.truncated_noise(jax.random.key(4), 2, 0.5)
    y = biggan_jax.class_vector(["volcano", "stupa"])
    a = np.asarray(biggan_jax.generate(SMALL, small_params, z, y, 0.5))
    b = np.asarray(biggan_jax.generate(SMALL, small_params, z, y, 0.5, dtype=jnp.bfloat16))
    mse = np.mean((a - b) ** 2)
    psnr = 10 * np.log10(4.0 / mse)  # peak-to-peak range 2 for [-1, 1]
    assert psnr > 30, psnr


def test_bad_inputs(small_params):
    z = jnp.zeros((2, 128))
    y = biggan_jax.class_vector([1, 2])
    with pytest.raises(ValueError, match="truncation"):
        biggan_jax.generate(SMALL, small_params, z, y, 0.0)
    with pytest.raises(ValueError, match="truncation"):
        biggan_jax.generate(SMALL, small_params, z, y, 1.5)
    with pytest.raises(ValueError, match=r"z must be \[B, 128\]"):
        biggan_jax.generate(SMALL, small_params, jnp.zeros((2, 100)), y, 0.5)
    with pytest.raises(ValueError, match="y must be"):
        biggan_jax.generate(SMALL, small_params, z, y[:1], 0.5)


def test_class_vector_names_ids_and_soft():
    v = biggan_jax.class_vector(
        ["stupa", "Tope", "n07920052", 980, "980", {"stupa": 0.25, "volcano": 0.75}]
    )
    assert v.shape == (6, 1000)
    assert list(v[:5].argmax(1)) == [832, 832, 967, 980, 980]
    assert v[5, 832] == 0.25 and v[5, 980] == 0.75 and v[5].sum() == 1.0
    assert biggan_jax.class_names()[980] == "volcano" and len(biggan_jax.class_names()) == 1000
    assert biggan_jax.class_index("Great_White shark") == 2


def test_unknown_class_lists_closest_names():
    with pytest.raises(ValueError, match=r"unknown ImageNet class 'espreso'.*'espresso' \(967\)"):
        biggan_jax.class_vector(["espreso"])
    with pytest.raises(ValueError, match="out of range"):
        biggan_jax.class_vector([1000])


def test_truncated_noise():
    z = biggan_jax.truncated_noise(jax.random.key(0), 1000, 0.4)
    assert z.shape == (1000, 128)
    assert float(jnp.abs(z).max()) <= 0.8 + 1e-6
    np.testing.assert_allclose(float(z.std()), 0.4 * 0.8796, rtol=0.02)  # std of TN(-2, 2) = 0.8796
    np.testing.assert_array_equal(
        np.asarray(z), np.asarray(biggan_jax.truncated_noise(jax.random.key(0), 1000, 0.4))
    )


def test_imports_and_generates_without_torch_and_tensorflow(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in ('torch', 'tensorflow', 'tensorflow_hub'):
                    raise ImportError('blocked: ' + name)
        sys.meta_path.insert(0, Block())
        import jax, biggan_jax, neural_art.images
        cfg = biggan_jax.BIGGAN_DEEP_128.replace(channel_width=4)
        params = biggan_jax.init_params(cfg, jax.random.key(0))
        z = biggan_jax.truncated_noise(jax.random.key(1), 2, 0.5)
        out = biggan_jax.generate(cfg, params, z, biggan_jax.class_vector(['volcano', 'stupa']), 0.5)
        neural_art.images.save_grid(sys.argv[1], out)
        assert not any(m.split('.')[0] in ('torch', 'tensorflow') for m in sys.modules)
        print('ok', out.shape)
        """
    )
    # a new interpreter: this one has imported torch and tensorflow for other tests
    r = run_python(["-c", code, tmp_path / "g.png"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert "ok (2, 128, 128, 3)" in r.stdout and (tmp_path / "g.png").exists()


def test_grid_writer_labels_and_wraps_a_long_title(tmp_path):
    from PIL import Image

    from neural_art.images import image_grid, save_grid

    x = np.linspace(-1, 1, 6 * 16 * 16 * 3, dtype=np.float32).reshape(6, 16, 16, 3)
    plain = image_grid(x, 3, pad=2)
    assert plain.shape == (2 * 18 + 2, 3 * 18 + 2, 3) and plain.dtype == np.uint8
    short = np.asarray(Image.open(save_grid(tmp_path / "a.png", x, 3, title="t")))
    long = np.asarray(Image.open(save_grid(tmp_path / "b.png", x, 3, title="word " * 20)))
    # the grid's width is kept; the long title takes more lines instead of being cut off
    assert short.shape[1] == long.shape[1] == plain.shape[1]
    assert long.shape[0] > short.shape[0] > plain.shape[0]
    np.testing.assert_array_equal(long[-plain.shape[0] :], plain)
