"""DCGAN training loop (Beyers & Loane sec. 4; pytorch/examples update order).

One step, jit-compiled and data-parallel over all local devices (batch sharded
on a ``data`` mesh axis, variables replicated; BN statistics are over the global
batch, so results do not depend on the device count):

1. ``z ~ N(0, 1)`` from ``fold_in(rng, step)``; ``fake = G(z)`` (train-mode BN).
2. D step: ``BCE(D(real), 1) + BCE(D(fake), 0)`` (real and fake batches go
   through D separately, as in pytorch/examples), Adam.
3. G step: ``BCE(D'(fake), 1)`` with the updated D, backpropagated through the
   same forward pass of G, Adam.

Adam(lr 1e-4, b1 0.5, b2 0.999, eps 1e-8), batch 128 by default.

Exact resume: the step key is ``fold_in(rng, step)`` and batch ``n`` of the
input is a pure function of ``n``; the checkpoint holds both nets, both Adam
states and the data position, so a run killed at any time and restarted from
its workdir reaches bit-identical parameters.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import signal
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from dcgan import checkpoints
from dcgan.model import (
    DCGANConfig,
    discriminate,
    generate,
    generate_fn,
    init_discriminator,
    init_generator,
    sample_latents,
)

State = dict[str, Any]


def model_config(config: ml_collections.ConfigDict) -> DCGANConfig:
    return DCGANConfig(**config.model.to_dict())


def make_optimizer(config) -> optax.GradientTransformation:
    return optax.adam(config.lr, b1=config.b1, b2=config.b2, eps=config.eps)


def init_state(config, key: jax.Array) -> State:
    """Fresh state: G and D from ``fold_in(key, 1/2)``, Adam states at zero."""
    mcfg = model_config(config)
    g = init_generator(mcfg, jax.random.fold_in(key, 1))
    d = init_discriminator(mcfg, jax.random.fold_in(key, 2))
    tx = make_optimizer(config)
    return {
        "step": jnp.zeros((), jnp.int32),
        "g": g,
        "d": d,
        "g_opt": tx.init(g["params"]),
        "d_opt": tx.init(d["params"]),
    }


def _bce(logits, label):
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, label)))


def make_train_step(config):
    """Returns ``step(state, real, rng) -> (state, metrics)`` (not yet jitted).

    ``real: [B, res, res, nc]`` in [-1, 1]; ``rng`` is the run's root key.
    """
    mcfg = model_config(config)
    tx = make_optimizer(config)

    def step(state: State, real: jax.Array, rng: jax.Array):
        key = jax.random.fold_in(rng, state["step"])
        z = sample_latents(key, real.shape[0], mcfg.nz, config.latent_dist)
        g, d = state["g"], state["d"]

        def g_fwd(gp):
            return generate(mcfg, {"params": gp, "batch_stats": g["batch_stats"]}, z, train=True)

        fake, g_vjp, g_stats = jax.vjp(g_fwd, g["params"], has_aux=True)

        def d_loss_fn(dp):
            lr, st = discriminate(
                mcfg, {"params": dp, "batch_stats": d["batch_stats"]}, real, train=True
            )
            lf, st = discriminate(mcfg, {"params": dp, "batch_stats": st}, fake, train=True)
            return _bce(lr, 1.0) + _bce(lf, 0.0), (st, lr, lf)

        (d_loss, (d_stats, lr, lf)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
            d["params"]
        )
        upd, d_opt = tx.update(d_grads, state["d_opt"], d["params"])
        d_params = optax.apply_updates(d["params"], upd)

        def g_loss_fn(x):
            l2, st = discriminate(mcfg, {"params": d_params, "batch_stats": d_stats}, x, train=True)
            return _bce(l2, 1.0), (st, l2)

        (g_loss, (d_stats, l2)), dx = jax.value_and_grad(g_loss_fn, has_aux=True)(fake)
        (g_grads,) = g_vjp(dx)
        upd, g_opt = tx.update(g_grads, state["g_opt"], g["params"])
        g_params = optax.apply_updates(g["params"], upd)

        new = {
            "step": state["step"] + 1,
            "g": {"params": g_params, "batch_stats": g_stats},
            "d": {"params": d_params, "batch_stats": d_stats},
            "g_opt": g_opt,
            "d_opt": d_opt,
        }
        metrics = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": jnp.mean(jax.nn.sigmoid(lr)),
            "d_fake": jnp.mean(jax.nn.sigmoid(lf)),
            "d_fake_after": jnp.mean(jax.nn.sigmoid(l2)),
        }
        return new, metrics

    return step


# ------------------------------------------------------------------ outputs


def write_loss_plot(metrics_file: pathlib.Path, out: pathlib.Path) -> None:
    """Loss curves (D and G, and D's mean outputs) from ``metrics.jsonl`` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(s) for s in metrics_file.read_text().splitlines() if s.strip()]
    if not rows:
        return
    steps = [r["step"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    a.plot(steps, [r["d_loss"] for r in rows], label="D loss")
    a.plot(steps, [r["g_loss"] for r in rows], label="G loss")
    a.set_xlabel("step")
    a.legend()
    a.set_title("losses")
    b.plot(steps, [r["d_real"] for r in rows], label="D(x)")
    b.plot(steps, [r["d_fake"] for r in rows], label="D(G(z))")
    b.set_xlabel("step")
    b.set_ylim(0, 1)
    b.legend()
    b.set_title("discriminator outputs")
    fig.tight_layout()
    tmp = out.with_name(out.name + ".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, out)


def _truncate_metrics(metrics_file: pathlib.Path, step: int) -> None:
    """Drops metric rows after ``step`` (written by a run that died after its last checkpoint)."""
    if not metrics_file.exists():
        return
    rows = [
        s
        for s in metrics_file.read_text().splitlines()
        if s.strip() and json.loads(s)["step"] <= step
    ]
    metrics_file.write_text("".join(r + "\n" for r in rows))


class _Preemption:
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


class ConfigError(ValueError):
    """A config that cannot train (the CLI reports it as a usage error)."""


def check_config(config: ml_collections.ConfigDict) -> None:
    """Fails fast, before any compilation or data preparation, on unusable configs."""
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
    for k in (
        "batch_size",
        "num_steps",
        "log_every",
        "sample_every",
        "checkpoint_every",
        "nan_check_every",
    ):
        if int(config[k]) < 1:
            raise ConfigError(f"config.{k} must be >= 1, got {config[k]}")
    try:
        model_config(config)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"bad model config: {e}") from e
    if config.get("init_from") and not os.path.isdir(config.init_from):
        raise ConfigError(f"init_from={config.init_from}: no such directory")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> State:
    """Trains for ``config.num_steps`` steps in ``workdir``; returns the final state.

    Writes ``checkpoints/``, ``samples/step_XXXXXX.png`` (fixed noise, G in
    inference mode), ``metrics.jsonl``, ``losses.png`` and ``config.json``.
    Raises ``FloatingPointError`` naming the step if a loss becomes non-finite
    (nothing is checkpointed after the last finite step) and :class:`ConfigError`
    on an unusable config.
    """
    from dcgan import input_pipeline
    from neural_art.images import save_grid

    check_config(config)
    workdir = pathlib.Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    is_main = jax.process_index() == 0
    logging.info("config:\n%s", config)
    if is_main:
        (workdir / "config.json").write_text(config.to_json_best_effort(indent=2) + "\n")
    mcfg = model_config(config)
    root = jax.random.key(config.seed)
    rng = jax.random.fold_in(root, 3)
    fixed_z = sample_latents(
        jax.random.fold_in(root, 4), config.num_samples, mcfg.nz, config.latent_dist
    )

    devices = jax.devices()
    if config.batch_size % len(devices):
        raise ValueError(f"batch_size {config.batch_size} not divisible by {len(devices)} devices")
    mesh = jax.sharding.Mesh(np.array(devices), ("data",))
    logging.info("data-parallel over %d device(s): %s", len(devices), devices[0].platform)
    repl, data_sh = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))

    # Resume order: checkpoint in workdir -> resume; else config.init_from
    # (exported weights) -> start from them; else from scratch.
    state = jax.jit(lambda k: init_state(config, k), out_shardings=repl)(root)
    mngr = checkpoints.manager(workdir, keep=config.keep_checkpoints, every=config.checkpoint_every)
    restored = checkpoints.restore(
        mngr, jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=repl), state)
    )
    metrics_file = workdir / "metrics.jsonl"
    if restored is not None:
        state, meta = restored
        logging.info("resumed from step %d (%d examples seen)", meta["step"], meta["examples_seen"])
        _truncate_metrics(metrics_file, int(meta["step"]))
    elif config.get("init_from"):
        _, g_vars, d_vars, _ = checkpoints.load(config.init_from)
        state = jax.device_put({**state, "g": g_vars, "d": d_vars}, repl)
        logging.info("initialised G and D from %s", config.init_from)
        metrics_file.unlink(missing_ok=True)
    else:
        metrics_file.unlink(missing_ok=True)
    start = int(state["step"])

    data_dir = config.data.get("data_dir") or (
        None if config.data.source == "mnist" else str(workdir / "tfds")
    )
    batches, info = input_pipeline.train_batches(
        config.data,
        batch_size=config.batch_size,
        resolution=mcfg.resolution,
        nc=mcfg.nc,
        start_step=start,
        data_dir=data_dir,
    )
    logging.info("data: %s", info)

    train_step = make_train_step(config)

    def tracked_step(state, real, rng, first_bad):
        # The first non-finite step is recorded on device, so the loop need not
        # sync with the host every step to report it exactly (nan_check_every).
        new, m = train_step(state, real, rng)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in m.values()]))
        return new, m, jnp.where((first_bad < 0) & ~finite, new["step"], first_bad)

    step_fn = jax.jit(
        tracked_step,
        in_shardings=(repl, data_sh, repl, repl),
        out_shardings=(repl, repl, repl),
        donate_argnums=0,
    )
    first_bad = jax.device_put(jnp.int32(-1), repl)
    sample_fn = generate_fn(mcfg)

    def meta(step):
        return {"step": step, "examples_seen": step * config.batch_size, "data": info}

    def write_samples(step):
        if is_main:
            imgs = np.asarray(sample_fn(state["g"], fixed_z))
            save_grid(
                workdir / "samples" / f"step_{step:06d}.png",
                imgs,
                ncols=16 if len(imgs) >= 64 else None,
            )

    delay = float(config.get("step_delay_s", 0.0))  # throttle: preemption tests/demos only
    t0, last_t, last_step = time.time(), time.time(), start
    with _Preemption() as pre:
        for step in range(start, config.num_steps):
            real = jax.device_put(next(batches), data_sh)
            if delay:
                time.sleep(delay)
            state, m, first_bad = step_fn(state, real, rng, first_bad)
            done = step + 1
            final = done == config.num_steps
            stop = pre.flag  # read once: a signal may arrive at any time
            save = final or stop or mngr.should_save(done)
            if done % config.nan_check_every == 0 or save:  # never checkpoint a NaN state
                bad = int(first_bad)
                if bad >= 0:
                    m = {k: float(v) for k, v in jax.device_get(m).items()}
                    raise FloatingPointError(
                        f"non-finite loss at step {bad} (metrics at step {done}: {m})"
                    )
            if done % config.log_every == 0 or done == config.num_steps:
                m = {k: float(v) for k, v in jax.device_get(m).items()}
                now = time.time()
                rate = (done - last_step) / max(now - last_t, 1e-9)
                last_t, last_step = now, done
                logging.info(
                    "step %d  %s  %.2f steps/s",
                    done,
                    " ".join(f"{k}={v:.4f}" for k, v in m.items()),
                    rate,
                )
                if is_main:
                    with metrics_file.open("a") as f:
                        f.write(json.dumps({"step": done, **m}) + "\n")
            if done % config.sample_every == 0 or done == config.num_steps:
                write_samples(done)
                if is_main:
                    write_loss_plot(metrics_file, workdir / "losses.png")
            if save:
                checkpoints.save(mngr, done, state, meta(done), force=final or stop)
            if stop:
                logging.warning("stopped by signal after step %d (checkpoint saved)", done)
                break
    mngr.wait_until_finished()
    mngr.close()
    logging.info("trained %d steps in %.1fs", int(state["step"]) - start, time.time() - t0)
    return state
