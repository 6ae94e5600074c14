"""One CLI language (issue 11): every command's ``--helpfull`` uses the shared flag
names, and none keeps an old spelling; each module is installed as a command.

``--helpfull`` is read in-process (tests/cli_harness.py). absl groups the help
text by the module that defined each flag: a CLI's own flags are the sections of
its entry module (and of the module its ``run()`` takes its flags from) plus
``neural_art.cli``, whose ``define_*`` helpers define the shared flags on the
CLI's behalf (the harness starts each call with no flags but absl's, so that
section holds this CLI's shared flags only). absl's own sections are not read.
"""

from __future__ import annotations

import importlib.metadata
import pathlib
import re
import subprocess
import sys
import sysconfig
import tomllib

import pytest
from cli_harness import RUN_MODULE, run_cli
from procs import python_env

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLIS = {  # python -m MODULE -> shared flags it must offer
    "biggan_jax": {"out_dir", "weights", "seeds", "seed", "precision", "chunk_size"},
    "styletransfer": {"out_dir", "weights", "steps", "learning_rate", "seed"},
    "featvis": {"out_dir", "weights", "steps", "learning_rate", "seed", "chunk_size"},
    "featvis.train_autoencoder": {"out_dir", "steps", "seed", "learning_rate"},
    "dcgan.main": {"workdir"},
    "dcgan.sample": {"out_dir", "weights", "seed"},
    "dcgan.sweep": {"out_dir", "weights", "seeds", "seed"},
    "dcgan.analysis": {"out_dir", "weights", "seed"},
    "dcgan.export": {"out_dir", "workdir", "precision", "overwrite"},
    "weights_convert.biggan": {"out_dir", "overwrite"},
    "weights_convert.vgg": {"out_dir", "overwrite"},
    "weights_convert.dcgan": {"out_dir", "overwrite"},
    "launch.tpu_vm": {"out_dir"},
    "launch.prepare": {"weights"},
}
OLD = {"output", "output_dir", "out", "iterations", "lr", "chunk", "dtype", "first_seed", "root_seed"}
# A CLI whose run() takes its flags from another module of its own.
FLAG_MODULE = {"weights_convert.biggan": "weights_convert.biggan_cli"}
SHARED = "neural_art.cli"  # the define_* helpers: the shared flags, defined for the CLI


def sections(helpfull: str) -> dict[str, str]:
    """absl's ``--helpfull`` text split by defining module: ``{module: its lines}``."""
    out, name = {}, None
    for line in helpfull.splitlines():
        m = re.fullmatch(r"(\S+):", line)
        if m:
            name = m.group(1)
            out[name] = ""
        elif name is not None:
            out[name] += line + "\n"
    return out


def own_sections(module: str) -> tuple[str, ...]:
    run_module = RUN_MODULE.get(module, module)
    return (FLAG_MODULE.get(module, run_module), SHARED)


def own_flags(module: str, helpfull: str) -> set[str]:
    """The flags ``module`` defines itself (its sections, module docstring)."""
    secs = sections(helpfull)
    first = own_sections(module)[0]
    assert first in secs or module == "launch.prepare", (module, sorted(secs))  # prepare: shared only
    text = "".join(secs.get(s, "") for s in own_sections(module))
    return set(re.findall(r"^\s+(?:-\w,)?--(?:\[no\])?([A-Za-z_]\w*)\s*:", text, re.M))


@pytest.fixture(scope="module")
def helpfull():
    """``{module: --helpfull text}`` for every CLI, read in-process."""
    out = {}
    for module in CLIS:
        r = run_cli(module, ["--helpfull"], cwd=ROOT)
        assert r.code == 1 and "Traceback" not in r.err, (module, r.code, r.err[-2000:])  # absl: help exits 1
        out[module] = r.out
    return out


def test_every_cli_speaks_the_shared_language(helpfull):
    for module, want in CLIS.items():
        found = own_flags(module, helpfull[module])
        assert found, (module, helpfull[module][-2000:])
        assert want <= found, (module, want - found)
        assert not (found & OLD), (module, found & OLD)


def test_own_flags_exclude_absl_and_other_modules(helpfull):
    """The parser reads the CLI's sections only: absl's flags (--verbosity, --flagfile)
    are in the text but not in the result, and another CLI's flags never are."""
    text = helpfull["dcgan.sweep"]
    assert "--verbosity" in text and "--flagfile" in text
    found = own_flags("dcgan.sweep", text)
    assert {"alpha", "latents", "seeds", "weights"} <= found
    assert not found & {"verbosity", "flagfile", "help", "helpfull", "logtostderr", "undefok"}
    assert "classes" in own_flags("biggan_jax", helpfull["biggan_jax"])
    assert "classes" not in found
    assert {"src", "config", "bn_stats"} <= own_flags("weights_convert.biggan",
                                                      helpfull["weights_convert.biggan"])  # fmt: skip


def _scripts() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_every_cli_is_an_installed_command():
    targets = {v.split(":")[0] for v in _scripts().values()}
    for module in CLIS:
        if not module.startswith("launch."):
            assert RUN_MODULE.get(module, module) in targets, module


def test_every_installed_entry_point_resolves_and_runs():
    """The installed metadata matches pyproject, and each entry point's callable is
    the ``run()`` the harness calls: each one's ``--helpfull`` shows its own flags."""
    eps = {e.name: e for e in importlib.metadata.entry_points(group="console_scripts")
           if e.dist is not None and e.dist.name == "neural-art-jax"}  # fmt: skip
    assert {n: e.value for n, e in eps.items()} == _scripts()
    for name, ep in sorted(eps.items()):
        assert ep.attr == "run", name
        r = run_cli(ep.module, ["--helpfull"], cwd=ROOT)
        assert r.code == 1 and "Traceback" not in r.err, (name, r.code, r.err[-2000:])
        key = next(k for k in CLIS if RUN_MODULE.get(k, k) == ep.module)
        assert own_sections(key)[0] in sections(r.out), (name, r.out[:300])
        assert CLIS[key] <= own_flags(key, r.out), name
        assert callable(ep.load()), name


def test_an_installed_console_script_runs(tmp_path):
    """One real installed command (the process boundary is the point): the script
    beside this interpreter, run from outside the checkout."""
    script = pathlib.Path(sysconfig.get_path("scripts")) / "dcgan-sweep"
    if not script.exists():
        script = pathlib.Path(sys.executable).parent / "dcgan-sweep"
    assert script.exists(), script
    r = subprocess.run([str(script), "--helpfull"], capture_output=True, text=True,
                       env=python_env(), cwd=tmp_path, timeout=300)  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "--alpha" in sections(r.stdout)["dcgan.sweep"]
    assert {"seeds", "weights", "out_dir"} <= own_flags("dcgan.sweep", r.stdout)
