"""DCGAN training: a tiny GAN moves toward its data; NaN stops with the step;
SIGKILL -> resume reaches bit-identical params; SIGTERM checkpoints and stops."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from PIL import Image

import dcgan
from dcgan import checkpoints, steps, train
from dcgan.configs import art
from dcgan.model import generate, sample_latents

pytest.importorskip("tensorflow_datasets", reason="training input needs tensorflow-datasets")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Data: flat-colour images (orange, +-small noise), far from what an untrained G emits
# (tanh of small activations: mean ~0, std ~0.1 per channel).
TARGET = np.array([0.8, 0.1, -0.6], np.float32)


def _folder(root, n=6):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = TARGET + 0.05 * rng.standard_normal((140, 130, 3))
        Image.fromarray(np.clip((a + 1) * 127.5, 0, 255).astype(np.uint8)).save(root / f"{i}.png")
    return root


def _tiny_config(folder, **kw):
    c = art.get_config("quick")
    c.model.resolution = 16
    c.data.folder = str(folder)
    c.data.min_epoch_examples = 64
    c.batch_size = 16
    c.num_samples = 16
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def _moment_distance(images):
    """The statistic: sum over RGB of |mean - data mean| + pixel std (data: 0 + ~0.15)."""
    x = np.asarray(images).reshape(-1, 3)
    return float(np.abs(x.mean(0) - TARGET).sum() + x.std(0).sum())


def test_tiny_gan_moves_toward_data(tmp_path):
    """300 steps (ngf = ndf = 8, 16x16, batch 16, lr 1e-3) through the training loop.

    Measured on CPU (64 fixed latents, G in inference mode): moment distance
    1.584 before, 0.299 after (the data's own value is ~0.15: its noise std;
    an untrained G is grey, mean ~0, so the mean-colour term dominates).
    """
    cfg = _tiny_config(_folder(tmp_path / "data"), num_steps=300, log_every=30, sample_every=150, checkpoint_every=150, lr=1e-3)  # fmt: skip
    init = steps.init_state(cfg, jax.random.key(cfg.seed))
    z = sample_latents(jax.random.key(123), 64, cfg.model.nz)
    mcfg = steps.model_config(cfg)
    before = _moment_distance(generate(mcfg, init["g"], z))
    state = train.train_and_evaluate(cfg, tmp_path / "run")
    after = _moment_distance(generate(mcfg, state["g"], z))
    print(f"moment distance of G samples to data: before {before:.3f}, after {after:.3f}")
    assert before > 1.2 and after < 0.4 and after < 0.25 * before, (before, after)
    rows = [json.loads(s) for s in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(30, 301, 30))
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in rows)
    assert sorted(int(p.name) for p in (tmp_path / "run" / "checkpoints").iterdir())[-1] == 300
    assert (tmp_path / "run" / "samples" / "step_000300.png").exists()
    assert (tmp_path / "run" / "losses.png").exists()
    assert int(state["step"]) == 300
    # export (what made the embedded model): weights round-trip, README kept, loss plot copied
    out = tmp_path / "exported"
    out.mkdir()
    (out / "README.md").write_text("notes")
    checkpoints.export_workdir(tmp_path / "run", out, dtype="bfloat16")
    cfg2, g2, d2, meta = dcgan.load(out)
    assert cfg2 == mcfg and meta["trained_steps"] == 300 and meta["dtype"] == "bfloat16"
    assert (out / "README.md").read_text() == "notes" and (out / "losses.png").exists()
    for a, b in zip(jax.tree.leaves(state["g"]), jax.tree.leaves(g2), strict=True):
        np.testing.assert_allclose(b, np.asarray(a), rtol=1e-2, atol=1e-6)  # bf16 storage


def test_second_identical_training_step_does_not_recompile(tmp_path):
    """The jitted step (sharded in, donated state out) compiles once: the state it
    returns has the shardings its next call expects."""
    cfg = _tiny_config(tmp_path, num_steps=2)
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


def test_nan_stops_with_step(tmp_path):
    """lr = NaN: D's first update is NaN, so G's loss at step 1 is. Checked although
    nan_check_every is 100, because a state is always checked before it is saved
    (the first step is saved): no NaN checkpoint is ever written."""
    cfg = _tiny_config(_folder(tmp_path / "data", n=2), num_steps=5, lr=float("nan"), nan_check_every=100)  # fmt: skip
    with pytest.raises(FloatingPointError, match="non-finite loss at step 1"):
        train.train_and_evaluate(cfg, tmp_path / "run")
    ck = tmp_path / "run" / "checkpoints"
    assert not ck.exists() or not [p for p in ck.iterdir() if p.name.isdigit()]


def test_missing_flags_are_clear_errors(tmp_path):
    r = subprocess.run([sys.executable, "-m", "dcgan.main", "--config=dcgan/configs/art.py:quick"], cwd=ROOT,
                       env=_env(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode != 0 and "--workdir" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "dcgan.main", f"--workdir={tmp_path}"], cwd=ROOT,
                       env=_env(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode != 0 and "--config" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "dcgan.main", "--config=dcgan/configs/art.py:quick", f"--workdir={tmp_path}"],
                       cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert (
        r.returncode != 0 and "--config.data.folder=DIR" in r.stderr and "Traceback" not in r.stderr
    )
    assert not (tmp_path / "checkpoints").exists()


def _cmd(workdir, folder, n, delay):
    return [
        sys.executable, "-m", "dcgan.main", "--config=dcgan/configs/art.py:quick", f"--workdir={workdir}",
        f"--config.data.folder={folder}", "--config.model.resolution=16", f"--config.num_steps={n}",
        "--config.checkpoint_every=2", "--config.keep_checkpoints=2", "--config.sample_every=100",
        "--config.log_every=1", f"--config.step_delay_s={delay}",
    ]  # fmt: skip


def _env(cache=None):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
    if cache:  # share compiled executables between the runs (same programs, faster starts)
        env |= {"JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1"}  # fmt: skip
    return env


def _final_params(workdir, n):
    import ml_collections

    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    abstract = jax.eval_shape(lambda: steps.init_state(config, jax.random.key(0)))
    mngr = checkpoints.manager(workdir)
    state, meta = checkpoints.restore(mngr, abstract, n)
    mngr.close()
    assert meta["step"] == n and meta["examples_seen"] == n * config.batch_size
    return state


def _ckpt_steps(workdir):
    ck = workdir / "checkpoints"
    return sorted(int(p.name) for p in ck.iterdir() if p.name.isdigit()) if ck.exists() else []


def _interrupt(cmd, workdir, sig, env, after: int, log, timeout=180):
    """Starts ``cmd`` (output to ``log``), sends ``sig`` once a checkpoint beyond step
    ``after`` exists (plus a little, so the kill lands mid-run); returns (rc, output)."""
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
        t0 = time.time()
        while not [s for s in _ckpt_steps(workdir) if s > after]:
            if proc.poll() is not None or time.time() - t0 > timeout:
                proc.kill()
                proc.wait()
                raise AssertionError(f"no checkpoint after step {after} before the kill: {log.read_text()[-3000:]}")  # fmt: skip
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(sig)
        rc = proc.wait(timeout=120)
    return rc, log.read_text()


def test_kill_and_resume_is_exact(tmp_path):
    """An uninterrupted run vs one stopped by SIGTERM (preemption: checkpoint at the
    step it stopped, exit 0), restarted, killed by SIGKILL mid-run (no chance to
    save), and restarted again from the same workdir: bit-identical G, D and both
    Adam states at step n."""
    n = 10
    folder = _folder(tmp_path / "data", n=3)
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    env = _env(tmp_path / "jax_cache")
    ref_log = open(tmp_path / "ref.log", "w")
    ref = subprocess.Popen(_cmd(ref_dir, folder, n, 0), cwd=ROOT, env=env, stdout=ref_log, stderr=subprocess.STDOUT)  # fmt: skip

    rc, out = _interrupt(
        _cmd(run_dir, folder, n, 0.3), run_dir, signal.SIGTERM, env, after=0, log=tmp_path / "a.log"
    )
    assert rc == 0, out[-3000:]
    stopped = _ckpt_steps(run_dir)[-1]
    assert 0 < stopped < n and f"stopped by signal after step {stopped}" in out

    rc, out = _interrupt(
        _cmd(run_dir, folder, n, 0.3),
        run_dir,
        signal.SIGKILL,
        env,
        after=stopped,
        log=tmp_path / "b.log",
    )
    assert rc == -signal.SIGKILL, out[-3000:]
    assert f"resumed from step {stopped}" in out
    killed_at = _ckpt_steps(run_dir)[-1]
    assert stopped < killed_at < n, "the SIGKILL did not land mid-run"

    done = subprocess.run(
        _cmd(run_dir, folder, n, 0), cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from step" in done.stderr
    rc = ref.wait(timeout=180)
    ref_log.close()
    assert rc == 0, (tmp_path / "ref.log").read_text()[-3000:]

    a, b = _final_params(ref_dir, n), _final_params(run_dir, n)
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b) > 20  # step, G/D params + BN stats, both Adam states
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    rows = [json.loads(s)["step"] for s in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows == list(
        range(1, n + 1)
    )  # rows written after the last checkpoint were dropped on resume
    # each run recorded (step_delay_s may change on resume); config.json: the first run's
    runs = [json.loads((run_dir / "configs" / f"run-00{i}.json").read_text()) for i in range(3)]
    assert [r["resumed_from_step"] for r in runs] == [None, stopped, killed_at]
    assert [r["config"]["step_delay_s"] for r in runs] == [0.3, 0.3, 0.0]
    assert "--config.step_delay_s=0" in runs[2]["argv"]
    assert json.loads((run_dir / "config.json").read_text()) == runs[0]["config"]


def test_data_parallel_over_two_devices_matches_one(tmp_path):
    """The same run on 1 and on 2 (fake CPU) devices: the batch is sharded over the
    ``data`` axis, BN statistics are over the global batch, so the parameters after
    n steps agree (to float reduction order)."""
    n = 4
    folder = _folder(tmp_path / "data", n=3)
    runs = {}
    for devices in (1, 2):
        env = _env() | {"XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
        workdir = tmp_path / f"d{devices}"
        r = subprocess.run(_cmd(workdir, folder, n, 0), cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        assert f"data-parallel over {devices} device(s)" in r.stderr
        runs[devices] = _final_params(workdir, n)
    one, two = jax.tree.leaves(runs[1]), jax.tree.leaves(runs[2])
    assert len(one) == len(two) > 20
    for x, y in zip(one, two, strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        np.testing.assert_allclose(y, x, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(x).max()))
