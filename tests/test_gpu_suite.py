"""benchmarks/gpu_suite.py --smoke: every benchmark script runs (tiny sizes, CPU) and
the suite writes one table block with date and device, replacing its own block; each
script's PyTorch peer computes what ours computes (the parity figures it prints)."""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_suite_smoke_writes_every_table(tmp_path):
    out = tmp_path / "B.md"
    out.write_text("# Benchmarks\n\nkept text\n")
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_suite.py"), "--smoke", f"--out={out}"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1500)
    text = out.read_text()
    assert r.returncode == 0, text[-4000:] + r.stderr[-2000:]
    assert "**FAILED**" not in text
    assert text.startswith("# Benchmarks\n\nkept text\n") and text.count("<!-- suite:gpu-smoke -->") == 1
    assert "UTC" in text and ("CPU:" in text or "GPU:" in text) and "jax " in text
    for script in ("biggan_forward.py", "biggan_sweep.py", "style.py", "dcgan.py", "featvis.py"):
        assert f"benchmarks/{script} --smoke" in text
    assert text.count("| impl") + text.count("|---") >= 5  # each script printed a table
    # the summary: ours over PyTorch eager for each of the five workloads, with a median
    summary = text[text.index("Ours (fp32) over PyTorch"):text.index("Tables of the last round")]
    assert summary.count("| pytorch eager") >= 5, summary
    assert summary.count("×** |") >= 5, summary
    # parity of the races (measured: 4.5e-7, 2.4e-7 / 7.2e-7, 0.08%)
    fwd = float(re.search(r"max \|ours fp32 - pytorch\|: ([0-9.e+-]+)", text).group(1))
    assert fwd < 1e-4, fwd
    for which in ("d_loss", "g_loss"):  # one DCGAN training step from the same weights
        dev = float(re.search(rf"step-1 \|{which} - torch\|: ([0-9.e+-]+)", text).group(1))
        assert dev < 1e-4, (which, dev)
    # featvis: PyTorch's fp32 objective trajectory from the same initial images
    traj = re.search(r"torch_eager/float32 vs ours/float32: mean objective trajectory max dev ([0-9.]+)%", text)
    assert float(traj.group(1)) < 1.0, traj.group(0)
