"""benchmarks/featvis.py --smoke runs, and its PyTorch race optimises the same
thing as ours: fp32 objective trajectories from the same initial images agree."""

import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_closeness_metric():
    sys.path.insert(0, ROOT)
    from benchmarks import featvis as bench

    ref = np.asarray([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    c = bench.closeness(ref + [[0, 0, 0.2], [0, 0, 0.2]], ref)
    assert c["final_rel_dev"] == pytest.approx(0.1) and c["max_dev_over_rise"] == pytest.approx(0.1)


def test_benchmark_smoke_matches_torch_eager():
    pytest.importorskip("torch", reason="the benchmark's PyTorch side needs torch")
    sys.path.insert(0, ROOT)
    from benchmarks import featvis as bench

    r = bench.main(["--smoke", "--dtypes=float32", "--torch_modes=eager"])
    assert r["ours/float32"]["img_it_per_s"] > 0 and r["torch_eager/float32"]["img_it_per_s"] > 0
    # measured: 0.08% of the final value (Adam, 3 steps, 4 targets, 32²)
    assert r["torch_eager/float32 vs ours/float32"]["max_rel_dev"] < 1e-2
