"""One CLI language (issue 11): every command's ``--helpfull`` uses the shared flag
names, and none keeps an old spelling; each module is installed as a command."""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
import re
import subprocess
import sys
import tomllib

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
}
OLD = {"output", "output_dir", "out", "iterations", "lr", "chunk", "dtype", "first_seed", "root_seed"}


def _flags(module: str) -> set[str]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", module, "--helpfull"], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=300)  # fmt: skip
    text = r.stdout + r.stderr
    # only the module's own section (absl lists every imported module's flags)
    names = set(re.findall(r"^\s+--(?:\[no\])?([A-Za-z_][\w]*)\s*:", text, re.M))
    assert names, text[-2000:]
    return names


def test_every_cli_speaks_the_shared_language():
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        found = dict(zip(CLIS, ex.map(_flags, CLIS), strict=True))
    for module, want in CLIS.items():
        assert want <= found[module], (module, want - found[module])
        assert not (found[module] & OLD), (module, found[module] & OLD)


def test_every_cli_is_an_installed_command():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    targets = {v.split(":")[0] for v in scripts.values()}
    for module in CLIS:
        run_module = {"biggan_jax": "biggan_jax.main", "styletransfer": "styletransfer.main",
                      "featvis": "featvis.main"}.get(module, module)  # fmt: skip
        if module != "launch.tpu_vm":
            assert run_module in targets, module
