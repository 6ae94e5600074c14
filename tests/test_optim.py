"""neural_art.optim: the one jitted optax loop (Adam, L-BFGS + line search,
projection, snapshots, NaN reporting, no recompilation, vmap, loop forms)."""

import jax
import optax
import jax.numpy as jnp
import numpy as np
import pytest

from fixtures import count_compiles
from neural_art import optim

A = jnp.asarray(np.random.default_rng(0).normal(size=(6, 6)), jnp.float32)
H = A @ A.T + 0.5 * jnp.eye(6)

def quad(x, target):
    d = x - target
    return 0.5 * d @ H @ d

def test_lbfgs_converges_and_reports_losses():
    target = jnp.linspace(-1, 2, 6)
    final, snaps, losses, *_ = optim.run(
        quad, jnp.zeros(6), optim.make_optimizer("lbfgs"), 30, 10, loss_args=(target,)
    )
    np.testing.assert_allclose(final, target, atol=1e-4)
    assert losses.shape == (31,) and snaps.shape == (3, 6)
    assert float(losses[0]) == pytest.approx(float(quad(jnp.zeros(6), target)), rel=1e-6)
    assert float(losses[-1]) < 1e-7
    np.testing.assert_array_equal(snaps[-1], final)
    # monotone decrease (line search: sufficient decrease)
    assert np.all(np.diff(np.asarray(losses[:10])) <= 1e-6)

def test_projection_keeps_box_and_finds_constrained_optimum():
    target = jnp.asarray([-1.0, 0.5, 2.0, 0.2, 1.5, 0.9])
    lo_hi = optim.clip(0.0, 1.0)
    for name in ("adam", "lbfgs"):
        opt = optim.make_optimizer(name, 0.05 if name == "adam" else None)
        final, snaps, losses, *_ = optim.run(
            lambda x, t: jnp.sum((x - t) ** 2), jnp.full(6, 0.5), opt, 200, 50, project=lo_hi,
            loss_args=(target,),
        )  # fmt: skip
        assert float(jnp.min(snaps)) >= 0.0 and float(jnp.max(snaps)) <= 1.0
        np.testing.assert_allclose(final, jnp.clip(target, 0, 1), atol=2e-3, err_msg=name)

def test_adam_matches_hand_rolled_steps_and_remainder_snapshots():
    target = jnp.ones(6)
    opt = optim.make_optimizer("adam", 0.1)
    final, snaps, losses, *_ = optim.run(quad, jnp.zeros(6), opt, 7, 3, loss_args=(target,))
    assert snaps.shape == (2, 6) and losses.shape == (8,)
    x, st = jnp.zeros(6), opt.init(jnp.zeros(6))
    ref = []
    for _ in range(7):
        v, g = jax.value_and_grad(quad)(x, target)
        ref.append(v)
        u, st = opt.update(g, st, x)
        x = x + u
    np.testing.assert_allclose(final, x, rtol=1e-5)
    np.testing.assert_allclose(losses[:7], jnp.stack(ref), rtol=1e-5)
    # the learning rate is data: another rate compiles nothing and is the one used
    slow = optim.make_optimizer("adam", 0.03)
    assert slow == opt
    with count_compiles() as n:
        final3 = optim.run(quad, jnp.zeros(6), slow, 7, 3, loss_args=(target,)).params
    assert n[0] == 0
    x, tx = jnp.zeros(6), optax.adam(0.03)
    st = tx.init(x)
    for _ in range(7):
        u, st = tx.update(jax.grad(quad)(x, target), st, x)
        x = x + u
    np.testing.assert_allclose(final3, x, rtol=1e-5)

def test_nan_stops_with_step_number():
    def loss(x, s):  # sgd(1) with gradient -1 walks x = 0, 1, 2, ...; NaN once x > s
        return -jnp.sum(x) + jnp.where(jnp.sum(x) > s, jnp.nan, 0.0)

    with pytest.raises(optim.NonFiniteLossError, match="at step 4") as e:
        optim.run(loss, jnp.zeros(1), optim.make_optimizer("sgd", 1.0), 10, loss_args=(3.5,))
    assert e.value.step == 4

def test_no_recompilation_and_vmap():
    opt = optim.make_optimizer("lbfgs")
    optim.run(quad, jnp.zeros(6), opt, 5, loss_args=(jnp.ones(6),))
    x0, t = jnp.ones(6), 2 * jnp.ones(6)
    fresh = optim.make_optimizer("lbfgs")  # built anew: equal settings, another object
    assert fresh is not opt and fresh == opt and hash(fresh) == hash(opt)
    with count_compiles() as n:
        optim.run(quad, x0, fresh, 5, loss_args=(t,))
    assert n[0] == 0
    targets = jnp.stack([jnp.ones(6), -jnp.ones(6), jnp.arange(6.0)])
    out = jax.jit(jax.vmap(lambda t: optim.optimize(quad, jnp.zeros(6), opt, 40, loss_args=(t,))))(
        targets
    )
    np.testing.assert_allclose(out.params, targets, atol=1e-3)
    optim.check_finite(out.first_bad_step)
    with pytest.raises(optim.NonFiniteLossError, match="step 3 .*run 1 of the batch"):
        optim.check_finite(jnp.asarray([-1, 3, 5]))

@pytest.mark.parametrize("name", ["adam", "lbfgs"])
def test_loop_forms_agree_and_progress_every_n(name):
    """Jitted steps (CPU's form) and scan blocks (GPU's) run the same step: same numbers;
    optimize (one traceable function) too. Progress arrives every N steps and at the end."""
    target = jnp.linspace(-1, 2, 6)
    opt = optim.make_optimizer(name, 0.1 if name == "adam" else None)
    seen = []
    kw = dict(project=optim.clip(-0.5, 1.5), loss_args=(target,))
    a = optim.run(quad, jnp.zeros(6), opt, 12, 5, loop="steps", **kw,
                  callback=lambda s, v: seen.append((s, float(v))), progress_every=4)  # fmt: skip
    b = optim.run(quad, jnp.zeros(6), opt, 12, 5, loop="scan", **kw)
    c = jax.jit(lambda x: optim.optimize(quad, x, opt, 12, 5, **kw))(jnp.zeros(6))
    for other in (b, c):
        np.testing.assert_allclose(a.params, other.params, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(a.losses, other.losses, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(a.snapshots, other.snapshots, rtol=1e-6, atol=1e-7)
    assert a.snapshots.shape == (2, 6) and a.losses.shape == (13,)
    assert [s for s, _ in seen] == [4, 8, 12]
    assert seen[-1][1] == pytest.approx(float(a.losses[11]), rel=1e-6)
    assert optim.segments(12, 5, 1).count((1, True)) == 2
    assert optim.segments(12, 5, 100) == [(5, True), (5, True), (2, False)]

def test_batched_run_matches_single_runs():
    targets = jnp.stack([jnp.ones(6), -jnp.ones(6)])
    opt = optim.make_optimizer("adam", 0.1)
    out = optim.run(quad, jnp.zeros((2, 6)), opt, 6, 3, loss_args=(targets,), batch_axes=(0,))
    assert out.losses.shape == (2, 7) and out.snapshots.shape == (2, 2, 6)
    for i in range(2):
        one = optim.run(quad, jnp.zeros(6), opt, 6, 3, loss_args=(targets[i],))
        np.testing.assert_allclose(out.losses[i], one.losses, rtol=1e-5)
        np.testing.assert_allclose(out.params[i], one.params, rtol=1e-5)


@pytest.mark.parametrize("name", ["adamax", "sgd"])
def test_step_argument_listed_snapshots_and_aux_trace(name):
    """step_arg: the loss and the projection see the step number; snapshots after
    the listed steps; trace_aux: every step's aux. Same numbers as the optax loop
    written by hand (AdaMax, and SGD with Nesterov momentum, as featvis uses them)."""
    target = jnp.linspace(-1, 2, 6)
    settings = dict(momentum=0.1, nesterov=True) if name == "sgd" else {}
    opt = optim.make_optimizer(name, 0.05, **settings)
    tx = optax.sgd(0.05, **settings) if name == "sgd" else optax.adamax(0.05)

    def loss(x, s, t):
        return quad(x, t * (1.0 + 0.1 * s)), jnp.sum(x) + s

    shrink = lambda x, s: x * (1.0 - 0.01 * s)
    out = optim.run(loss, jnp.zeros(6), opt, 5, (2, 5), project=shrink, loss_args=(target,),
                    has_aux=True, step_arg=True, trace_aux=True)  # fmt: skip
    x, trace, snaps = jnp.zeros(6), [], []
    st = tx.init(x)
    for s in range(5):
        (_, a), g = jax.value_and_grad(loss, has_aux=True)(x, s, target)
        u, st = tx.update(g, st, x)
        x = shrink(x + u, s)
        trace.append(a)
        if s + 1 in (2, 5):
            snaps.append(x)
    np.testing.assert_allclose(out.trace, jnp.stack(trace), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.snapshots, jnp.stack(snaps), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.params, x, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unknown optimizer setting"):
        optim.make_optimizer(name, 0.05, beta=0.5)
    with pytest.raises(ValueError, match="line search"):
        optim.run(loss, jnp.zeros(6), optim.make_optimizer("lbfgs"), 2, loss_args=(target,),
                  has_aux=True, step_arg=True, trace_aux=True)  # fmt: skip
