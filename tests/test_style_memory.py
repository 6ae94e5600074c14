"""styletransfer.memory: the plan is chosen from the compiled step's own
memory_analysis() before any compute; a budget below the no-remat peak gets a
remat plan whose reported peak fits (and the same image); a size no plan fits
and ``--max_size`` are one UserError naming the flag and a size or the memory.

Tiny random VGG-19 (width 8, the session's) at 48 px, Adam, 2 steps.
"""

import json
import os

import numpy as np
import pytest

from neural_art.errors import UserError
from styletransfer import Settings, color, memory, remat, transfer, vgg

S = Settings(optimizer="adam", steps=2)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.uniform(0, 1, (48, 48, 3)).astype(np.float32), rng.uniform(0, 1, (40, 40, 3)).astype(np.float32)


def _peak(net, plan, hw=(48, 48)):
    return memory.step_peak(net, S, hw, plan, has_content=True, n_styles=1)


def test_remat_features_equal_vgg_apply(tiny_vgg19_net, images):
    cfg, params = tiny_vgg19_net
    x = images[0][None]
    layers = ("conv1_1", "relu2_2", "conv4_2", "conv5_1")
    want = vgg.apply(cfg, params, x, layers, pooling="avg")[1]
    for plan in remat.PLANS:
        got = remat.features(cfg, params, x, layers, pooling="avg", remat=plan)
        assert set(got) == set(layers)
        for k in layers:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-6, err_msg=f"{plan} {k}")


def test_budget_below_no_remat_peak_chooses_remat_that_fits(tiny_vgg19_net, images):
    peaks = {p: _peak(tiny_vgg19_net, p) for p in remat.PLANS}
    lean = min(peaks, key=peaks.get)
    assert peaks[lean] < peaks["none"], peaks
    budget = (peaks["none"] + peaks[lean]) / 2
    plan = memory.choose(tiny_vgg19_net, S.replace(memory_budget=budget / 1e9), (48, 48),
                         has_content=True, n_styles=1)  # fmt: skip
    assert plan.remat != "none" and plan.peak_bytes <= plan.budget_bytes < peaks["none"], (plan, peaks)
    content, style = images
    r = transfer.stylize(tiny_vgg19_net, content, [style], S.replace(memory_budget=budget / 1e9))
    assert r.plans[0].remat == plan.remat and r.plans[0].peak_bytes == plan.peak_bytes
    ref = transfer.stylize(tiny_vgg19_net, content, [style], S.replace(remat="none"))
    np.testing.assert_allclose(r.image, ref.image, atol=1e-5)


def test_size_no_plan_fits_names_the_largest_that_does(tiny_vgg19_net, images):
    fits64 = min(_peak(tiny_vgg19_net, p, (64, 64)) for p in remat.PLANS)
    content = np.asarray(color.resize(images[0], (96, 96)))
    with pytest.raises(UserError, match=r"96x96 .*--memory_budget=.*largest size that fits is 64 px"):
        transfer.stylize(tiny_vgg19_net, content, [images[1]], S.replace(memory_budget=fits64 / 1e9))


def test_max_size_is_a_guard_naming_the_memory(tiny_vgg19_net, images):
    content, style = images
    with pytest.raises(UserError, match=r"--max_size=32: the output would be 48x48; .* MB per device"):
        transfer.stylize(tiny_vgg19_net, content, [style], S.replace(max_size=32))


def test_default_budget_is_a_stated_fraction_of_memory():
    assert memory.budget_bytes(None) == int(memory.DEFAULT_BUDGET_FRACTION * memory.device_memory())
    assert memory.budget_bytes(2.5) == 2_500_000_000


def test_cli_scales_written_as_they_finish_and_plan_errors_one_line(tmp_path):
    """The CLI: each coarser scale's image is written, the plans are in losses.json;
    budget/guard/device mistakes are one line naming the flag."""
    from cli_harness import assert_one_line_error, run_cli
    from fixtures import TINY_VGG19
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, shape in (("c.png", (40, 30, 3)), ("s.png", (24, 24, 3))):
        Image.fromarray(rng.integers(0, 256, shape, np.uint8)).save(tmp_path / name)
    out = tmp_path / "out"
    argv = [f"--weights={TINY_VGG19}", f"--content={tmp_path / 'c.png'}", f"--style={tmp_path / 's.png'}",
            "--size=64", "--scales=32,64", "--steps=2", "--optimizer=adam", "--color=histogram",
            f"--out_dir={out}", "--noprogress"]  # fmt: skip
    r = run_cli("styletransfer", argv)
    assert r.code == 0, r.err[-3000:]
    assert os.listdir(out / "scales") == ["scale_1_24x32.png"]
    assert np.asarray(Image.open(out / "result.png")).shape == (64, 48, 3)
    plans = json.loads((out / "losses.json").read_text())["memory_plans"]
    assert [(p["hw"], p["remat"]) for p in plans] == [([32, 24], "none"), ([64, 48], "none")], plans
    for bad, code, says in [("--memory_budget=-1", 2, "--memory_budget"), ("--devices=99", 2, "--devices=99"),
                            ("--max_size=48", 1, "--max_size=48: the output would be 48x64"),
                            ("--memory_budget=1e-6", 1, "--memory_budget=1e-06 GB; not even 16 px fits")]:  # fmt: skip
        assert_one_line_error(run_cli("styletransfer", [*argv, bad]), (code,), says)
