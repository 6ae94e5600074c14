"""Non-finite numbers in a config or a float flag are refused in one line naming
the key, before any compute: ``dcgan.train.check_config`` for a config however it
was made (file or code), :func:`neural_art.cli.non_finite_flags` for every CLI's
float flags and ``--config.*`` overrides (exit 2, nothing written)."""

from __future__ import annotations

import pytest
from cli_harness import assert_one_line_error, run_cli
from test_golden import ROOT

from dcgan import train
from dcgan.configs import art


@pytest.mark.parametrize(("path", "value"), [
    (("lr",), float("nan")), (("b1",), float("inf")), (("eps",), float("-inf")),
    (("alarms", "d_win_accuracy"), float("nan")), (("model", "leak"), float("inf")),
])  # fmt: skip
def test_check_config_names_a_non_finite_key(path, value):
    c = art.get_config("quick")
    c.data.folder = str(ROOT)  # a directory: only the number can be wrong
    train.check_config(c)  # as made: accepted
    node = c
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    with pytest.raises(train.ConfigError, match=rf"config\.{'.'.join(path)} must be finite, got {value}"):
        train.check_config(c)


def test_non_finite_first(tmp_path):
    """Refused before the data folder is looked at (no folder given here)."""
    c = art.get_config("quick")
    c.lr = float("nan")
    with pytest.raises(train.ConfigError, match=r"config\.lr must be finite, got nan"):
        train.check_config(c)


@pytest.mark.parametrize(("module", "args", "bad"), [
    ("dcgan.main", ["--config=dcgan/configs/art.py:quick", "--config.lr=nan",
                    "--workdir={out}"], "--config.lr must be finite, got nan"),
    ("dcgan.main", ["--config=dcgan/configs/art.py:quick", "--config.eval.seed=1",
                    "--config.alarms.d_win_accuracy=-inf", "--workdir={out}"],
     "--config.alarms.d_win_accuracy must be finite, got -inf"),
    ("styletransfer", ["--weights=random:vgg19:8", "--content=x.png", "--style=y.png",
                       "--style_weight=inf", "--out_dir={out}"], "--style_weight must be finite, got inf"),
    ("biggan_jax", ["--weights=random:biggan-deep-128:4", "--truncation=nan",
                    "--out_dir={out}"], "--truncation must be finite, got nan"),
])  # fmt: skip
def test_cli_refuses_a_non_finite_value_before_compute(module, args, bad, tmp_path):
    out = tmp_path / "out"
    r = run_cli(module, [a.format(out=out) for a in args],
                env={"NEURAL_ART_JAX_CACHE": str(tmp_path / "cache")}, cwd=ROOT)  # fmt: skip
    assert_one_line_error(r, (2,), bad)
    assert not out.exists()
    assert not (tmp_path / "cache").exists()
