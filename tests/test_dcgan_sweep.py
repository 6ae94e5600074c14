"""DCGAN perturbation sweep and sample CLIs on the embedded model: the README's
first command from a fresh working directory, grid size, seed-k columns
independent of the batch, perturbed != original, clear errors on bad flags.

Two subprocesses, where a fresh interpreter is the point: the README's command
exactly as typed, and ``import dcgan`` loading neither TensorFlow nor torch.
Every other CLI call runs in this process (tests/cli_harness.py)."""

import importlib
import pathlib
import re
import shlex
import sys

import jax
import numpy as np
import pytest
from absl import flags
from cli_harness import assert_one_line_error, run_cli
from PIL import Image
from procs import ROOT, run_python

import dcgan
from dcgan import hub
from dcgan import perturbed as P
from dcgan.model import generate
from neural_art import perturb, sweep

PAD = 2


def _cells(png, rows, cols, res):
    """Image cells ``[rows, cols, res, res, C]`` of a labelled grid (margins top/left)."""
    a = np.asarray(Image.open(png))
    top = a.shape[0] - (rows * (res + PAD) + PAD)
    left = a.shape[1] - (cols * (res + PAD) + PAD)
    assert top > 0 and left >= 0, "a labelled grid has a title margin"
    out = np.empty((rows, cols, res, res) + a.shape[2:], a.dtype)
    for r in range(rows):
        for c in range(cols):
            y, x = top + PAD + r * (res + PAD), left + PAD + c * (res + PAD)
            out[r, c] = a[y : y + res, x : x + res]
    return out


def _readme_command() -> list[str]:
    """The README's fresh-machine sweep command (the part after ``pip install -e . &&``)."""
    text = pathlib.Path(ROOT, "README.md").read_text()
    m = re.search(r"&& (python -m dcgan\.sweep[^\n`]*)", text)
    assert m, "README.md has no 'python -m dcgan.sweep' fresh-machine command"
    return shlex.split(m.group(1))


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """The README's first command, run in an empty directory (no out/ yet); returns
    the grid it wrote and the process."""
    cwd = tmp_path_factory.mktemp("fresh")
    cmd = _readme_command()
    assert cmd[:3] == ["python", "-m", "dcgan.sweep"]
    r = run_python(cmd[1:], cwd=cwd, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    png = pathlib.Path(r.stdout.strip().splitlines()[-1])
    png = png if png.is_absolute() else cwd / png
    assert png.suffix == ".png" and cwd in png.parents
    return png, r


def test_readme_command_writes_grid(readme_run):
    png, r = readme_run
    assert png.exists() and str(png.name) in r.stdout
    cfg = dcgan.load()[0]
    cells = _cells(png, 6, 9, cfg.resolution)  # defaults: 6 latents x (8 seeds + original)
    w, h = Image.open(png).size
    left, top = w - (9 * (cfg.resolution + PAD) + PAD), h - (6 * (cfg.resolution + PAD) + PAD)
    assert 0 < left <= 80 and 0 < top <= 80, (w, h)  # cells + row-label and title/column margins
    orig = cells[:, -1].astype(int)
    for k in range(8):  # every perturbed column differs from the original column
        assert np.abs(cells[:, k].astype(int) - orig).mean() > 1.0, f"seed {k} == original"
    assert len({cells[:, k].tobytes() for k in range(8)}) == 8  # and from each other
    assert orig.std() > 10  # the original column is not blank


def test_seed_column_is_independent_of_the_batch(readme_run, tmp_path):
    """Seeds 2..5 in a chunk of 2 give the same pixels as in the README's run of 0..7."""
    png, _ = readme_run
    cfg = dcgan.load()[0]
    r = run_cli("dcgan.sweep", [f"--out_dir={tmp_path / 'o'}", "--seeds=2-5", "--chunk_size=2"])
    assert r.code == 0, r.err[-3000:]
    a, b = _cells(png, 6, 9, cfg.resolution), _cells(tmp_path / "o" / "grid.png", 6, 5, cfg.resolution)
    np.testing.assert_array_equal(b[:, :4], a[:, 2:6])
    np.testing.assert_array_equal(b[:, 4], a[:, 8])  # original column


def test_sweep_uses_the_project_perturb_module():
    """Network k is eq. (2) of the one perturbation module with key fold_in(key(seed + 1), k)
    on the latents sample_latents(key(seed), n)."""
    cfg, params = dcgan.load()
    g = params["generator"]
    z = jax.random.normal(jax.random.key(0), (2, cfg.nz))
    imgs = P.images(None, [3], seed=0, latents=2)
    want = generate(cfg, perturb.multiplicative(g, perturb.seed_key(jax.random.key(1), 3), alpha=0.35), z)
    np.testing.assert_allclose(imgs[0], want, atol=1e-5)
    zero = P.images(None, [0, 1], seed=0, latents=2, perturbation=sweep.Perturbation(alpha=0.0))
    np.testing.assert_allclose(zero, np.stack([generate(cfg, g, z)] * 2), atol=1e-5)  # alpha = 0: identity


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--out_dir=o", "--seeds=3-1"], "--seeds"),
        (["--out_dir=o", "--seeds=0-1000000"], "--seeds"),  # past neural_art.ranges.MAX_COUNT
        (["--out_dir=o", "--alpha=-1"], "--alpha"),
        (["--out_dir=o", "--alpha=inf"], "--alpha"),
        (["--out_dir=o", "--alpha=nan"], "--alpha"),
        (["--out_dir=o", "--bogus=1"], "Unknown command line flag 'bogus'"),
        (["--out_dir=o", "--weights=/nonexistent/dir"], "--weights"),
        (["--out_dir=o", "--weights=random:nope"], "unknown config"),
        (["--out=sweep.png"], "Unknown command line flag 'out'"),
        (["--first_seed=1", "--out_dir=o"], "Unknown command line flag 'first_seed'"),
        (["--seeds=0-1"], "--out_dir is required"),
        (["--out_dir=o", "extra"], "unexpected arguments"),
    ],
)
def test_bad_flags_fail_clearly(tmp_path, args, msg):
    """Usage errors: exit 2, one ``error:`` line, no traceback, nothing written."""
    r = run_cli("dcgan.sweep", args, cwd=tmp_path)
    assert_one_line_error(r, (2,), msg)
    assert len(r.err.strip().splitlines()) == 1, r.err[-2000:]
    assert not list(tmp_path.iterdir())


def test_sample_cli_default_embedded(tmp_path):
    r = run_cli("dcgan.sample", ["--out_dir=a/b", "--n=16"], cwd=tmp_path)
    assert r.code == 0, r.err[-3000:]
    cfg = dcgan.load()[0]
    cells = _cells(tmp_path / "a/b/samples.png", 4, 4, cfg.resolution)
    assert len({c.tobytes() for c in cells.reshape(16, -1)}) == 16  # distinct samples


def test_missing_embedded_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "EMBEDDED_DIR", tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="embedded DCGAN is missing"):
        dcgan.load()


def test_embedded_model_is_trained():
    """Its samples are spatially coherent images, not noise or blanks.

    Statistic: correlation of horizontally adjacent pixels over 64 samples.
    Measured: embedded G 0.89 (pixel std 0.42); training patches 0.93 (std 0.47);
    an untrained G of the same architecture (train-mode BN) -0.05.
    """
    from dcgan.model import generate, init_generator, sample_latents

    cfg, params = dcgan.load()
    g, d, meta = params["generator"], params["discriminator"], hub.metadata()
    assert meta["trained_steps"] == 1500 and meta["dtype"] == "bfloat16"
    assert d, "the embedded model ships D too (deconvnet figures need it)"

    def lag1(x):
        x = np.asarray(x, np.float64)
        return np.corrcoef(x[:, :, :-1].ravel(), x[:, :, 1:].ravel())[0, 1]

    z = sample_latents(jax.random.key(0), 64, cfg.nz)
    x = generate(cfg, g, z)
    assert lag1(x) > 0.8 and float(np.std(x)) > 0.25
    untrained, _ = generate(cfg, init_generator(cfg, jax.random.key(5)), z, train=True)
    assert lag1(untrained) < 0.2


def test_out_dir_form(tmp_path):
    """``--out_dir=DIR`` writes ``DIR/grid.png``; an --out_dir that is a file is a usage error."""
    r = run_cli("dcgan.sweep", ["--out_dir=o/sweep", "--seeds=0-1", "--latents=1"], cwd=tmp_path)
    assert r.code == 0, r.err[-3000:]
    assert (tmp_path / "o" / "sweep" / "grid.png").exists()
    (tmp_path / "f").write_text("")
    r = run_cli("dcgan.sweep", ["--out_dir=f/x"], cwd=tmp_path)
    assert_one_line_error(r, (2,), "is a file")


def test_public_api_without_tf_or_torch():
    """A fresh interpreter (the point: nothing imported yet) loads and runs the
    embedded G through ``import dcgan`` without importing TensorFlow or torch."""
    code = (
        "import sys, jax, dcgan; cfg, params = dcgan.load(); "
        "x = dcgan.generate(cfg, params['generator'], dcgan.sample_latents(jax.random.key(0), 2, cfg.nz)); "
        "assert x.shape == (2, 64, 64, 3), x.shape; "
        "bad = [k for k in ('tensorflow', 'torch') if k in sys.modules]; assert not bad, bad"
    )
    r = run_python(["-c", code], timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


LIBRARIES = ("dcgan.grids", "dcgan.perturbed", "dcgan.figures", "dcgan.train", "dcgan.hub")


def test_cli_modules_have_run_entry_points():
    """Every CLI module defines its flags at module level and a ``run()`` entry
    point; the libraries behind them (grids, perturbed, figures, train, hub) define no flags:
    executed afresh, their module code leaves the flag registry as it was."""
    before = sorted(flags.FLAGS)
    for name in LIBRARIES:
        old = sys.modules.pop(name, None)
        try:
            importlib.import_module(name)
        finally:  # the library objects every other test holds stay the ones in use
            if old is not None:
                sys.modules[name] = old
                setattr(sys.modules["dcgan"], name.split(".")[1], old)
        assert sorted(flags.FLAGS) == before, name
    for mod in ("sample", "sweep", "analysis", "export", "main"):
        r = run_cli(f"dcgan.{mod}", ["--helpfull"], cwd=ROOT)
        text = r.out + r.err  # absl's --helpfull exits 1 (run() is what the harness calls)
        assert r.code == 1 and ("--out_dir" in text or "--workdir" in text), text[-2000:]
        assert f"dcgan.{mod}:" in text, text[-2000:]  # its own flags, under its own name
        for lib in LIBRARIES:
            assert f"{lib}:" not in text, (mod, lib)
        for old in ("--out=", "--output", "--first_seed", "--dtype", "--lr=", "--iterations"):
            assert old not in text, (mod, old)
    assert "--alpha" in run_cli("dcgan.sweep", ["--helpfull"], cwd=ROOT).out
