"""benchmarks/featvis.py's closeness metric. The script itself (--smoke, and its
PyTorch race optimising the same thing as ours) is run by tests/test_gpu_suite.py."""

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
