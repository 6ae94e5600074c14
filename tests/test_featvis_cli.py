"""``python -m featvis`` end to end (random VGG-16 at width 8, 32²; in-process),
target parsing and bad-target / bad-flag errors (featvis.app, featvis.main)."""

import numpy as np
import pytest
from cli_harness import assert_one_line_error, run_cli
from fixtures import TINY_VGG16
from PIL import Image

from featvis import app, models


def _cli(*args):
    return run_cli("featvis", list(args))


def test_parse_targets():
    ts = app.parse_targets("668, mosque, 10-12, ostrich+bullfrog, relu4_2:0-2, conv5_1:7")
    assert [t.layer for t in ts] == [None] * 6 + ["relu4_2"] * 3 + ["conv5_1"]
    assert [t.index for t in ts[:6]] == [(668,), (668,), (10,), (11,), (12,), (9, 30)]
    assert ts[0].label.startswith("668 ") and "mosque" in ts[0].label
    assert [t.index for t in ts[6:]] == [(0,), (1,), (2,), (7,)]
    assert ts[6].label == "relu4_2:0"
    for bad, msg in [("", "no targets"), ("5-2", "end 2 < start 5"), ("relu4_2:x", "bad channel"),
                     ("not_a_class_zzz", "unknown class")]:  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            app.parse_targets(bad)


def test_check_targets_names_the_bad_one():
    m = models.toy()
    app.check_targets(m, app.parse_targets("0-9, relu2_1:0-15, 3+4"), 16, 10)
    for spec, msg in [("10", "class id 10 not in 0..9"), ("relu2_1:16", "channels 0..15"),
                      ("relu9_1:0", "no layer 'relu9_1'")]:  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            app.check_targets(m, app.parse_targets(spec), 16, 10)


def test_cli_random_vgg16_end_to_end(tmp_path):
    out = tmp_path / "out"
    r = _cli(f"--weights={TINY_VGG16}", "--targets=0-1,relu3_1:2,3+4", "--method=pixel", "--size=32",
             "--steps=3", "--thresholds=1", "--chunk_size=2", f"--out_dir={out}")  # fmt: skip
    assert r.code == 0, r.err[-3000:]
    assert "4 targets" in r.out and "target" in r.err  # tqdm bar on stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == ["0000_0_tench.png", "0001_1_goldfish.png", "0002_relu3_1_2.png",
                     "0003_3_tiger_shark+4_hammerhead.png", "grid.png"], files  # fmt: skip
    assert np.asarray(Image.open(out / "0002_relu3_1_2.png")).shape == (32, 32, 3)
    grid = np.asarray(Image.open(out / "grid.png"))
    assert grid.shape[0] > 4 * 32 and grid.shape[1] > 2 * 32  # 4 rows x 2 snapshots + labels


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--targets=no_such_class_zzz"], "unknown class 'no_such_class_zzz'"),
        (["--model=toy", "--targets=relu9_1:0", "--size=16"], "no layer 'relu9_1'"),
        (["--targets=1", "--steps=4", "--thresholds=9"], "thresholds in 1..4"),
        (["--targets=1", "--method=despraz-pretrained"], "needs --decoder"),
    ],
)
def test_cli_errors_are_usage_errors(args, msg, tmp_path):
    """Checked before any weights load: a usage error, exit 2, one line, no traceback."""
    r = _cli(*args, f"--out_dir={tmp_path}")
    assert_one_line_error(r, (2,), msg)


def test_visualise_rejects_despraz_at_other_sizes(tmp_path):
    with pytest.raises(ValueError, match="224"):
        app.visualise(models.toy(), app.parse_targets("1"),
                      app.Settings(method="despraz", size=64, steps=1), out_dir=tmp_path)  # fmt: skip
