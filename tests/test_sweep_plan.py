"""biggan_jax.sharded: pixels independent of strategy, chunking and company; chunk
sized by the compiled program's own memory analysis; no recompilation."""

import jax
import numpy as np
import pytest

import biggan_jax
from biggan_jax.sharded import Perturbation, sweep, sweep_chunks, sweep_plan
from neural_art.images import to_uint8

CFG = biggan_jax.BIGGAN_DEEP_128.replace(channel_width=4)


@pytest.fixture(scope="module")
def setup(tiny_biggan):
    cfg, params = tiny_biggan  # init_params(CFG, key(0))
    assert cfg == CFG
    # one row (volcano), as the CLI tests' tiny sweeps: their chunk-2 program compiles once
    z = biggan_jax.truncated_noise(jax.random.key(1), 1, 0.5)
    y = biggan_jax.class_vector(["volcano"])
    return params, z, y, dict(root=jax.random.key(42), perturbation=Perturbation(alpha=0.35))


def test_png_pixels_do_not_depend_on_chunk_or_company(setup):
    """Seed k's PNG pixels (to_uint8) are identical alone, in any chunk, any position
    ("map"); a vmapped group's are within one grey level of them (batched-kernel convs
    round differently, <= 3e-7)."""
    params, z, y, kw = setup
    seeds = list(range(5))
    ref = to_uint8(sweep(CFG, params, seeds, z, y, 0.5, strategy="map", **kw))
    runs = {
        "map, chunk 2": (seeds, dict(strategy="map", chunk_size=2)),
        "map, alone": ([3], dict(strategy="map")),
    }
    for name, (ss, extra) in runs.items():
        got = to_uint8(sweep(CFG, params, ss, z, y, 0.5, **kw, **extra))
        np.testing.assert_array_equal(got, ref[ss], err_msg=name)
    vm = to_uint8(sweep(CFG, params, seeds, z, y, 0.5, strategy="vmap", chunk_size=5, **kw))
    assert np.abs(vm.astype(int) - ref).max() <= 1
    assert not np.array_equal(ref[0], ref[1])


def test_png_pixels_of_a_vmapped_group_do_not_depend_on_its_size_or_company(setup, optimized):
    """The same within the vmapped family ("hybrid" / "vmap"), on the default build
    (``optimized``): with XLA's optimisations off, a vmapped group of 2 and one of 5
    gave other pixels on XLA:CPU (2026-12-03)."""
    params, z, y, kw = setup
    vm = to_uint8(sweep(CFG, params, list(range(5)), z, y, 0.5, strategy="vmap", chunk_size=5, **kw))
    hy = to_uint8(sweep(CFG, params, [4, 1, 0], z, y, 0.5, strategy="hybrid", group=2,
                        chunk_size=2, **kw))  # other order, last group padded
    np.testing.assert_array_equal(hy, vm[[4, 1, 0]])
    assert not np.array_equal(hy[0], hy[1])


def test_chunk_fits_the_budget_by_the_compiled_programs_own_numbers(setup):
    params, z, y, kw = setup
    seeds = list(range(64))
    big = sweep_plan(CFG, params, seeds, z, y, 0.5, strategy="hybrid", group=2, **kw)
    assert big.chunk == 16 and big.peak_bytes <= big.budget
    one_group = sweep_plan(CFG, params, seeds, z, y, 0.5, strategy="hybrid", group=2,
                           chunk_size=2, **kw).peak_bytes
    budget = (big.peak_bytes + one_group) // 2  # between one group and the default chunk
    plan = sweep_plan(CFG, params, seeds, z, y, 0.5, strategy="hybrid", group=2, budget=budget,
                      **kw)
    # peak_bytes is the memory_analysis() of the very program the sweep then runs
    assert plan.budget == budget and plan.peak_bytes <= budget and 2 <= plan.chunk < 16
    assert plan.as_dict()["strategy"] == "hybrid" and plan.as_dict()["group"] == 2


def test_a_second_identical_sweep_compiles_nothing(setup):
    params, z, y, kw = setup
    compiles = []
    listener = lambda name, secs, **_: compiles.append(name) if "backend_compile" in name else None
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        list(sweep_chunks(CFG, params, [0, 1, 2], z, y, 0.5, chunk_size=3, **kw))
        first = len(compiles)
        list(sweep_chunks(CFG, params, [0, 1, 2], z, y, 0.5, chunk_size=3, **kw))
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert first > 0 and len(compiles) == first, compiles[first:]


def test_the_program_cache_is_bounded_least_recently_used_first():
    """The chunk programs live in a bounded LRU: at most ``maxsize``, the least
    recently used dropped first, a hit builds nothing."""
    from neural_art.sweep import engine

    cache, built = engine.ProgramCache(maxsize=2), []
    build = lambda k: lambda: built.append(k) or f"prog{k}"
    assert cache.get("a", build("a")) == "proga" and cache.get("b", build("b")) == "progb"
    assert cache.get("a", build("a")) == "proga" and built == ["a", "b"]  # a hit: no build
    cache.get("c", build("c"))  # drops b, the least recently used
    assert len(cache) == 2 and cache.get("a", build("a")) == "proga" and built == ["a", "b", "c"]
    cache.get("b", build("b"))
    assert built == ["a", "b", "c", "b"] and len(cache) == 2
    assert isinstance(engine._COMPILED, engine.ProgramCache)  # the sweep's programs live in one
    assert len(engine._COMPILED) <= engine._COMPILED.maxsize
