"""DCGAN training: a tiny GAN moves toward its data; NaN stops with the step;
SIGTERM checkpoints and stops, SIGKILL -> resume reaches bit-identical params;
two devices agree with one.

All on ``dcgan/configs/art.py:tiny`` (tests/fixtures_dcgan.py): one train step
program for the whole file. Two subprocesses, where the process is the point:
the run killed by SIGKILL, and the run on two (fake CPU) devices (the device
count is fixed when a process starts)."""

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time

import jax
import ml_collections
import numpy as np
import pytest
from cli_harness import assert_one_line_error, run_cli
from fixtures_dcgan import DCGAN_TARGET, DCGAN_TINY, dcgan_tiny_config
from procs import ROOT, python_env

import dcgan
from dcgan import checkpoints, hub, steps, train
from dcgan.model import generate, sample_latents

pytest.importorskip("tensorflow_datasets", reason="training input needs tensorflow-datasets")
N = 10  # steps of the interrupted / reference / two-device runs


def _moment_distance(images):
    """The statistic: sum over RGB of |mean - data mean| + pixel std (data: 0 + ~0.15)."""
    x = np.asarray(images).reshape(-1, 3)
    return float(np.abs(x.mean(0) - DCGAN_TARGET).sum() + x.std(0).sum())


def test_tiny_gan_moves_toward_data(dcgan_trained, tmp_path):
    """300 steps (ngf = ndf = 8, 16x16, batch 16, lr 1e-3) through the training loop.

    Measured on CPU (64 fixed latents, G in inference mode): moment distance
    1.584 before, 0.299 after (the data's own value is ~0.15: its noise std;
    an untrained G is grey, mean ~0, so the mean-colour term dominates).
    """
    run, state, cfg = dcgan_trained
    init = steps.init_state(cfg, jax.random.key(cfg.seed))
    z = sample_latents(jax.random.key(123), 64, cfg.model.nz)
    mcfg = steps.model_config(cfg)
    before = _moment_distance(generate(mcfg, init["g"], z))
    after = _moment_distance(generate(mcfg, state["g"], z))
    print(f"moment distance of G samples to data: before {before:.3f}, after {after:.3f}")
    assert before > 1.2 and after < 0.4 and after < 0.25 * before, (before, after)
    rows = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(30, 301, 30))
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in rows)
    assert checkpoints.checkpoint_steps(run)[-1] == 300
    assert (run / "samples" / "step_000300.png").exists()
    assert (run / "losses.png").exists()
    assert int(state["step"]) == 300
    # export (what made the embedded model): weights round-trip, README kept, loss plot copied
    out = tmp_path / "exported"
    out.mkdir()
    (out / "README.md").write_text("notes")
    checkpoints.export_workdir(run, out, dtype="bfloat16")
    cfg2, params2 = dcgan.load(out)
    g2, meta = params2["generator"], hub.metadata(out)
    assert cfg2 == mcfg and meta["trained_steps"] == 300 and meta["dtype"] == "bfloat16"
    assert (out / "README.md").read_text() == "notes" and (out / "losses.png").exists()
    for a, b in zip(jax.tree.leaves(state["g"]), jax.tree.leaves(g2), strict=True):
        np.testing.assert_allclose(b, np.asarray(a), rtol=1e-2, atol=1e-6)  # bf16 storage


def test_second_identical_training_step_does_not_recompile():
    """The jitted step (sharded in, donated state out) compiles once: the state it
    returns has the shardings its next call expects."""
    cfg = dcgan_tiny_config()
    repl, data_sh = train.shardings(cfg)
    step_fn = train.make_step_fn(cfg, repl, data_sh)
    state = jax.jit(lambda k: steps.init_state(cfg, k), out_shardings=repl)(jax.random.key(0))
    rng = jax.device_put(jax.random.key(1), repl)
    bad = jax.device_put(np.int32(-1), repl)
    batches = train.prefetch(itertools.repeat(np.zeros((16, 16, 16, 3), np.float32)), data_sh)
    compiles = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, *a, **k: compiles.append(name) if name.endswith("backend_compile_duration") else None
    )
    state, m, bad = step_fn(state, next(batches), rng, bad)
    first = len(compiles)
    state, m, bad = step_fn(state, next(batches), rng, bad)
    jax.block_until_ready(state)
    assert step_fn._cache_size() == 1
    assert first >= 1 and len(compiles) == first, compiles
    assert int(state["step"]) == 2 and int(bad) == -1


def test_nan_stops_with_step(dcgan_flat_data, tmp_path):
    """Weights whose activations overflow (``init_from``: finite, 3e38 everywhere,
    so the loading check passes; NaN weights are refused when saved or loaded):
    the losses of step 1 are NaN. Checked although nan_check_every is 100, because
    a state is always checked before it is saved (the first step is saved): no NaN
    checkpoint is ever written. (The same train step program as every other run
    here: only the weights differ.)"""
    folder, data_dir = dcgan_flat_data
    cfg = dcgan_tiny_config(folder, data_dir, num_steps=5, nan_check_every=100, checkpoint_every=1)
    abstract = jax.eval_shape(lambda: steps.init_state(cfg, jax.random.key(0)))
    huge = lambda tree: jax.tree.map(lambda a: np.full(a.shape, 3e38, a.dtype), tree)  # noqa: E731
    checkpoints.export(tmp_path / "huge", steps.model_config(cfg), huge(abstract["g"]),
                       huge(abstract["d"]), {})  # fmt: skip
    cfg.init_from = str(tmp_path / "huge")
    with pytest.raises(FloatingPointError, match="non-finite loss at step 1"):
        train.train_and_evaluate(cfg, tmp_path / "run")
    assert checkpoints.checkpoint_steps(tmp_path / "run") == []


def test_missing_flags_are_clear_errors(dcgan_flat_data, tmp_path):
    r = run_cli("dcgan.main", [f"--config={DCGAN_TINY}"], cwd=ROOT)
    assert_one_line_error(r, (2,), "--workdir")
    r = run_cli("dcgan.main", [f"--workdir={tmp_path}"], cwd=ROOT)
    assert_one_line_error(r, (2,), "--config")
    r = run_cli("dcgan.main", [f"--config={DCGAN_TINY}", f"--workdir={tmp_path}"], cwd=ROOT)
    assert_one_line_error(r, (2,), "--config.data.folder=DIR")
    r = run_cli("dcgan.main", [f"--config={DCGAN_TINY}", f"--workdir={tmp_path}",
                               f"--config.data.folder={tmp_path / 'nothing'}"], cwd=ROOT)  # fmt: skip
    assert_one_line_error(r, (2,), "image folder not found")
    assert not (tmp_path / "checkpoints").exists()


# ---------------------------------------------------------------- interrupted runs


def _argv(workdir, data, delay):
    folder, data_dir = data
    return [
        f"--config={DCGAN_TINY}", f"--workdir={workdir}", f"--config.data.folder={folder}",
        f"--config.data.data_dir={data_dir}", f"--config.num_steps={N}",
        "--config.checkpoint_every=2", "--config.keep_checkpoints=2", "--config.sample_every=100",
        "--config.log_every=1", f"--config.step_delay_s={delay}",
    ]  # fmt: skip


def _final_params(workdir, n):
    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    abstract = jax.eval_shape(lambda: steps.init_state(config, jax.random.key(0)))
    mngr = checkpoints.manager(workdir)
    state, meta = checkpoints.restore(mngr, abstract, n)
    mngr.close()
    assert meta["step"] == n and meta["examples_seen"] == n * config.batch_size
    return state


def _wait_for_checkpoint(workdir, after: int, alive, what: str, timeout: float = 120):
    """Waits until a checkpoint beyond step ``after`` is complete (the event)."""
    t0 = time.time()
    while not [s for s in checkpoints.checkpoint_steps(workdir) if s > after]:
        if not alive() or time.time() - t0 > timeout:
            raise AssertionError(f"{what}: no checkpoint after step {after}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def reference(dcgan_flat_data, tmp_path_factory):
    """The uninterrupted run of N steps (in-process): its workdir."""
    workdir = tmp_path_factory.mktemp("dcgan_ref") / "ref"
    r = run_cli("dcgan.main", _argv(workdir, dcgan_flat_data, 0), cwd=ROOT)
    assert r.code == 0, r.err[-3000:]
    assert "data-parallel over 1 device(s)" in r.err, r.err[-3000:]
    return workdir


def _sigterm_in_process(argv, workdir):
    """``python -m dcgan.main`` in this process, sent SIGTERM (the real signal, to
    this process) once its first checkpoint is complete: the CLI's handler is
    installed then (the trainer installs it before its first step)."""
    assert threading.current_thread() is threading.main_thread()  # signal handlers live there
    done, errors = threading.Event(), []

    def watch():
        try:
            _wait_for_checkpoint(workdir, 0, lambda: not done.is_set(), "SIGTERM run")
            handler = signal.getsignal(signal.SIGTERM)
            if type(getattr(handler, "__self__", None)) is not train.Preemption:
                raise AssertionError(f"the trainer's SIGTERM handler is not installed: {handler}")
            os.kill(os.getpid(), signal.SIGTERM)
        except AssertionError as e:
            errors.append(e)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        r = run_cli("dcgan.main", argv, cwd=ROOT)
    finally:
        done.set()
        watcher.join()
    assert not errors, errors
    return r


def test_kill_and_resume_is_exact(reference, dcgan_flat_data, tmp_path):
    """A run stopped by SIGTERM (preemption: checkpoint at the step it stopped,
    exit 0), restarted in a new process, killed there by SIGKILL mid-run (no
    chance to save), and restarted again from the same workdir: bit-identical G,
    D and both Adam states at step N to the uninterrupted run."""
    run_dir = tmp_path / "run"
    r = _sigterm_in_process(_argv(run_dir, dcgan_flat_data, 0.3), run_dir)
    assert r.code == 0, r.err[-3000:]
    stopped = checkpoints.checkpoint_steps(run_dir)[-1]
    assert 0 < stopped < N and f"stopped by signal after step {stopped}" in r.err, r.err[-3000:]

    log = tmp_path / "killed.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "dcgan.main", *_argv(run_dir, dcgan_flat_data, 0.3)],
                                cwd=ROOT, env=python_env(), stdout=f, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            _wait_for_checkpoint(run_dir, stopped, lambda: proc.poll() is None, "SIGKILL run", 240)
        finally:
            proc.kill()
            rc = proc.wait(timeout=60)
    out = log.read_text()
    assert rc == -signal.SIGKILL, out[-3000:]
    assert f"resumed from step {stopped}" in out, out[-3000:]
    killed_at = checkpoints.checkpoint_steps(run_dir)[-1]
    assert stopped < killed_at < N, "the SIGKILL did not land mid-run"

    r = run_cli("dcgan.main", _argv(run_dir, dcgan_flat_data, 0), cwd=ROOT)
    assert r.code == 0, r.err[-3000:]
    assert f"resumed from step {killed_at}" in r.err

    a, b = _final_params(reference, N), _final_params(run_dir, N)
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b) > 20  # step, G/D params + BN stats, both Adam states
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    rows = [json.loads(s)["step"] for s in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows == list(range(1, N + 1))  # rows written after the last checkpoint were dropped on resume
    # each run recorded (step_delay_s may change on resume); config.json: the first run's
    runs = [json.loads((run_dir / "configs" / f"run-00{i}.json").read_text()) for i in range(3)]
    assert [r["resumed_from_step"] for r in runs] == [None, stopped, killed_at]
    assert [r["config"]["step_delay_s"] for r in runs] == [0.3, 0.3, 0.0]
    assert "--config.step_delay_s=0" in runs[2]["argv"]
    assert json.loads((run_dir / "config.json").read_text()) == runs[0]["config"]


def test_data_parallel_over_two_devices_matches_one(reference, dcgan_flat_data, tmp_path):
    """The same run on 2 (fake CPU) devices as the reference on 1: the batch is
    sharded over the ``data`` axis, BN statistics are over the global batch, so
    the parameters after N steps agree (to float reduction order)."""
    workdir = tmp_path / "d2"
    env = python_env(XLA_FLAGS="--xla_force_host_platform_device_count=2")
    r = subprocess.run([sys.executable, "-m", "dcgan.main", *_argv(workdir, dcgan_flat_data, 0)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "data-parallel over 2 device(s)" in r.stderr
    one, two = jax.tree.leaves(_final_params(reference, N)), jax.tree.leaves(_final_params(workdir, N))
    assert len(one) == len(two) > 20
    for x, y in zip(one, two, strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        # 10 Adam steps at lr 1e-3 (each moves a weight by up to ~1e-3): float reduction
        # order left up to 2.3e-5 (CI host, 2026-12-03); per-device BN statistics would
        # differ by the order of a step
        np.testing.assert_allclose(y, x, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(x).max()))


def test_same_command_in_a_fresh_process_gives_identical_params(reference, dcgan_flat_data, tmp_path):
    """The determinism guarantee (README, "Determinism"): the same command on the
    same machine and software, run in a new process with no compilation cache
    shared (a fresh compile) and its data at another place (a copy of the image
    folder, its own tfds preparation), ends at bit-identical G, D and Adam states
    and writes the same sample grid. (Before the prepared records were keyed by
    their path inside the folder, the data order followed the folder's absolute
    location: two workdirs trained on different batches.)"""
    import shutil

    folder, _ = dcgan_flat_data
    elsewhere = shutil.copytree(folder, tmp_path / "copy" / "images")
    workdir = tmp_path / "fresh"
    env = {k: v for k, v in python_env().items() if not k.startswith("JAX_COMPILATION_CACHE")}
    r = subprocess.run([sys.executable, "-m", "dcgan.main",
                        *_argv(workdir, (elsewhere, tmp_path / "tfds"), 0)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = jax.tree.leaves(_final_params(reference, N)), jax.tree.leaves(_final_params(workdir, N))
    assert len(a) == len(b) > 20
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    name = f"samples/step_{N:06d}.png"
    assert (workdir / name).read_bytes() == (reference / name).read_bytes()
