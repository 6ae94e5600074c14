"""DCGAN training loop around :func:`dcgan.steps.make_train_step`.

The step is jit-compiled and data-parallel over all local devices (batch sharded
on a ``data`` mesh axis, variables replicated; BN statistics are over the global
batch, so results do not depend on the device count). Batches are put on the
devices ahead of use (:func:`prefetch`, a double buffer); the loop reads nothing
back from the devices except at log steps, NaN-check steps and checkpoints.

Exact resume: the step key is ``fold_in(rng, step)`` and batch ``n`` of the
input is a pure function of ``n``; the checkpoint holds both nets, both Adam
states and the data position, so a run killed at any time and restarted from
its workdir reaches bit-identical parameters.

Determinism: on one machine and software stack (XLA:CPU at one optimisation
setting), the same command gives bit-identical parameters in a fresh process,
with no compilation cache shared and its workdir or data folder elsewhere
(tests/test_dcgan_train.py); the prepared data's order depends only on the
file names inside the folder (:mod:`dcgan.input_pipeline`). Other CPUs, XLA
versions or optimisation settings round differently; device counts agree only
to float reduction order.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import math
import os
import pathlib
import signal
import time
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from dcgan import checkpoints, evaluate, hub
from dcgan.events import EventWriter
from dcgan.model import generate_fn, sample_latents
from dcgan.steps import State, init_state, make_train_step, model_config
from neural_art import atomic
from neural_art.errors import UserError
from neural_art.images import image_grid, save_grid
from neural_art.plots import Panel, save_curves

# ------------------------------------------------------------------ outputs


def write_loss_plot(metrics_file: pathlib.Path, out: pathlib.Path) -> None:
    """Loss curves (D and G, and D's mean outputs) from ``metrics.jsonl`` as a PNG."""
    rows = [json.loads(s) for s in metrics_file.read_text().splitlines() if s.strip()]
    rows = [r for r in rows if "d_loss" in r]  # training rows (evaluations have their own)
    if not rows:
        return
    steps = [r["step"] for r in rows]
    col = lambda k: (steps, [r[k] for r in rows])
    save_curves(out, [
        Panel({"D loss": col("d_loss"), "G loss": col("g_loss")}, title="losses", log=False),
        Panel({"D(x)": col("d_real"), "D(G(z))": col("d_fake")}, title="discriminator outputs",
              log=False, ylim=(0, 1)),
    ], width=5.0, height=3.5, dpi=80)  # fmt: skip


def truncate_metrics(metrics_file: pathlib.Path, step: int) -> None:
    """Drops metric rows after ``step`` (written by a run that died after its last checkpoint)."""
    if not metrics_file.exists():
        return
    rows = [
        s
        for s in metrics_file.read_text().splitlines()
        if s.strip() and json.loads(s)["step"] <= step
    ]
    atomic.write_text(metrics_file, "".join(r + "\n" for r in rows))


class Preemption:
    """SIGTERM/SIGINT -> save a checkpoint at the next step boundary and stop."""

    def __init__(self):
        self.flag = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        del frame
        logging.warning("signal %d: checkpointing at the next step and stopping", signum)
        self.flag = True

    def __exit__(self, *exc):
        for sig, h in self._old.items():
            signal.signal(sig, h)


# ------------------------------------------------------------------ loop


class ConfigError(UserError):
    """A config that cannot train (the CLI reports it as a usage error)."""


POSITIVE = ("batch_size", "num_steps", "log_every", "sample_every", "checkpoint_every",
            "nan_check_every")  # fmt: skip


def non_finite_keys(config, prefix: str = "config") -> list[str]:
    """``config.KEY must be finite, got VALUE`` for every float leaf of ``config`` (nested dicts
    included) that is NaN or infinite."""
    bad = []
    for k, v in config.items():
        name = f"{prefix}.{k}"
        if isinstance(v, (ml_collections.ConfigDict, dict)):
            bad += non_finite_keys(v, name)
        elif isinstance(v, float) and not math.isfinite(v):
            bad.append(f"{name} must be finite, got {v}")
    return bad


def check_config(config: ml_collections.ConfigDict) -> None:
    """Fails fast, before any compilation or data preparation, on unusable configs."""
    bad = non_finite_keys(config)
    if bad:  # first: a NaN learning rate would only show as a NaN loss steps later
        raise ConfigError("; ".join(bad))
    src = config.data.source
    if src not in ("mnist", "folder", "skimage"):
        raise ConfigError(f"unknown data source {src!r} (mnist, folder, skimage)")
    if src == "folder":
        if not config.data.folder:
            raise ConfigError(
                "data.source is 'folder' but no folder given: pass --config.data.folder=DIR"
            )
        if not os.path.isdir(config.data.folder):
            raise ConfigError(f"image folder not found: --config.data.folder={config.data.folder}")
    for k in POSITIVE:
        if int(config[k]) < 1:
            raise ConfigError(f"config.{k} must be >= 1, got {config[k]}")
    try:
        model_config(config)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad model config: {e}") from e
    check_eval_config(config)
    if config.get("init_from"):
        check_init_from(config)


SHAPE_KEYS = ("nz", "ngf", "ndf", "nc", "resolution", "head_bias")


def check_init_from(config) -> None:
    """``init_from`` must hold exported weights of the config's sizes (read from
    its metadata.json, no array loaded): a 64x64 model cannot start a 128 run."""
    path = pathlib.Path(config.init_from)
    if not path.is_dir():
        raise ConfigError(f"init_from={config.init_from}: no such directory")
    meta_file = path / "metadata.json"
    try:
        stored = json.loads(meta_file.read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"init_from={config.init_from}: no readable DCGAN metadata.json ({e})") from e
    want = dataclasses.asdict(model_config(config))
    diff = [f"{k} {stored.get(k)} -> {want[k]}" for k in SHAPE_KEYS if stored.get(k) != want[k]]
    if diff:
        raise ConfigError(f"init_from={config.init_from} holds weights of other sizes than "
                          f"--config.model: {', '.join(diff)}")  # fmt: skip


def check_eval_config(config) -> None:
    """The evaluation and alarm settings (:mod:`dcgan.evaluate`), before any compute."""
    every, e = int(config.get("eval_every", 0)), config.get("eval")
    if every < 0:
        raise ConfigError(f"config.eval_every must be >= 0 (0: no evaluation), got {every}")
    if config.get("stop_on_collapse") and not every:
        raise ConfigError("config.stop_on_collapse needs evaluations: set --config.eval_every=N")
    if not every:
        return
    if e.features not in evaluate.FEATURES:
        raise ConfigError(f"config.eval.features={e.features!r}: expected one of {evaluate.FEATURES}")
    for k in ("num_real", "num_fake"):
        if e[k] < 2 or e[k] % e.batch:
            raise ConfigError(f"config.eval.{k}={e[k]}: must be >= 2 and a multiple of "
                              f"config.eval.batch={e.batch}")  # fmt: skip
    if e.image_size < 75:
        raise ConfigError(f"config.eval.image_size={e.image_size}: Inception needs >= 75")
    if config.get("stop_on_collapse") and config.keep_checkpoints * config.checkpoint_every <= every:
        raise ConfigError(
            "config.stop_on_collapse keeps the last checkpoint that passed an evaluation: "
            f"keep_checkpoints * checkpoint_every ({config.keep_checkpoints} x "
            f"{config.checkpoint_every}) must exceed eval_every ({every})"
        )


def prefetch(batches: Iterator[np.ndarray], sharding, size: int = 2) -> Iterator[jax.Array]:
    """Yields ``batches`` already on the devices: ``size`` transfers are in flight
    (``device_put`` is asynchronous) while the current batch is used."""
    queue = collections.deque()
    while True:
        while len(queue) < size:
            queue.append(jax.device_put(next(batches), sharding))
        yield queue.popleft()


def make_step_fn(config, repl, data_sh):
    """The jitted step ``(state, real, rng, first_bad) -> (state, metrics, first_bad)``.

    The first non-finite step is recorded on device (``first_bad``), so the loop
    need not sync with the host every step to report it exactly."""
    train_step = make_train_step(config)

    def tracked_step(state, real, rng, first_bad):
        new, m = train_step(state, real, rng)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in m.values()]))
        return new, m, jnp.where((first_bad < 0) & ~finite, new["step"], first_bad)

    return jax.jit(tracked_step, in_shardings=(repl, data_sh, repl, repl),
                   out_shardings=(repl, repl, repl), donate_argnums=0)  # fmt: skip


def shardings(config):
    """``(replicated, batch-sharded)`` over every device's ``data`` mesh axis."""
    devices = jax.devices()
    if config.batch_size % len(devices):
        raise UserError(f"batch_size {config.batch_size} not divisible by {len(devices)} devices")
    mesh = jax.sharding.Mesh(np.array(devices), ("data",))
    logging.info("data-parallel over %d device(s): %s", len(devices), devices[0].platform)
    return NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))


def restore_or_init(config, mngr, repl, metrics_file: pathlib.Path) -> State:
    """Checkpoint in the workdir -> resume; else ``config.init_from`` (exported
    weights) -> start from them; else from scratch. A checkpoint is read into the
    config's shapes (``eval_shape``: nothing is computed before its shapes are
    checked, :func:`dcgan.checkpoints.check_shapes`)."""
    init = lambda k: init_state(config, k)
    key = jax.random.key(config.seed)
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=repl),
                            jax.eval_shape(init, key))  # fmt: skip
    restored = checkpoints.restore(mngr, abstract)
    if restored is not None:
        state, meta = restored
        logging.info("resumed from step %d (%d examples seen)", meta["step"], meta["examples_seen"])
        truncate_metrics(metrics_file, int(meta["step"]))
        return state
    metrics_file.unlink(missing_ok=True)
    state = jax.jit(init, out_shardings=repl)(key)
    if config.get("init_from"):
        _, params = hub.load(config.init_from)
        logging.info("initialised G and D from %s", config.init_from)
        return jax.device_put({**state, "g": params["generator"], "d": params["discriminator"]}, repl)
    return state


def input_batches(config, workdir: pathlib.Path, start: int):
    from dcgan import input_pipeline

    mcfg = model_config(config)
    data_dir = config.data.get("data_dir") or (
        None if config.data.source == "mnist" else str(workdir / "tfds")
    )
    batches, info = input_pipeline.train_batches(config.data, batch_size=config.batch_size,
        resolution=mcfg.resolution, nc=mcfg.nc, start_step=start, data_dir=data_dir)  # fmt: skip
    logging.info("data: %s", info)
    return batches, info


def make_evaluator(config, workdir: pathlib.Path) -> evaluate.Evaluator:
    """The run's evaluator: real images from the start of the input stream
    (``eval.num_real``, fixed for the run), their features computed once."""
    batches, _ = input_batches(config, workdir, 0)
    n = config.eval.num_real
    real = np.concatenate([next(batches) for _ in range(-(-n // config.batch_size))])[:n]
    return evaluate.Evaluator(model_config(config), config.eval, real, config.seed)


class Outputs:
    """What a run writes besides checkpoints (on process 0): ``metrics.jsonl``,
    the log line, ``samples/step_XXXXXX.png`` (fixed noise, G in inference mode),
    ``losses.png`` and TensorBoard events in ``events/`` (scalars, sample grids,
    evaluations and alarm texts)."""

    def __init__(self, config, workdir: pathlib.Path, start: int, evaluator=None):
        mcfg = model_config(config)
        self.config, self.workdir = config, workdir
        self.is_main = jax.process_index() == 0
        self.metrics_file = workdir / "metrics.jsonl"
        self.fixed_z = sample_latents(jax.random.fold_in(jax.random.key(config.seed), 4),
                                      config.num_samples, mcfg.nz, config.latent_dist)  # fmt: skip
        self.sample_fn = generate_fn(mcfg)
        self.last_t, self.last_step = time.time(), start
        self.evaluator = evaluator
        self.alarms = evaluate.Alarms(config.alarms) if evaluator else None
        self.events = EventWriter(workdir / "events") if self.is_main else None

    def _row(self, done: int, m: dict) -> None:
        if self.is_main:
            with self.metrics_file.open("a") as f:
                f.write(json.dumps({"step": done, **m}) + "\n")

    def log(self, done: int, metrics) -> None:
        m = {k: float(v) for k, v in jax.device_get(metrics).items()}
        now = time.time()
        rate = (done - self.last_step) / max(now - self.last_t, 1e-9)
        self.last_t, self.last_step = now, done
        logging.info("step %d  %s  %.2f steps/s", done,
                     " ".join(f"{k}={v:.4f}" for k, v in m.items()), rate)  # fmt: skip
        self._row(done, m)
        if self.events:
            self.events.scalars(done, {f"train/{k}": v for k, v in m.items()})

    def samples(self, done: int, g) -> None:
        if not self.is_main:
            return
        imgs = np.asarray(self.sample_fn(g, self.fixed_z))
        ncols = 16 if len(imgs) >= 64 else None
        save_grid(self.workdir / "samples" / f"step_{done:06d}.png", imgs, ncols=ncols)
        write_loss_plot(self.metrics_file, self.workdir / "losses.png")
        self.events.image(done, "samples", image_grid(imgs, ncols))
        self.events.flush()

    def evaluate(self, done: int, state) -> list[str]:
        """One evaluation (one compiled program, :class:`dcgan.evaluate.Evaluator`);
        returns the alarm lines (also logged, in ``metrics.jsonl`` and as text)."""
        m = {k: float(v) for k, v in jax.device_get(self.evaluator(state["g"], state["d"])).items()}
        alarms = self.alarms.check(done, m)
        logging.info("eval step %d  %s", done, " ".join(f"{k}={v:.5g}" for k, v in m.items()))
        for line in alarms:
            logging.warning("%s", line)
        self._row(done, {"eval": m, **({"alarms": alarms} if alarms else {})})
        if self.events:
            self.events.scalars(done, {f"eval/{k}": v for k, v in m.items()})
            for line in alarms:
                self.events.text(done, "alarms", line)
            self.events.flush()
        return alarms


def check_finite(first_bad: jax.Array, metrics, done: int) -> None:
    """Raises ``FloatingPointError`` naming the first non-finite step, if any."""
    bad = int(first_bad)
    if bad >= 0:
        m = {k: float(v) for k, v in jax.device_get(metrics).items()}
        raise FloatingPointError(f"non-finite loss at step {bad} (metrics at step {done}: {m})")


def run_steps(config, state: State, batches, step_fn, mngr, out: Outputs, meta, repl) -> State:
    """Steps from ``state["step"]`` to ``config.num_steps`` (or a signal, or an
    alarm with ``stop_on_collapse``), with logs, samples, evaluations, NaN checks
    and checkpoints at their intervals. An evaluation that passes is
    checkpointed when ``stop_on_collapse`` is set, so the last good state stays."""
    rng = jax.device_put(jax.random.fold_in(jax.random.key(config.seed), 3), repl)
    first_bad = jax.device_put(jnp.int32(-1), repl)
    delay = float(config.get("step_delay_s", 0.0))  # throttle: preemption tests/demos only
    every, guard, last_good = int(config.get("eval_every", 0)), config.get("stop_on_collapse"), None
    with Preemption() as pre:
        for step in range(int(state["step"]), config.num_steps):
            real = next(batches)
            if delay:
                time.sleep(delay)
            state, m, first_bad = step_fn(state, real, rng, first_bad)
            done = step + 1
            final = done == config.num_steps
            stop = pre.flag  # read once: a signal may arrive at any time
            save = final or stop or mngr.should_save(done)
            if done % config.nan_check_every == 0 or save or (every and done % every == 0):
                check_finite(first_bad, m, done)  # never checkpoint or evaluate a NaN state
            if done % config.log_every == 0 or final:
                out.log(done, m)
            if done % config.sample_every == 0 or final:
                out.samples(done, state["g"])
            if every and (done % every == 0 or final):
                if out.evaluate(done, state) and guard:
                    logging.warning("stop_on_collapse: stopped at step %d without saving it; last "
                                    "good checkpoint: %s", done, last_good or "none (no evaluation "
                                    "passed)")  # fmt: skip
                    break
                last_good, save = done, save or bool(guard)
            if save:
                checkpoints.save(mngr, done, state, meta(done), force=final or stop or bool(guard))
            if stop:
                logging.warning("stopped by signal after step %d (checkpoint saved)", done)
                break
    return state


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | os.PathLike,
                       argv: list[str] | None = None) -> State:  # fmt: skip
    """Trains for ``config.num_steps`` steps in ``workdir``; returns the final state.

    Writes ``checkpoints/``, ``samples/step_XXXXXX.png``, ``metrics.jsonl``,
    ``losses.png``, ``configs/run-NNN.json`` (this run: config, ``argv``, default
    ``sys.argv``) and, starting without a checkpoint, ``config.json``
    (:func:`dcgan.checkpoints.record_run`). Raises ``FloatingPointError`` naming
    the step if a loss becomes non-finite (nothing is checkpointed after the last
    finite step), :class:`ConfigError` on an unusable config and
    :class:`dcgan.checkpoints.ResumeError` if the workdir's checkpoints were
    trained with another config (both before any compute).
    """
    check_config(config)
    workdir = pathlib.Path(workdir).absolute()
    checkpoints.check_resume(config, workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    logging.info("config:\n%s", config)
    if jax.process_index() == 0:
        logging.info("run recorded in %s", checkpoints.record_run(config, workdir, argv))
    repl, data_sh = shardings(config)
    mngr = checkpoints.manager(workdir, keep=config.keep_checkpoints, every=config.checkpoint_every)
    state = restore_or_init(config, mngr, repl, workdir / "metrics.jsonl")
    start, t0 = int(state["step"]), time.time()
    batches, info = input_batches(config, workdir, start)

    def meta(step):
        return {"step": step, "examples_seen": step * config.batch_size, "data": info}

    ev = make_evaluator(config, workdir) if config.get("eval_every") else None
    out = Outputs(config, workdir, start, ev)
    state = run_steps(config, state, prefetch(batches, data_sh), make_step_fn(config, repl, data_sh),
                      mngr, out, meta, repl)  # fmt: skip
    mngr.wait_until_finished()
    mngr.close()
    logging.info("trained %d steps in %.1fs", int(state["step"]) - start, time.time() - t0)
    return state
