"""A two-process sweep (``jax.distributed`` on CPU, gloo collectives, one device
each) writes one output directory equal to a one-process run's, for each generator
of the one sweep engine (BigGAN and the DCGAN: ``fixtures_sweep.GENERATORS``).

Each process gets its own ``--out_dir`` (as a pod slice's workers each have their
own disk): process 0's must hold every seed, the manifest, scores and grids;
process 1's nothing. The run resumes a sweep begun by one process: process 0 alone
knows what is done and tells process 1.
"""

import json
import pathlib
import socket
import subprocess
import sys

import jax
import pytest

from neural_art.sweep import multihost
from fixtures_sweep import GENERATORS, SWEEP_TINY_ARGS, SWEEP_TINY_SEEDS
from procs import ROOT, python_env

SEEDS = SWEEP_TINY_SEEDS  # the reference (sweep_tiny_reference): seeds 0-11, one process

pytestmark = pytest.mark.skipif(
    not hasattr(jax.config, "jax_cpu_collectives_implementation"),
    reason="this jax has no CPU collectives (jax_cpu_collectives_implementation)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_processes(tmp_path, seeds: str, *extra, gen=GENERATORS["biggan"]) -> list[subprocess.CompletedProcess]:
    port = _free_port()
    procs = []
    for i in range(2):
        env = python_env(JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES="2",
                         JAX_PROCESS_ID=str(i))  # fmt: skip
        cmd = [sys.executable, "-m", gen.module, "--multihost", *gen.args, f"--seeds={seeds}",
               f"--out_dir={tmp_path / f'host{i}'}", *extra]  # fmt: skip
        procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))  # fmt: skip
    out = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=600)
            out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return out


def _files(d: pathlib.Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*.png"))
            if not p.name.startswith("grid")}  # fmt: skip


def test_two_processes_write_one_directory_equal_to_one_process(sweep_tiny_reference, tmp_path):
    ref, _, gen = sweep_tiny_reference  # one process, one device, chunks of 4
    ref_files = _files(ref)

    # Process 0's disk holds a sweep begun elsewhere: seeds 0-3 (manifest without a plan);
    # process 1's disk is empty. Process 0 alone can tell what is left.
    host0, host1 = tmp_path / "host0", tmp_path / "host1"
    for name, data in ref_files.items():
        if "original" in name or int(name.split("seed_")[1][:6]) < 4:
            (host0 / name).parent.mkdir(parents=True, exist_ok=True)
            (host0 / name).write_bytes(data)
    m = json.loads((ref / "manifest.json").read_text())
    m["seeds_done"] = [0, 1, 2, 3]
    del m["plan"]
    (host0 / "manifest.json").write_text(json.dumps(m))
    scores = json.loads((ref / "scores.json").read_text())
    (host0 / "scores.json").write_text(json.dumps({str(s): scores[str(s)] for s in range(4)}))
    (host0 / "thumbs").mkdir()
    for s in range(4):
        (host0 / f"thumbs/seed_{s:06d}.jpg").write_bytes((ref / f"thumbs/seed_{s:06d}.jpg").read_bytes())

    runs = _two_processes(tmp_path, f"0-{SEEDS - 1}", "--chunk_size=2", gen=gen)  # 4 chunks, one seed per process each
    for r in runs:
        assert r.returncode == 0, r.stderr[-3000:]
    assert f"wrote {SEEDS} networks" in runs[0].stdout and "wrote" not in runs[1].stdout
    assert not list(host1.rglob("*.png")) and not (host1 / "manifest.json").exists()
    m = json.loads((host0 / "manifest.json").read_text())
    assert m["seeds_done"] == list(range(SEEDS)) and m["plan"]["devices"] == 2 and m["plan"]["chunk"] == 2
    assert _files(host0) == ref_files  # byte for byte, both processes' seeds
    assert (host0 / "grid.png").read_bytes() == (ref / "grid.png").read_bytes()
    scores = json.loads((host0 / "scores.json").read_text())
    assert sorted(map(int, scores)) == list(range(SEEDS))  # the gallery: every seed
    page = (host0 / "index.html").read_text()
    assert all(f"thumbs/seed_{s:06d}.jpg" in page and (host0 / f"thumbs/seed_{s:06d}.jpg").exists() for s in range(SEEDS))


def test_a_refusal_on_process_0_stops_both_processes(tmp_path):
    host0 = tmp_path / "host0"
    host0.mkdir()
    (host0 / "manifest.json").write_text(json.dumps({"version": 1, "truncation": 0.9}))
    runs = _two_processes(tmp_path, "0-3")
    assert runs[0].returncode == 1 and "holds a sweep with other settings" in runs[0].stderr
    assert runs[1].returncode == 1 and "error: process 0 stopped the sweep (" in runs[1].stderr
    assert "holds a sweep with other settings" in runs[1].stderr
    assert "Traceback" not in runs[0].stderr + runs[1].stderr


def test_multihost_without_a_cluster_is_one_line(tmp_path):
    """``--multihost`` with no cluster and no JAX_* settings: one line saying what to set
    (was an internal error: jax's own ValueError). A fresh process: jax.distributed must
    start before any backend does."""
    env = {k: v for k, v in python_env().items() if k not in multihost.ENV}
    cmd = [sys.executable, "-m", "biggan_jax", "--multihost", *SWEEP_TINY_ARGS, "--seeds=0",
           f"--out_dir={tmp_path / 'o'}"]  # fmt: skip
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr[-2000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "--multihost:" in lines[0] and "JAX_COORDINATOR_ADDRESS" in lines[0], r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o").exists()
