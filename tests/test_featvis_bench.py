"""benchmarks/featvis.py in this process at toy size (VGG-16 at width 8, the suite's
``--smoke`` arguments): it runs, its PyTorch race optimises the same thing as ours
(fp32 objective trajectories from the same initial images agree), and the suite reads
its output; and its closeness metric."""

import contextlib
import io
import pathlib
import re
import sys

import numpy as np
import pytest

from fixtures import TINY_VGG16

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import featvis as bench  # noqa: E402
from benchmarks import gpu_suite  # noqa: E402


def test_closeness_metric():
    ref = np.asarray([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    c = bench.closeness(ref + [[0, 0, 0.2], [0, 0, 0.2]], ref)
    assert c["final_rel_dev"] == pytest.approx(0.1) and c["max_dev_over_rise"] == pytest.approx(0.1)
    assert c["max_rel_dev"] == pytest.approx(0.1) and (c["final"], c["final_ref"]) == (2.2, 2.0)


def test_smoke_matches_torch_eager_and_the_suite_reads_it():
    pytest.importorskip("torch", reason="the benchmark's PyTorch side needs torch")
    (args,) = [a for _, s, a, _ in gpu_suite._smoke(gpu_suite.SUITES["gpu"]) if s == "featvis.py"]
    argv = [*args, f"--weights={TINY_VGG16}"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        r = bench.main(argv)
    out = buf.getvalue()
    assert (r["size"], r["targets"], r["steps"]) == (32, 4, 3)
    assert r["ours/float32"]["img_it_per_s"] > 0 and r["torch_eager/float32"]["img_it_per_s"] > 0
    assert not any(k.startswith("torch_compile") or "bfloat16" in k for k in r)  # eager, fp32
    # the race: PyTorch's trajectory from the same initial images as ours; measured 0.004% of
    # the final value and 0.03% of the rise (0.08% at full width)
    c = r["torch_eager/float32 vs ours/float32"]
    assert c["max_rel_dev"] < 1e-2 and c["max_dev_over_rise"] < 0.05, c
    assert re.search(r"torch_eager/float32 vs ours/float32: mean objective trajectory max dev "
                     r"[0-9.]+% of fp32's final value", out)  # fmt: skip
    # what the suite makes of it: a section without the JSON line, ours/PyTorch eager
    text = gpu_suite.section("featvis", "featvis.py", argv, out, 0, "", 1.0)
    assert "**FAILED**" not in text and not re.search(r"^\s*\{", text, re.M) and "ours float32" in text
    ratio = gpu_suite.ratios(out)
    assert list(ratio) == ["pytorch eager"]
    want = r["ours/float32"]["img_it_per_s"] / r["torch_eager/float32"]["img_it_per_s"]
    assert ratio["pytorch eager"] == pytest.approx(want)
