"""A two-process sweep (``jax.distributed`` on CPU, gloo collectives, one device
each) writes one output directory equal to a one-process run's.

Each process gets its own ``--out_dir`` (as a pod slice's workers each have their
own disk): process 0's must hold every seed, the manifest, scores and grids;
process 1's nothing. The run resumes a sweep begun by one process: process 0 alone
knows what is done and tells process 1.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import jax
import pytest

from biggan_jax import experiment

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARGS = ["--weights=random:biggan-deep-128:8", "--classes=volcano,stupa", "--latents=1", "--truncation=0.5"]

pytestmark = pytest.mark.skipif(
    not hasattr(jax.config, "jax_cpu_collectives_implementation"),
    reason="this jax has no CPU collectives (jax_cpu_collectives_implementation)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_processes(tmp_path, seeds: str, *extra) -> list[subprocess.CompletedProcess]:
    port = _free_port()
    procs = []
    for i in range(2):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "NEURAL_ART_JAX_CACHE": str(tmp_path / "cache"),
               "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(i)}  # fmt: skip
        cmd = [sys.executable, "-m", "biggan_jax", "--multihost", *ARGS, f"--seeds={seeds}",
               f"--out_dir={tmp_path / f'host{i}'}", *extra]  # fmt: skip
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=900)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def _files(d: pathlib.Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*.png"))
            if not p.name.startswith("grid")}  # fmt: skip


def test_two_processes_write_one_directory_equal_to_one_process(tmp_path):
    ref = tmp_path / "one"
    experiment.run(experiment.SweepJob(weights=ARGS[0].split("=")[1], classes=("volcano", "stupa"),
                                       seeds=tuple(range(10)), out_dir=str(ref), truncation=0.5),
                   progress=False)  # fmt: skip
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

    runs = _two_processes(tmp_path, "0-9", "--chunk_size=2")  # 3 chunks, one seed per process each
    for r in runs:
        assert r.returncode == 0, r.stderr[-3000:]
    assert "wrote 10 networks" in runs[0].stdout and "wrote" not in runs[1].stdout
    assert not list(host1.rglob("*.png")) and not (host1 / "manifest.json").exists()
    m = json.loads((host0 / "manifest.json").read_text())
    assert m["seeds_done"] == list(range(10)) and m["plan"]["devices"] == 2 and m["plan"]["chunk"] == 2
    assert _files(host0) == ref_files  # byte for byte, both processes' seeds
    assert (host0 / "grid.png").read_bytes() == (ref / "grid.png").read_bytes()
    scores = json.loads((host0 / "scores.json").read_text())
    assert sorted(map(int, scores)) == list(range(10))  # the gallery: every seed
    page = (host0 / "index.html").read_text()
    assert all(f"thumbs/seed_{s:06d}.jpg" in page and (host0 / f"thumbs/seed_{s:06d}.jpg").exists() for s in range(10))


def test_a_refusal_on_process_0_stops_both_processes(tmp_path):
    host0 = tmp_path / "host0"
    host0.mkdir()
    (host0 / "manifest.json").write_text(json.dumps({"version": 1, "truncation": 0.9}))
    runs = _two_processes(tmp_path, "0-3")
    assert runs[0].returncode == 1 and "holds a sweep with other settings" in runs[0].stderr
    assert runs[1].returncode == 1 and "error: process 0 stopped the sweep (ValueError: " in runs[1].stderr
    assert "Traceback" not in runs[0].stderr + runs[1].stderr
