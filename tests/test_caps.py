"""Caps from the plan, before compute (hostile-input issue, item 3): a count or size
flag past the device's memory is refused in one line naming the flag and the largest
value that fits (exit 2), fast (a few tiny compiles at small sizes, nothing of the
huge size built), and nothing is created in ``--out_dir``. A value at the stated
largest is not refused by the cap (checked on the planning functions, not by
running a huge job). The limit is :func:`neural_art.capacity.hard_limit` (here:
this machine's RAM), so the huge values below are far past any machine's.
"""

from __future__ import annotations

import re
import time

import pytest
from cli_harness import assert_one_line_error, run_cli
from fixtures import TINY_BIGGAN

from neural_art import capacity

BG = [f"--weights={TINY_BIGGAN}", "--classes=volcano", "--seeds=0"]


def _largest(line: str) -> int:
    m = re.search(r"at most (\d+)", line)
    assert m, line
    return int(m.group(1))


def test_fit_largest_is_the_bound():
    f = capacity.Fit(base=100.0, slope=7.0)
    assert f.largest(100 + 7 * 5) == 5 and f.largest(100 + 7 * 5 - 1) == 4
    q = capacity.Fit(base=10.0, slope=2.0, power=2)
    n = q.largest(10_000)
    assert q.peak(n) <= 10_000 < q.peak(n + 1)
    assert capacity.Fit(base=200.0, slope=1.0).largest(100) == 0
    limit = 1000  # an extrapolated plan may fill HEADROOM of it
    usable = int(limit * capacity.HEADROOM)
    n = f.largest(usable)
    with pytest.raises(capacity.TooLarge, match=rf"--batch={n + 1}: .* more than 80% of .*; at most {n} fit"):
        f.check(n + 1, limit, flag="batch")
    f.check(n, limit, flag="batch")  # the bound itself is not refused


def test_biggan_latents_refused_from_the_plan(tmp_path, monkeypatch):
    from biggan_jax import experiment

    built = []  # nothing of 10**7 rows may be built: not the latents, not the file layout
    for name in ("latents", "describe"):
        real = getattr(experiment, name)
        monkeypatch.setattr(experiment, name, lambda *a, _f=real, _n=name, **k: built.append(_n) or _f(*a, **k))
    out = tmp_path / "out"
    t = time.monotonic()
    r = run_cli("biggan_jax", [*BG, "--latents=10000000", f"--out_dir={out}"])
    took = time.monotonic() - t
    line = assert_one_line_error(r, (2,), "--latents=10000000")
    assert "rows per network" in line and "more than 80% of this machine's RAM" in line, line
    largest = _largest(line)
    assert 0 < largest < 10_000_000
    assert not out.exists() and not built, built
    # weights init + two tiny compiles (16-20 s beside another test worker); building the
    # 10**7-row layout alone took 45 s, so the bound still tells the two apart
    assert took < 40, took


def test_biggan_latents_bound_is_not_refused():
    """The planning function's largest value passes its own check; one more is refused."""
    import jax
    from biggan_jax import experiment, hub, sharded
    from biggan_jax.model import param_shapes

    cfg = hub.config_for(TINY_BIGGAN)
    params = param_shapes(cfg)  # what the CLI plans with (its programs are cached)
    job = experiment.SweepJob(weights=TINY_BIGGAN, classes=("volcano", "espresso"), seeds=(0,),
                              out_dir="unused", latents=10**7)  # fmt: skip
    limit, _ = capacity.hard_limit(jax.devices()[0])
    usable = int(limit * capacity.HEADROOM)
    fit = sharded.rows_fit(cfg, job.perturbation, job.precision, sharded.seed_mesh(), 1, params, job.truncation,
                           2 * job.latents)
    largest_rows = fit.largest(usable)
    assert fit.peak(largest_rows) <= usable < fit.peak(largest_rows + 1)
    ok = largest_rows // 2
    experiment.check_rows(experiment.SweepJob(**{**job.__dict__, "latents": ok}), cfg, params, [1, 2])
    with pytest.raises(capacity.TooLarge, match=rf"--latents={ok + 1}: .* at most {ok} fit"):
        experiment.check_rows(experiment.SweepJob(**{**job.__dict__, "latents": ok + 1}), cfg, params, [1, 2])


def test_biggan_smallest_chunk_past_the_device_is_refused_by_the_plan(tmp_path, monkeypatch):
    """Few rows: no extra compile; the plan's own smallest chunk, past the hard limit
    (here a pretend 1 MiB device), is refused naming --latents before out_dir exists."""
    monkeypatch.setattr(capacity, "hard_limit", lambda device=None: (1 << 20, "this device's"))
    out = tmp_path / "out"
    r = run_cli("biggan_jax", [*BG, "--latents=8", f"--out_dir={out}"])  # the program measured above
    line = assert_one_line_error(r, (2,), "--latents=8: one chunk of 1 networks x 8 rows")
    assert "more than this device's 1.0 MiB; none fits" in line, line
    assert not out.exists()


def test_biggan_walk_frames_refused_from_the_plan(tmp_path):
    out = tmp_path / "walk"
    t = time.monotonic()
    r = run_cli("biggan_jax", [*BG, "--mode=walk", "--frames=100000000", f"--out_dir={out}"])
    took = time.monotonic() - t
    line = assert_one_line_error(r, (2,), "--frames=100000000")
    assert 0 < _largest(line) < 100_000_000
    assert not out.exists()
    assert took < 25, took


def test_featvis_size_refused_from_the_plan(tmp_path):
    out = tmp_path / "fv"
    t = time.monotonic()
    r = run_cli("featvis", ["--model=toy", "--targets=0", "--method=pixel", "--size=300000", "--steps=2",
                            f"--out_dir={out}"])  # fmt: skip
    took = time.monotonic() - t
    line = assert_one_line_error(r, (2,), "--size=300000")
    assert "one step of one target at 300000x300000" in line, line
    assert 512 < _largest(line) < 300_000
    assert not out.exists()
    assert took < 10, took


def test_featvis_size_bound_is_not_refused():
    from featvis import app, models

    m, targets = models.toy(), app.parse_targets("0")
    s = app.Settings(method="pixel", size=300_000, steps=2)
    limit, _ = capacity.hard_limit()
    usable = int(limit * capacity.HEADROOM)
    fit = app.step_fit(m, targets, s, num_classes=10)
    n = fit.largest(usable)
    assert fit.peak(n) <= usable < fit.peak(n + 1)
    app.check_size(m, targets, app.Settings(method="pixel", size=n, steps=2), num_classes=10)
    with pytest.raises(capacity.TooLarge, match=rf"--size={n + 1}: .* at most {n} fit"):
        app.check_size(m, targets, app.Settings(method="pixel", size=n + 1, steps=2), num_classes=10)


def test_featvis_library_visualise_refuses_a_size_before_compute(tmp_path, monkeypatch):
    """The library call checks too (not only the CLI): nothing rendered, nothing written."""
    from featvis import app, models

    rendered = []
    monkeypatch.setattr(app, "render_targets", lambda *a, **k: rendered.append(a))
    with pytest.raises(capacity.TooLarge, match="--size=300000"):
        app.visualise(models.toy(), app.parse_targets("0"), app.Settings(method="pixel", size=300_000,
                      steps=2), num_classes=10, out_dir=tmp_path / "fv")  # fmt: skip
    assert not rendered and not (tmp_path / "fv").exists()


def test_autoencoder_batch_refused_from_the_plan(tmp_path):
    (tmp_path / "imgs" / "train").mkdir(parents=True)
    out = tmp_path / "ae"
    t = time.monotonic()
    r = run_cli("featvis.train_autoencoder", [f"--images={tmp_path / 'imgs'}", "--batch=10000000", "--steps=1",
                                              "--width=0.0625", f"--out_dir={out}"])  # fmt: skip
    took = time.monotonic() - t
    line = assert_one_line_error(r, (2,), "--batch=10000000")
    assert "one training step of 10000000 images" in line, line
    largest = _largest(line)
    assert 64 < largest < 10_000_000
    assert not out.exists()
    assert took < 20, took
    # the bound (the planning function's, cached from the call above) is not refused; one more is
    from featvis import train_autoencoder as ta

    ta.check_batch(largest, width=0.0625, noise_sd=20.0, learning_rate=1.0, seed=0)
    with pytest.raises(capacity.TooLarge, match=rf"--batch={largest + 1}: .* at most {largest} fit"):
        ta.check_batch(largest + 1, width=0.0625, noise_sd=20.0, learning_rate=1.0, seed=0)

