"""Watching DCGAN training (dcgan/evaluate.py): the evaluation is one program
compiled once across evaluations; the collapse alarm fires on a G forced to
collapse and not on a healthy run; ``stop_on_collapse`` keeps the last good
checkpoint and names its step; metrics.jsonl and TensorBoard get the numbers.

Feature network: what a run uses offline with the ``vgg19`` release converted in
the weights cache (the FID Inception's fetch fails): here the tiny
``random:vgg19:8`` saved there, relu5_1 at 75x75 input, few images; its numbers
are named ``frechet_vgg19_w8_relu5_1_75px`` etc., never FID/KID."""

import json

import jax
import ml_collections
import numpy as np
import pytest
from fixtures_dcgan import dcgan_tiny_config

from dcgan import checkpoints, evaluate, hub, train
from neural_art import vgg_features
from neural_art.fetch import WeightsUnavailableError

pytest.importorskip("tensorflow_datasets", reason="training input needs tensorflow-datasets")

EVAL = dict(features="inception", seed=0, num_real=8, num_fake=8, batch=8, image_size=75,
            kid_subsets=2, kid_subset_size=6)  # fmt: skip


def _collapse(g):
    """G forced to collapse: its last layer's input zeroed (the last BN's scale and
    bias at 0, so LeakyReLU(0) = 0 feeds the final ConvT): every z gives tanh(0)."""
    n = len([k for k in g["params"] if k.startswith("bn")]) - 1
    bn = {k: jax.numpy.zeros_like(v) for k, v in g["params"][f"bn{n}"].items()}
    return {**g, "params": {**g["params"], f"bn{n}": bn}}


def test_d_winning_for_k_evaluations_raises_the_divergence_alarm():
    alarms = evaluate.Alarms(ml_collections.ConfigDict(
        dict(diversity_fraction=0.5, d_win_accuracy=0.9, d_win_evals=2)))  # fmt: skip
    win = {"diversity": 1.0, "d_acc_real": 0.99, "d_acc_fake": 0.97}
    assert alarms.check(1, win) == []
    assert alarms.check(2, {**win, "d_acc_fake": 0.5}) == []  # the run of wins restarts
    assert alarms.check(3, win) == []
    assert alarms.check(4, win)[0].startswith("divergence alarm at step 4")


def _run(dcgan_flat_data, workdir, **kw):
    folder, data_dir = dcgan_flat_data
    kw = dict(num_steps=10, log_every=5, sample_every=5, checkpoint_every=5, eval_every=5) | kw
    cfg = dcgan_tiny_config(folder, data_dir, **kw)
    cfg.eval.update(EVAL)
    return cfg, train.train_and_evaluate(cfg, workdir)


def _offline_with_vgg19(monkeypatch, cache, tiny_vgg19):
    from weights_convert import vgg as vgg_conv

    monkeypatch.setenv("NEURAL_ART_JAX_CACHE", str(cache))

    def no_network(cache=None):
        raise WeightsUnavailableError("could not download pt_inception-2015-12-05-6726825d.pth")

    monkeypatch.setattr(hub, "load_fid_weights", no_network)
    cfg, params = tiny_vgg19
    vgg_conv.save(vgg_features.release_dir("vgg19"), cfg, params, source="test",
                  source_sha256=None, release="vgg19")  # fmt: skip


def test_alarm_fires_on_forced_collapse_only_and_stop_keeps_last_good(dcgan_flat_data, tmp_path,
                                                                      monkeypatch, caplog,
                                                                      tiny_vgg19):  # fmt: skip
    """One tiny run, evaluated every 5 steps, G forced to collapse after step 10:
    the healthy evaluations (5, 10) raise no alarm, the one at 15 does; with
    ``stop_on_collapse`` the run stops there without checkpointing step 15 and
    names step 10. Every evaluation ran one compiled program; metrics.jsonl and
    the TensorBoard events hold the numbers and the alarm."""
    make_step, make_eval, evaluators = train.make_step_fn, train.make_evaluator, []

    def collapsing_step_fn(config, repl, data_sh):
        step_fn = make_step(config, repl, data_sh)

        def f(state, real, rng, first_bad):
            state, m, first_bad = step_fn(state, real, rng, first_bad)
            if int(state["step"]) > 10:
                state = {**state, "g": _collapse(state["g"])}
            return state, m, first_bad

        return f

    _offline_with_vgg19(monkeypatch, tmp_path / "cache", tiny_vgg19)
    monkeypatch.setattr(train, "make_step_fn", collapsing_step_fn)
    monkeypatch.setattr(train, "make_evaluator", lambda *a: evaluators.append(make_eval(*a)) or evaluators[-1])
    caplog.set_level("WARNING")
    run = tmp_path / "run"
    _run(dcgan_flat_data, run, num_steps=20, stop_on_collapse=True, keep_checkpoints=4)
    rows = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval" in r]
    assert [r["step"] for r in evals] == [5, 10, 15]
    assert [bool(r.get("alarms")) for r in evals] == [False, False, True]
    tag = "vgg19_w8_relu5_1_75px"
    assert evals[2]["alarms"][0].startswith(f"collapse alarm at step 15: diversity_{tag}")
    assert evals[2]["eval"][f"diversity_{tag}"] < 1e-3 * evals[1]["eval"][f"diversity_{tag}"]
    assert set(evals[0]["eval"]) == {f"frechet_{tag}", f"mmd_{tag}", f"mmd_std_{tag}",
                                     f"diversity_{tag}", "d_acc_real", "d_acc_fake"}  # fmt: skip
    assert "FID Inception weights unavailable" in caplog.text and "(not FID/KID)" in caplog.text
    assert all(np.isfinite(v) for r in evals for v in r["eval"].values())
    assert all("g_grad_norm" in r and "d_grad_norm" in r for r in rows if "d_loss" in r)
    assert evaluators[0]._run._cache_size() == 1  # one compiled program for every evaluation
    steps_saved = checkpoints.checkpoint_steps(run)
    assert max(steps_saved) == 10 and 15 not in steps_saved
    assert "stop_on_collapse: stopped at step 15 without saving it; last good checkpoint: 10" in caplog.text
    import tensorflow as tf

    tags = set()
    for f in (run / "events").iterdir():
        for e in tf.compat.v1.train.summary_iterator(str(f)):
            tags |= {v.tag for v in e.summary.value}
    assert {f"eval/frechet_{tag}", f"eval/diversity_{tag}", "train/d_loss", "samples",
            "alarms"} <= tags  # fmt: skip
    assert not any("fid" in t or "kid" in t for t in tags)
    with pytest.raises(train.ConfigError, match="eval_every"):
        train.check_config(dcgan_tiny_config(tmp_path, stop_on_collapse=True))
