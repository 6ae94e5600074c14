"""benchmarks/ in this process, at toy size: each script's argument parsing (the
suite's --smoke arguments give the toy sizes, every suite's arguments parse), the
suite's table writer (each script's section, the ours/PyTorch ratios read from the
scripts' JSON lines, the summary's medians, its own block in BENCHMARKS.md replaced
and other text kept), and the DCGAN race's step-1 parity with PyTorch.

The featvis race's parity is tests/test_featvis_bench.py; BigGAN's forward race is
the model's parity test (tests/test_biggan_parity.py, tests/test_biggan_convert.py).
``python benchmarks/gpu_suite.py --smoke`` (every script end to end, each in its own
interpreter, ~7 min on 2 cores) is run by hand: BENCHMARKS.md, "Running the suite".
"""

import contextlib
import io
import json
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import common, gpu_suite  # noqa: E402

SCRIPTS = ("biggan_forward.py", "biggan_sweep.py", "style.py", "style_memory.py", "dcgan.py", "featvis.py")


def smoke_argv(script: str, *toy: str) -> list[str]:
    """The arguments ``gpu_suite.py --smoke`` gives ``script``, plus a test's toy sizes."""
    (args,) = [a for _, s, a, _ in gpu_suite._smoke(gpu_suite.SUITES["gpu"]) if s == script]
    return [*args, *toy]


def test_every_script_of_every_suite_is_timed():
    for name, suite in gpu_suite.SUITES.items():
        assert sorted(s for _, s, _, _ in suite) == sorted(SCRIPTS), name
    for _, script, args, limit in gpu_suite._smoke(gpu_suite.SUITES["gpu"]):
        assert args[0] == "--smoke" and limit > 0
        assert all(a in args for a in gpu_suite.SMOKE_ARGS[script])


# ---------------------------------------------------------------- each script's arguments

PARSED_SMOKE = {  # what --smoke (and the suite's smoke arguments) make of each script
    "biggan_forward.py": {"batch": 2, "iters": 2, "torch_modes": "eager"},
    "biggan_sweep.py": {"seeds": 4, "latents": "1,2", "chunk": 2, "dtypes": "float32"},
    "style.py": {"size": 32, "steps": 3, "ratios": 2, "torch_modes": "eager",
                 "optimizers": "adam,lbfgs", "weights": "random:vgg19"},
    "style_memory.py": {"width": 8, "table_sizes": "64,128", "devices": "1", "time_sizes": "64"},
    "dcgan.py": {"ngf": 8, "batch": 8, "iters": 2, "torch_modes": "eager"},
    "featvis.py": {"size": 32, "targets": 4, "steps": 3, "torch_modes": "eager",
                   "dtypes": "float32"},
}  # fmt: skip


def bench_module(script: str):
    import importlib

    return importlib.import_module("benchmarks." + script.removesuffix(".py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_parses_the_suites_arguments(script, capsys):
    """The smoke's arguments give the toy sizes (BigGAN: width 4); every suite's own
    arguments are taken as given; a misspelt one is a usage error (exit 2)."""
    bench = bench_module(script)
    a = bench.parse_args(smoke_argv(script))
    assert a.smoke and {k: getattr(a, k) for k in PARSED_SMOKE[script]} == PARSED_SMOKE[script]
    if script.startswith("biggan"):
        cfg = bench.model_config(a)
        assert (cfg.name, cfg.channel_width) == ("biggan-deep-256", 4)
        full = bench.model_config(bench.parse_args(["--config=biggan-deep-128"]))
        assert full.channel_width == 128
    for name, suite in gpu_suite.SUITES.items():
        (args,) = [a for _, s, a, _ in suite if s == script]
        a = bench.parse_args(args)
        assert not a.smoke, name
        for k, v in (arg.removeprefix("--").split("=", 1) for arg in args):
            assert str(getattr(a, k)) == v, (name, k)
    with pytest.raises(SystemExit) as e:
        bench.parse_args(["--smoke", "--no_such_flag=1"])
    assert e.value.code == 2 and "--no_such_flag" in capsys.readouterr().err


@pytest.fixture
def xla_fast_compile():
    """``jax_disable_most_optimizations`` for one test, restored after (DCGAN's init and
    step: 30 -> 7 CPU-s). Only for programs no other test shares (a config of its own)
    and float results compared with a tolerance; the shared eager ops are warmed first."""
    import jax

    old = jax.config.values["jax_disable_most_optimizations"]
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", old)


def test_dcgan_race_step_one_parity_with_torch(request):
    """benchmarks/dcgan.py's race from the same weights, z and real batch: one step of
    ours (its jitted step) and of pytorch/examples' update (its PyTorch nets, loaded
    through dcgan.torch_layout's to-torch converters) gives the same D loss and the same
    G loss through the Adam-updated D (the step's order and optimiser, not only the
    nets: tests/test_dcgan_model.py has the nets' forward and gradients)."""
    pytest.importorskip("torch")
    import argparse

    import jax
    import numpy as np

    from benchmarks import dcgan as bench
    from dcgan import steps
    from dcgan.model import sample_latents

    a = argparse.Namespace(batch=5, torch_modes="eager", iters=1)
    config = bench._config(6, a.batch, "subpixel")  # the race's config, widths 6 (no other test's)
    config.model.resolution = 16  # (the script: 64)
    mcfg = steps.model_config(config)
    sample_latents(jax.random.fold_in(jax.random.key(1), 0), a.batch, mcfg.nz)  # warm, optimised
    request.getfixturevalue("xla_fast_compile")
    real = np.random.default_rng(0).uniform(-1, 1, (a.batch, 16, 16, 3)).astype(np.float32)
    state = jax.device_get(steps.init_state(config, jax.random.key(0)))
    med, first = bench.bench_ours(config, state, real, a.iters)
    extra = {}
    rows = bench._pytorch(a, config, mcfg, state, real, first, extra)
    assert med > 0 and [r["impl"] for r in rows] == ["pytorch eager"] and rows[0]["steps/s"] > 0
    for which in ("d_loss", "g_loss"):  # measured ~1e-7 (2.4e-7 / 7.2e-7 at the smoke's size)
        assert float(extra[f"step-1 |{which} - torch|"]) < 1e-4, extra


# ---------------------------------------------------------------- the table writer

ROWS = {  # a recorded-like table per script: ours rows then PyTorch peers
    "biggan_forward.py": [{"impl": "ours fp32", "img/s": 30.0}, {"impl": "ours bf16", "img/s": 90.0},
                          {"impl": "pytorch eager", "img/s": 20.0},
                          {"impl": "torch.compile", "img/s": 25.0}],
    "biggan_sweep.py": [
        {"impl": "ours float32 vmap", "seeds x latents": "4x1", "img/s": 20.0},
        {"impl": "ours bfloat16 vmap", "seeds x latents": "4x1", "img/s": 80.0},
        {"impl": "pytorch loop (eager)", "seeds x latents": "4x1", "img/s": 10.0},
        {"impl": "ours float32 vmap", "seeds x latents": "4x2", "img/s": 12.0},
        {"impl": "ours float32 map", "seeds x latents": "4x2", "img/s": 15.0},
        {"impl": "pytorch loop (eager)", "seeds x latents": "4x2", "img/s": 5.0},
    ],
    "style_memory.py": [{"size": "64²", "impl": "ours (remat=none)", "s/step": "0.500", "it/s": 2.0},
                        {"size": "64²", "impl": "ours (remat=block)", "s/step": "1.000", "it/s": 1.0},
                        {"size": "64²", "impl": "pytorch eager", "s/step": "1.000", "it/s": 1.0}],
    "dcgan.py": [{"impl": "ours jit (subpixel)", "steps/s": 9.0}, {"impl": "ours jit (dilated)", "steps/s": 6.0},
                 {"impl": "pytorch eager", "steps/s": 3.0}],
}  # fmt: skip
RESULTS = {  # style / featvis print {"results": ...}
    "style.py": {"ours/adam": {"it_per_s": 6.0}, "torch_eager/adam": {"it_per_s": 10.0},
                 "ours/lbfgs": {"it_per_s": 1.0}, "torch_eager/lbfgs": {"it_per_s": 4.0},
                 "torch_compile/adam": {"error": "no compiler"}},
    "featvis.py": {"ours/float32": {"img_it_per_s": 40.0}, "torch_eager/float32": {"img_it_per_s": 50.0},
                   "torch_eager/float32 vs ours/float32": {"max_rel_dev": 1e-3}},
}  # fmt: skip
WANT = {  # ours (best fp32 of the group) / PyTorch
    "biggan_forward.py": {"pytorch eager": 1.5, "torch.compile": 1.2},
    "biggan_sweep.py": {"pytorch eager (4x1)": 2.0, "pytorch eager (4x2)": 3.0},
    "dcgan.py": {"pytorch eager": 3.0},
    "style.py": {"pytorch eager": 0.6},
    "style_memory.py": {"pytorch eager": 2.0},
    "featvis.py": {"pytorch eager": 0.8},
}


def recorded_stdout(script: str, speed: float = 1.0) -> str:
    """What ``script`` prints: its table and JSON line (``common.report``), or its
    progress lines and ``{"results": ...}``; PyTorch ``speed`` times faster."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        if script in ROWS:
            rows = [{**r} for r in ROWS[script]]
            for r in rows:
                if not r["impl"].startswith("ours"):
                    k = next(k for k in gpu_suite.THROUGHPUT if k in r)
                    r[k] *= speed
            common.report(f"{script} table", rows, {"batch": 2})
        else:
            res = json.loads(json.dumps(RESULTS[script]))
            for name, r in res.items():
                if name.startswith("torch_") and "vs" not in name and "error" not in r:
                    k = "it_per_s" if "it_per_s" in r else "img_it_per_s"
                    r[k] *= speed
            print(f"ours: progress of {script}\n")
            print(json.dumps({"results": res}))
    return buf.getvalue()


@pytest.mark.parametrize("script", SCRIPTS)
def test_ratios_from_each_scripts_output(script):
    got = gpu_suite.ratios(recorded_stdout(script))
    assert got == pytest.approx(WANT[script]), got
    assert gpu_suite.ratios("no json here\n{not json") == {}


def test_section_strips_json_and_reports_failure():
    out = recorded_stdout("dcgan.py")
    ok = gpu_suite.section("DCGAN", "dcgan.py", ["--smoke"], out, 0, "", 12.3)
    assert ok.startswith("#### DCGAN\n\n`python benchmarks/dcgan.py --smoke` — 12 s\n\n### dcgan.py table")
    assert "| impl | steps/s |" in ok and '"rows"' not in ok and "**FAILED**" not in ok
    bad = gpu_suite.section("DCGAN", "dcgan.py", [], "", 1, "Traceback\nValueError: boom\n", 3)
    assert bad.endswith("**FAILED** (exit 1): ValueError: boom\n")
    late = gpu_suite.section("DCGAN", "dcgan.py", [], "", "timeout", "stopped after 9 s", 9)
    assert "**FAILED** (exit timeout): stopped after 9 s" in late


def test_summary_gives_each_run_and_the_median():
    runs = [[{"pytorch eager": r}, {"pytorch eager": 2 * r, "torch.compile": 1.0}] for r in (1.0, 3.0, 2.0)]
    text = gpu_suite.summary(["A", "B"], runs)
    assert text.splitlines()[:2] == ["| workload | peer | ratio per run | median |", "|---|---|---|---|"]
    assert "| A | pytorch eager | 1.00×, 3.00×, 2.00× | **2.00×** |" in text
    assert "| B | pytorch eager | 2.00×, 6.00×, 4.00× | **4.00×** |" in text
    assert "| B | torch.compile | 1.00×, 1.00×, 1.00× | **1.00×** |" in text
    # a peer missing from one run: the median of the runs that have it
    text = gpu_suite.summary(["A"], [[{"p": 1.0}], [{}], [{"p": 2.0}]])
    assert "| A | p | 1.00×, 2.00× | **1.50×** |" in text


def test_write_appends_then_replaces_only_its_own_block(tmp_path):
    out = tmp_path / "B.md"
    out.write_text("# Benchmarks\n\nkept text\n")
    gpu_suite.write("first\n", "gpu-smoke", out)
    assert out.read_text() == ("# Benchmarks\n\nkept text\n\n<!-- suite:gpu-smoke -->\nfirst\n"
                               "<!-- /suite:gpu-smoke -->\n")  # fmt: skip
    out.write_text(out.read_text() + "\nafter\n")
    gpu_suite.write("other", "cpu", out)
    gpu_suite.write("second", "gpu-smoke", out)
    assert out.read_text() == (
        "# Benchmarks\n\nkept text\n\n<!-- suite:gpu-smoke -->\nsecond\n<!-- /suite:gpu-smoke -->\n"
        "\nafter\n\n<!-- suite:cpu -->\nother\n<!-- /suite:cpu -->\n"
    )
    gpu_suite.write("new", "x", tmp_path / "fresh.md")
    assert (tmp_path / "fresh.md").read_text() == "<!-- suite:x -->\nnew\n<!-- /suite:x -->\n"


def test_versions_line_in_process():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(gpu_suite.VERSIONS_CODE, {})
    line = buf.getvalue().strip()
    assert re.fullmatch(r"jax [0-9.]+(, torch \S+)?, Python 3\.[0-9.]+", line), line


@pytest.fixture
def fake_scripts(monkeypatch):
    """gpu_suite with each script's run replaced by its recorded output; the calls."""
    calls, state = [], {"round": 0, "fail": set()}

    def run_script(script, args, limit):
        calls.append((script, args))
        if script == SCRIPTS[0]:
            state["round"] += 1
        out = recorded_stdout(script, speed=[1.0, 0.5, 2.0][(state["round"] - 1) % 3])
        if script in state["fail"]:
            return out.splitlines()[0], 1, "Traceback\nRuntimeError: out of memory\n"
        return out, 0, ""

    def versions():
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(gpu_suite.VERSIONS_CODE, {})
        return buf.getvalue().strip()

    monkeypatch.setattr(gpu_suite, "run_script", run_script)
    monkeypatch.setattr(gpu_suite, "_versions", versions)
    return calls, state


def test_suite_writes_every_table_with_summary_and_replaces_its_block(tmp_path, fake_scripts, capsys):
    calls, state = fake_scripts
    out = tmp_path / "B.md"
    out.write_text("# Benchmarks\n\nkept text\n")
    assert gpu_suite.main(["--smoke", f"--out={out}", "--repeats=3"]) == 0
    assert calls == [(s, a) for _, s, a, _ in gpu_suite._smoke(gpu_suite.SUITES["gpu"])] * 3
    text, printed = out.read_text(), capsys.readouterr().out.rstrip("\n")
    block = f"<!-- suite:gpu-smoke -->\n{printed}\n<!-- /suite:gpu-smoke -->\n"
    assert text == "# Benchmarks\n\nkept text\n\n" + block
    head = text.splitlines()[5:8]
    assert re.fullmatch(r"### Suite `gpu-smoke`: \d{4}-\d\d-\d\d \d\d:\d\d UTC", head[0]), head
    assert re.match(r"(CPU|GPU): .* · jax [0-9.]+.* · 3 round\(s\), \d+ s in all$", head[2]), head
    assert "**FAILED**" not in text
    for script in SCRIPTS:
        assert f"`python benchmarks/{script} --smoke" in text
    assert text.count("| impl |") == 4 and text.count("ours: progress of") == 2
    summary = text[text.index("Ours (fp32) over PyTorch"):text.index("Tables of the last round")]
    assert summary.count("| pytorch eager") == 7 and summary.count("×** |") == 8, summary
    # speeds x1, x0.5, x2 of PyTorch: ratios r, 2r, r/2 -> median r
    for title, script, _, _ in gpu_suite.SUITES["gpu"]:
        for peer, r in WANT[script].items():
            assert f"| {title} | {peer} | {r:.2f}×, {2 * r:.2f}×, {r / 2:.2f}× | **{r:.2f}×** |" in summary

    # a second run replaces its own block; a failed script fails the run and says why
    state["fail"].add("style.py")
    calls.clear()
    rc = gpu_suite.main(["--smoke", f"--out={out}", "--only=style.py,dcgan.py"])
    assert rc == 1 and [s for s, _ in calls] == ["style.py", "dcgan.py"]
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nkept text\n\n") and text.count("<!-- suite:gpu-smoke -->") == 1
    assert "**FAILED** (exit 1): RuntimeError: out of memory" in text and "biggan" not in text
    gpu_suite.main(["--suite=cpu", f"--out={out}", "--only=dcgan.py"])
    assert "--convt=subpixel" in out.read_text() and out.read_text().count("<!-- suite:") == 2
