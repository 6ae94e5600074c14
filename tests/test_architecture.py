"""The package graph: one direction of imports, counting function-level imports.

    neural_art (core)  <-  biggan_jax, styletransfer, dcgan  <-  featvis
    weights_convert    ->  the models' configs + core (never the reverse)
    launch             ->  whatever it launches

The single allowed exception: a model's ``hub.py`` may import its converter
(``weights_convert``) inside a function, to convert a raw release on first use.
"""

from __future__ import annotations

import ast
import pathlib

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


def _imports(path: pathlib.Path):
    """(imported first-party package, lineno, inside a function?) for every import."""
    tree = ast.parse(path.read_text(), str(path))
    in_fn = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_fn.update(id(n) for n in ast.walk(fn) if n is not fn)
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            mods = [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
            mods = [n.module]
        else:
            continue
        for m in mods:
            top = m.split(".")[0]
            if top in PACKAGES:
                yield top, n.lineno, id(n) in in_fn


def _edges():
    out = []
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            for dep, line, in_fn in _imports(f):
                if dep == pkg:
                    continue
                if f.name == "hub.py" and dep == "weights_convert" and in_fn:
                    continue  # the allowed lazy converter import
                out.append((pkg, dep, f"{f.relative_to(ROOT)}:{line}"))
    return out


def test_packages_import_in_one_direction():
    bad = [f"{where}: {a} imports {b}" for a, b, where in _edges() if b not in ALLOWED[a]]
    assert not bad, "imports against the stated direction:\n" + "\n".join(bad)


def test_package_graph_is_acyclic():
    graph = {p: set() for p in PACKAGES}
    for a, b, _ in _edges():
        graph[a].add(b)
    state = {}

    def visit(p, stack):
        if state.get(p) == 1:
            raise AssertionError("import cycle: " + " -> ".join([*stack, p]))
        if state.get(p) == 2:
            return
        state[p] = 1
        for q in sorted(graph[p]):
            visit(q, [*stack, p])
        state[p] = 2

    for p in PACKAGES:
        visit(p, [])


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


def test_the_check_sees_function_level_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import neural_art\n\ndef g():\n    from dcgan import model\n")
    assert [(d, fn) for d, _, fn in _imports(f)] == [("neural_art", False), ("dcgan", True)]
