"""The package graph: one direction of imports, counting function-level imports.

    neural_art (core)  <-  biggan_jax, styletransfer, dcgan  <-  featvis
    weights_convert    ->  the models' configs + core (never the reverse)
    launch             ->  whatever it launches

The real graph is read from the code: every ``import`` / ``from ... import``
(relative ones resolved) and every ``importlib.import_module("...")`` with a
literal name, at module level or inside a function. The single allowed
exception is stated edge by edge in :data:`LAZY_EDGES`: a model's ``hub.py``
importing its converter (``weights_convert``) inside a function, to convert a raw
release on first use. Those edges must be lazy, must exist, and are the only
cycles the graph may have; nothing else may import against the direction.

The checkers take a source root and their tables as arguments, so the tests at
the end run them on scratch trees with a cycle, an upward import and an unlisted
lazy import, and see each reported.
"""

from __future__ import annotations

import ast
import dataclasses
import pathlib
import sys

import jax
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("neural_art", "biggan_jax", "styletransfer", "dcgan", "featvis", "weights_convert", "launch")
ALLOWED = {  # package -> first-party packages it may import
    "neural_art": set(),
    "biggan_jax": {"neural_art"},
    "styletransfer": {"neural_art"},
    "dcgan": {"neural_art"},
    "featvis": {"neural_art", "styletransfer", "dcgan"},
    "weights_convert": {"neural_art", "biggan_jax", "styletransfer", "dcgan"},
    "launch": {"neural_art", "biggan_jax", "dcgan"},
}
# The allowed upward edges, exactly: (file, module it imports inside a function).
LAZY_EDGES = {
    ("biggan_jax/hub.py", "weights_convert.biggan"),     # a raw release / .bin: converted on first use
    ("styletransfer/hub.py", "weights_convert.vgg"),     # a raw torchvision release / .pth
    ("dcgan/hub.py", "weights_convert.torch_io"),        # a raw netG .pth: the torch reader
    ("dcgan/hub.py", "weights_convert.inception"),       # the FID network's release, converted on first use
}


@dataclasses.dataclass(frozen=True)
class Import:
    file: str     # relative to the root, "/"-separated
    package: str  # the importing file's top-level package
    module: str   # the imported module, resolved (a submodule when ``from pkg import sub``)
    line: int
    lazy: bool    # inside a function (def, async def, lambda)

    @property
    def target(self) -> str:
        return self.module.split(".")[0]


def _module_of(root: pathlib.Path, f: pathlib.Path) -> list[str]:
    parts = list(f.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _is_module(root: pathlib.Path, name: str) -> bool:
    p = root.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def imports(root: pathlib.Path, packages) -> list[Import]:
    """Every first-party import of every ``.py`` file under ``root/<package>``."""
    out = []
    for pkg in packages:
        for f in sorted((root / pkg).rglob("*.py")):
            out += _file_imports(root, f, packages)
    return out


def _file_imports(root: pathlib.Path, f: pathlib.Path, packages) -> list[Import]:
    tree = ast.parse(f.read_text(), str(f))
    here = _module_of(root, f)
    is_pkg = f.name == "__init__.py"
    in_fn = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_fn.update(id(n) for n in ast.walk(fn) if n is not fn)
    found = []
    for n in ast.walk(tree):
        names = []
        if isinstance(n, ast.Import):
            names = [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            if n.level:  # relative: from the file's package, up level - 1
                base = here if is_pkg else here[:-1]
                base = base[: len(base) - (n.level - 1)]
                mod = ".".join([*base, *([n.module] if n.module else [])])
            else:
                mod = n.module or ""
            subs = [f"{mod}.{a.name}".lstrip(".") for a in n.names]
            names = [m for m in subs if _is_module(root, m)] or [mod]
        elif (isinstance(n, ast.Call) and n.args and isinstance(n.args[0], ast.Constant)
              and isinstance(n.args[0].value, str)
              and (isinstance(n.func, ast.Attribute) and n.func.attr == "import_module"
                   or isinstance(n.func, ast.Name) and n.func.id in ("import_module", "__import__"))):  # fmt: skip
            names = [n.args[0].value]
        for m in names:
            if m.split(".")[0] in packages:
                found.append(Import(f.relative_to(root).as_posix(), here[0], m, n.lineno, id(n) in in_fn))
    return found


def upward_imports(imps: list[Import], allowed: dict, lazy_edges: set) -> list[str]:
    """Imports against the stated direction that are not a stated lazy edge."""
    return [f"{i.file}:{i.line}: {i.package} imports {i.module}" for i in imps
            if i.target != i.package and i.target not in allowed[i.package]
            and (i.file, i.module) not in lazy_edges]  # fmt: skip


def lazy_edge_problems(imps: list[Import], lazy_edges: set) -> list[str]:
    """A stated edge imported at module level, or stated but absent from the code."""
    bad = [f"{i.file}:{i.line}: {i.module} imported at module level (stated lazy)"
           for i in imps if (i.file, i.module) in lazy_edges and not i.lazy]  # fmt: skip
    seen = {(i.file, i.module) for i in imps}
    bad += [f"{f}: stated lazy edge to {m} is not in the code" for f, m in sorted(lazy_edges - seen)]
    return bad


def cycles(imps: list[Import], packages, lazy_edges: set) -> list[list[str]]:
    """The package graph's cycles once the stated lazy edges are taken out (each
    cycle found once, as a path of packages)."""
    graph = {p: set() for p in packages}
    for i in imps:
        if i.target != i.package and (i.file, i.module) not in lazy_edges:
            graph[i.package].add(i.target)
    found, state = [], {}

    def visit(p, stack):
        state[p] = 1
        for q in sorted(graph[p]):
            if state.get(q) == 1:
                found.append([*stack[stack.index(q):], p, q] if q in stack else [*stack, p, q])
            elif state.get(q) is None:
                visit(q, [*stack, p])
        state[p] = 2

    for p in packages:
        if p not in state:
            visit(p, [])
    return found


@pytest.fixture(scope="module")
def real_imports():
    imps = imports(ROOT, PACKAGES)
    assert len(imps) > 100 and any(i.lazy for i in imps)  # the scan sees the code
    return imps


def test_packages_import_in_one_direction(real_imports):
    bad = upward_imports(real_imports, ALLOWED, LAZY_EDGES)
    assert not bad, "imports against the stated direction:\n" + "\n".join(bad)


def test_the_stated_lazy_edges_are_real_and_lazy(real_imports):
    bad = lazy_edge_problems(real_imports, LAZY_EDGES)
    assert not bad, "\n".join(bad)


def test_package_graph_is_acyclic_but_for_the_stated_edges(real_imports):
    assert not cycles(real_imports, PACKAGES, LAZY_EDGES), cycles(real_imports, PACKAGES, LAZY_EDGES)
    # the full graph's cycles each run through a stated edge (and there are some today)
    full = cycles(real_imports, PACKAGES, set())
    assert full and all(any(a == "weights_convert" for a in c) for c in full), full


@pytest.mark.parametrize("pkg", PACKAGES)
def test_no_torch_or_tensorflow_at_module_level(pkg):
    """torch/TF only inside weights_convert/, and there only lazily (in functions)."""
    bad = []
    for f in sorted((ROOT / pkg).rglob("*.py")):
        tree = ast.parse(f.read_text())
        for n in tree.body:
            names = [a.name for a in n.names] if isinstance(n, ast.Import) else (
                [n.module] if isinstance(n, ast.ImportFrom) and n.module else [])
            if any(m.split(".")[0] in ("torch", "tensorflow", "tensorflow_hub") for m in names):
                bad.append(f"{f.relative_to(ROOT)}:{n.lineno}")
    assert not bad, bad


# --- converted weights load on the model side, without the converter ---------------------


def _block_the_converter(monkeypatch):
    """``import weights_convert`` (and any submodule, imported or not) now fails."""
    for name in [n for n in list(sys.modules) if n.startswith("weights_convert.")] + ["weights_convert"]:
        monkeypatch.setitem(sys.modules, name, None)


def test_converted_dirs_load_without_the_converter(tmp_path, monkeypatch, tiny_vgg16, tiny_biggan):
    """The stated lazy edges serve raw checkpoints only: a converted VGG or BigGAN
    directory, and DCGAN's exported weights, load with weights_convert unimportable."""
    from styletransfer import hub as style_hub
    from weights_convert import biggan as biggan_conv
    from weights_convert import vgg as vgg_conv

    import biggan_jax
    from dcgan import hub as dcgan_hub

    vgg_cfg, vgg_params = tiny_vgg16
    vgg_conv.save(tmp_path / "vgg", vgg_cfg, vgg_params, source="test", source_sha256=None)
    bg_cfg, bg_params = tiny_biggan
    biggan_conv.save(tmp_path / "biggan", bg_cfg, bg_params, source="test", source_sha256=None)
    (tmp_path / "raw.pth").write_bytes(b"PK\x03\x04")
    _block_the_converter(monkeypatch)
    with pytest.raises(ImportError):  # the block holds: a raw checkpoint needs the converter
        style_hub.load(tmp_path / "raw.pth")

    cfg, params = style_hub.load(tmp_path / "vgg")
    assert cfg == vgg_cfg and cfg.name == "vgg16-w8"
    jax.tree.map(np.testing.assert_array_equal, params, vgg_params)
    cfg, params = biggan_jax.load(tmp_path / "biggan")
    assert cfg.to_hf_dict() == bg_cfg.to_hf_dict()
    jax.tree.map(np.testing.assert_array_equal, params, bg_params)
    cfg, params = dcgan_hub.load("embedded")
    assert dcgan_hub.metadata("embedded")["model"] == "dcgan" and params["generator"]
    assert sys.modules["weights_convert"] is None  # nothing re-imported it


# --- the checkers can fail: scratch trees --------------------------------------------------

SCRATCH = ("core", "model", "conv")
SCRATCH_ALLOWED = {"core": set(), "model": {"core"}, "conv": {"core", "model"}}


def _tree(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for pkg in SCRATCH:
        (root / pkg).mkdir(parents=True, exist_ok=True)
        (root / pkg / "__init__.py").touch()
    for name, text in files.items():
        (root / name).write_text(text)
    return root


GOOD = {
    "core/util.py": "import os\n",
    "model/net.py": "from core import util\nfrom . import hub\n",
    "model/hub.py": "from core.util import os\n\ndef load():\n    from conv import raw  # stated\n",
    "conv/raw.py": "from model import net\nimport core.util\n",
}
GOOD_EDGES = {("model/hub.py", "conv.raw")}


def test_scratch_tree_with_only_the_stated_edge_passes(tmp_path):
    imps = imports(_tree(tmp_path, GOOD), SCRATCH)
    assert {(i.file, i.module, i.lazy) for i in imps} >= {
        ("model/net.py", "model.hub", False), ("model/hub.py", "conv.raw", True)}  # fmt: skip
    assert not upward_imports(imps, SCRATCH_ALLOWED, GOOD_EDGES)
    assert not lazy_edge_problems(imps, GOOD_EDGES)
    assert not cycles(imps, SCRATCH, GOOD_EDGES)
    assert cycles(imps, SCRATCH, set()) == [["model", "conv", "model"]]


def test_an_upward_import_is_reported(tmp_path):
    imps = imports(_tree(tmp_path, {**GOOD, "core/bad.py": "import model.net\n"}), SCRATCH)
    assert upward_imports(imps, SCRATCH_ALLOWED, GOOD_EDGES) == ["core/bad.py:1: core imports model.net"]
    assert cycles(imps, SCRATCH, GOOD_EDGES) == [["core", "model", "core"]]


def test_an_unlisted_lazy_import_is_reported_and_makes_a_cycle(tmp_path):
    sneaky = "def f():\n    import importlib\n    return importlib.import_module('conv.raw')\n"
    imps = imports(_tree(tmp_path, {**GOOD, "model/other.py": sneaky}), SCRATCH)
    assert upward_imports(imps, SCRATCH_ALLOWED, GOOD_EDGES) == ["model/other.py:3: model imports conv.raw"]
    assert cycles(imps, SCRATCH, GOOD_EDGES) == [["model", "conv", "model"]]


def test_a_stated_edge_at_module_level_or_gone_is_reported(tmp_path):
    eager = {**GOOD, "model/hub.py": "from conv import raw\n"}
    imps = imports(_tree(tmp_path / "a", eager), SCRATCH)
    assert lazy_edge_problems(imps, GOOD_EDGES) == [
        "model/hub.py:1: conv.raw imported at module level (stated lazy)"]  # fmt: skip
    gone = {**GOOD, "model/hub.py": "def load():\n    return None\n"}
    imps = imports(_tree(tmp_path / "b", gone), SCRATCH)
    assert lazy_edge_problems(imps, GOOD_EDGES) == ["model/hub.py: stated lazy edge to conv.raw is not in the code"]


def test_relative_imports_are_resolved(tmp_path):
    files = {**GOOD, "model/sub/__init__.py": "from .. import hub\nfrom ..net import util\n",
             "model/sub/leaf.py": "from . import x\nfrom .x import y\n", "model/sub/x.py": ""}
    (tmp_path / "model" / "sub").mkdir(parents=True)
    imps = imports(_tree(tmp_path, files), SCRATCH)
    got = {(i.file, i.module) for i in imps if i.file.startswith("model/sub/")}
    assert got == {("model/sub/__init__.py", "model.hub"), ("model/sub/__init__.py", "model.net"),
                   ("model/sub/leaf.py", "model.sub.x")}  # fmt: skip


# --- one sweep engine: the model packages hold no sweep machinery of their own ---------------

SWEEP_MACHINERY = {  # what neural_art.sweep owns: chunking/sharding, the manifest and resume, the gallery
    "shard_map", "process_allgather", "make_array_from_callback", "ProgramCache", "plan_sweep", "compiled_chunk",
    "Manifest", "ImageWriter", "Layout", "resume_state", "whole_png", "write_grids", "Curator", "thumbnail",
}  # fmt: skip
SWEEP_FILES = {"manifest.json", "scores.json", "index.html"}  # (a CLI may read the manifest run() returns)


def sweep_machinery(root: pathlib.Path, packages) -> list[str]:
    """``file:line name`` for every definition of, or reference to, the sweep engine's
    machinery (:data:`SWEEP_MACHINERY`; string constants :data:`SWEEP_FILES`) in ``packages``."""
    found = []
    for pkg in packages:
        for f in sorted((root / pkg).rglob("*.py")):
            for n in ast.walk(ast.parse(f.read_text())):
                name = (n.name if isinstance(n, (ast.FunctionDef, ast.ClassDef)) else n.id if isinstance(n, ast.Name)
                        else n.attr if isinstance(n, ast.Attribute) else n.value if isinstance(n, ast.Constant)
                        and isinstance(n.value, str) else None)  # fmt: skip
                alias = [a.asname or a.name for a in n.names] if isinstance(n, (ast.Import, ast.ImportFrom)) else []
                for x in [name, *alias]:
                    if x in SWEEP_MACHINERY or x in SWEEP_FILES or (x or "").endswith(("/manifest.json",)):
                        found.append(f"{f.relative_to(root)}:{n.lineno} {x}")
    return found


def test_model_packages_hold_no_sweep_machinery():
    """BigGAN and the DCGAN supply a generator and rows (neural_art.sweep.Model): no
    chunking, sharding, manifest, resume or gallery code of their own, and both
    sweep CLIs run the one engine."""
    assert not sweep_machinery(ROOT, ("biggan_jax", "dcgan")), sweep_machinery(ROOT, ("biggan_jax", "dcgan"))
    assert sweep_machinery(ROOT, ("neural_art",))  # the scan sees the engine where it is
    for f in ("biggan_jax/experiment.py", "dcgan/sweep.py"):
        calls = {(n.value.id, n.attr) for n in ast.walk(ast.parse((ROOT / f).read_text()))
                 if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}  # fmt: skip
        assert ("sweep", "run") in calls or ("driver", "run") in calls, f


def test_the_machinery_scan_sees_a_model_that_keeps_its_own(tmp_path):
    root = _tree(tmp_path, {"model/sweep.py": (
        "import json\nfrom core.gallery import Curator\n\n"
        "def finish(out, done):\n    json.dump({'seeds_done': done}, open(out + '/manifest.json', 'w'))\n"
        "    return Curator(out, 'index.html')\n")})  # fmt: skip
    got = sweep_machinery(root, ("model",))
    assert {g.split()[1] for g in got} == {"Curator", "index.html", "/manifest.json"}, got
