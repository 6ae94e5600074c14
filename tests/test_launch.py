"""launch/: the TPU VM script's dry run prints every command and runs none."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _dry(*args):
    r = subprocess.run([sys.executable, "-m", "launch.tpu_vm", "--dry_run", *args], capture_output=True, text=True,
                       cwd=ROOT, env={**os.environ, "PATH": "/nonexistent", "PYTHONPATH": str(ROOT)}, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_single_host_dry_run():
    out = _dry("--name=art", "--accelerator_type=v4-8", "--", "--seeds=0-99", "--classes=stupa")
    lines = [l for l in out.splitlines() if not l.startswith("#")]
    assert len(lines) == 5  # create-if-absent, package, copy, install, run
    assert "describe art" in lines[0] and "|| gcloud compute tpus tpu-vm create art" in lines[0]
    assert "--accelerator-type=v4-8" in lines[0]
    assert all("--worker=all" in l for l in lines[2:])
    assert (
        "-m biggan_jax " in lines[4]
        and "--seeds=0-99" in lines[4]
        and "--multihost" not in lines[4]
    )


def test_pod_slice_dry_run_uses_all_workers_and_one_mesh():
    out = _dry("--name=pod", "--accelerator_type=v4-32", "--out_bucket=gs://b/x", "--delete_after", "--spot",
               "--", "--seeds=0-9999")  # fmt: skip
    lines = [l for l in out.splitlines() if not l.startswith("#")]
    assert "--spot" in lines[0]
    assert "--multihost" in lines[4] and "--worker=all" in lines[4]
    assert "gcloud storage rsync -r neural-art-out gs://b/x/pod" in lines[5]
    assert "tpu-vm delete pod" in lines[6]


def test_dcgan_job_single_host_and_refused_on_pods():
    out = _dry("--name=g", "--accelerator_type=v4-8", "--job=dcgan", "--",
               "--config=dcgan/configs/art.py")  # fmt: skip
    run = [l for l in out.splitlines() if not l.startswith("#")][4]
    assert "dcgan.main" in run and "--config=dcgan/configs/art.py" in run and "--worker=all" in run
    r = subprocess.run([sys.executable, "-m", "launch.tpu_vm", "--dry_run", "--name=g",
                        "--accelerator_type=v4-32", "--job=dcgan"], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)  # fmt: skip
    assert r.returncode != 0 and "--job=dcgan runs on one host" in r.stderr


def test_bad_accelerator_type():
    r = subprocess.run([sys.executable, "-m", "launch.tpu_vm", "--dry_run", "--name=x", "--accelerator_type=gpu-8"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert r.returncode != 0 and "unrecognised accelerator type" in r.stderr


@pytest.mark.parametrize("t,n", [("v4-8", 1), ("v4-32", 4), ("v3-8", 1), ("v5p-128", 16)])
def test_hosts(t, n):
    sys.path.insert(0, str(ROOT))
    from launch.tpu_vm import hosts

    assert hosts(t) == n
