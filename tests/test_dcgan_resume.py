"""Resuming DCGAN training (``python -m dcgan.main``) in a workdir trained with
another config: refused before any compute in one line naming the changed keys
(exit 2); changes in :data:`dcgan.checkpoints.RESUMABLE` are accepted; every run
is recorded in ``configs/run-NNN.json``; a checkpoint whose shapes do not fit
(its ``config.json`` lost) is one line too, never orbax's traceback wall.

The workdir holds what a tiny run leaves before its first sample: ``config.json``,
``configs/run-000.json`` and an orbax checkpoint at step 1 (the trainer's state
tree and shapes, zeros), written by the trainer's own functions (no training
step, no compile). The refused cases run in this process
(tests/cli_harness.py).
"""

import json
import pathlib
import shutil

import jax
import numpy as np
import pytest
from cli_harness import assert_one_line_error, run_cli
from PIL import Image

from dcgan import checkpoints, steps
from dcgan.configs import art

ROOT = pathlib.Path(__file__).resolve().parents[1]
BASE = ["--config=dcgan/configs/art.py:quick", "--config.model.resolution=16"]


def _config(folder):
    c = art.get_config("quick")
    c.model.resolution = 16
    c.data.folder = str(folder)
    return c


def _folder(root: pathlib.Path) -> pathlib.Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):  # above the folder source's min_pixels (128 * 128)
        Image.fromarray(rng.integers(0, 256, (140, 130, 3), np.uint8)).save(root / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``(workdir, data folder)``: the recorded config and a checkpoint at step 1."""
    tmp = tmp_path_factory.mktemp("resume")
    folder = _folder(tmp / "data")
    cfg, w = _config(folder), tmp / "w"
    checkpoints.record_run(cfg, w, argv=["dcgan.main", "--first"])
    # the trainer's state tree with its shapes; zeros: no forward pass to compile
    abstract = jax.eval_shape(lambda: steps.init_state(cfg, jax.random.key(cfg.seed)))
    state = jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), abstract)
    mngr = checkpoints.manager(w)
    checkpoints.save(mngr, 1, {**state, "step": np.int32(1)}, {"step": 1, "examples_seen": 16},
                     force=True)  # fmt: skip
    mngr.wait_until_finished()
    mngr.close()
    return w, folder


def _snapshot(d: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _cases(trained, tmp: pathlib.Path, cases: dict[str, list[str]]) -> dict:
    """Runs each case (in this process) in a copy of the trained workdir:
    ``{name: (workdir, result, files before)}``."""
    out = {}
    for name, extra in cases.items():
        d = tmp / name
        shutil.copytree(trained[0], d)
        if name == "lost_config_json":
            (d / "config.json").unlink()
        before = _snapshot(d)
        out[name] = (d, run_cli("dcgan.main", [*BASE, f"--workdir={d}", *extra], cwd=ROOT), before)
    return out


@pytest.fixture(scope="module")
def cli(trained, tmp_path_factory):
    """The refused resumes, in one interpreter."""
    tmp = tmp_path_factory.mktemp("cases")
    folder = trained[1]
    return _cases(trained, tmp, {
        "model_and_batch": [f"--config.data.folder={folder}", "--config.model.ngf=4",
                            "--config.batch_size=8"],
        "data": [f"--config.data.folder={_folder(tmp / 'other_data')}"],
        "lost_config_json": [f"--config.data.folder={folder}", "--config.model.ngf=4"],
    })  # fmt: skip


def _one_error_line(r, code: int) -> str:
    line = assert_one_line_error(r, (code,))
    assert "Exception ignored" not in r.err and r.err.strip().endswith(line), r.err[-3000:]
    return line


def test_changed_model_config_is_refused_in_one_line_before_any_compute(cli):
    w, r, before = cli["model_and_batch"]
    line = _one_error_line(r, 2)
    assert line.startswith(f"error: --config changed since the checkpoint in {w} (step 1; "
                           f"{w}/config.json): "), line  # fmt: skip
    assert "batch_size 16 -> 8" in line and "model.ngf 8 -> 4" in line, line
    assert "--config.batch_size=16" in line and "--config.model.ngf=8" in line, line
    assert "start a new --workdir" in line and "num_steps, log_every" in line, line
    assert _snapshot(w) == before  # nothing written: no run record, no samples, no data


def test_changed_data_config_is_refused(cli):
    w, r, before = cli["data"]
    line = _one_error_line(r, 2)
    assert "data.folder " in line and "other_data" in line, line
    assert "model." not in line and "batch_size" not in line, line  # only what changed
    assert _snapshot(w) == before


def test_shape_mismatch_without_config_json_is_one_line(cli):
    """No config.json to compare with: the restore compares orbax's metadata with
    the config's shapes before reading an array."""
    w, r, before = cli["lost_config_json"]
    line = _one_error_line(r, 1)
    assert line.startswith(f"error: checkpoint 1 in {w}/checkpoints does not fit the config: "), line
    # ngf 8 -> 4 (model.ngf of the config file, config.json gone): G's first BN has 2 * ngf
    assert "g.batch_stats.bn0.mean (16,) (config: (8,))" in line and " more; " in line, line
    assert not (w / "config.json").exists()  # a resume never writes the reference config


def test_allowed_changes_are_accepted_and_every_run_is_recorded(trained, tmp_path):
    """Every key of RESUMABLE changed at once passes the check; the run is recorded
    next to the first, config.json stays the checkpoints' reference. (The real CLI
    resuming with a changed step_delay_s, SIGTERM/SIGKILL in between: tests/
    test_dcgan_train.py::test_kill_and_resume_is_exact, which checks its records.)"""
    w = tmp_path / "w"
    shutil.copytree(trained[0], w)
    cfg = _config(trained[1])
    cfg.update(dict(num_steps=2, log_every=1, sample_every=3, num_samples=4, checkpoint_every=1,
                    keep_checkpoints=9, nan_check_every=1, step_delay_s=0.1, init_from=str(w)))  # fmt: skip
    cfg.data.data_dir = str(tmp_path / "tfds")
    changed = {k for k, _, _ in checkpoints.config_changes(
        json.loads((w / "config.json").read_text()), checkpoints.config_dict(cfg))}  # fmt: skip
    assert changed == set(), changed
    checkpoints.check_resume(cfg, w)
    reference = (w / "config.json").read_bytes()
    path = checkpoints.record_run(cfg, w, argv=["dcgan.main", "--config.num_steps=2"])
    assert path == w / "configs" / "run-001.json" and (w / "config.json").read_bytes() == reference
    first, second = (json.loads((w / "configs" / f"run-00{i}.json").read_text()) for i in (0, 1))
    assert first["argv"] == ["dcgan.main", "--first"] and first["resumed_from_step"] is None
    assert second["run"] == 1 and second["resumed_from_step"] == 1 and "started" in second
    assert second["argv"] == ["dcgan.main", "--config.num_steps=2"]
    assert second["config"]["num_steps"] == 2 and first["config"]["num_steps"] == 20
    assert json.loads(reference) == first["config"]


def test_config_changes_and_fresh_workdirs(trained, tmp_path, caplog):
    """Library level: which keys count; a workdir without a checkpoint takes any
    config (and records it as its reference); one with checkpoints but no
    config.json cannot be checked (a warning; the shapes are checked on restore)."""
    old = checkpoints.config_dict(_config(tmp_path))
    new = checkpoints.config_dict(_config(tmp_path))
    new.update(num_steps=5, log_every=1, step_delay_s=0.5, lr=0.5)
    new["data"]["data_dir"] = "/elsewhere"
    new["model"]["ndf"] = 4
    del new["model"]["leak"]
    changes = checkpoints.config_changes(old, new)
    assert [(k, a, b) for k, a, b in changes if k != "model.leak"] == [("model.ndf", 8, 4),
                                                                      ("lr", 1e-4, 0.5)]  # fmt: skip
    assert [k for k, _, b in changes if b is checkpoints._ABSENT] == ["model.leak"]

    w = tmp_path / "w"
    checkpoints.record_run(_config(tmp_path), w, argv=["a"])
    changed = _config(tmp_path)
    changed.model.ngf = 4
    checkpoints.check_resume(changed, w)  # no checkpoint: nothing to contradict
    checkpoints.record_run(changed, w, argv=["b"])
    assert json.loads((w / "config.json").read_text())["model"]["ngf"] == 4
    assert sorted(p.name for p in (w / "configs").iterdir()) == ["run-000.json", "run-001.json"]

    lost = tmp_path / "lost"
    shutil.copytree(trained[0], lost)
    (lost / "config.json").unlink()
    checkpoints.check_resume(changed, lost)
    assert "has checkpoints but no config.json: cannot check the config" in caplog.text
