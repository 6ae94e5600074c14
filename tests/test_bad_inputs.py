"""The bad-input table (issue 12): every CLI, given a user mistake, exits with
the exact code its row states, with ONE line ``error: ...`` naming the culprit
(flag, file or key), no traceback, and creates or changes no output.

Cases are written from the kinds of mistake (:data:`KINDS`) -- malformed or
unbounded ranges, non-finite / zero / negative numbers, unknown names, missing
flags, stray arguments, missing / wrong-kind / corrupt / oversized input files,
file-shaped, unwritable or foreign output directories -- across every installed
CLI; :func:`test_every_installed_cli_meets_every_mistake_its_flags_allow` checks
that each CLI meets each kind its real flags allow. The README's rule (2: a bad
flag; 1: a missing or unreadable file) is checked against the rows, the cases
that break it listed in :data:`DEVIATIONS`. Each case runs in-process
(tests/cli_harness.py), fails before any compute, and uses the tiny model specs
of tests/fixtures.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import tomllib

import numpy as np
import pytest
from cli_harness import RUN_MODULE, assert_one_line_error, run_cli
from fixtures import TINY_BIGGAN, TINY_VGG16, TINY_VGG19
from neural_art import outlock, store
from PIL import Image
from test_cli_language import own_flags

ROOT = pathlib.Path(__file__).resolve().parents[1]

BG = [f"--weights={TINY_BIGGAN}", "--classes=volcano", "--seeds=0-1"]
ST = [f"--weights={TINY_VGG19}", "--content={pics}/content.png", "--style={pics}/style.png", "--size=32", "--steps=2"]
FV = [f"--weights={TINY_VGG16}", "--targets=1", "--method=pixel", "--size=32", "--steps=2"]

# The kinds of mistake (module docstring): a case's kind is the first field of its row.
KINDS = {
    "range": "malformed, reversed or unbounded range",
    "number": "non-finite, zero, negative or out-of-bounds number",
    "name": "unknown or ambiguous name (class, layer, block, config, enum value)",
    "missing": "missing required flag",
    "stray": "stray positional argument",
    "nofile": "an input path that names nothing",
    "file": "a wrong-kind, corrupt or oversized input file or directory",
    "out": "a file in place of the output directory",
    "unwritable": "an output directory that cannot be created",
    "foreign": "an output directory holding another model's weights",
    "nonregular": "a named pipe (or socket, device) where an input file belongs",
    "damaged": "a converted-weights directory with damaged metadata, or another model's",
    "busy": "an output directory another run is writing (its lock held)",
}
# module with run() -> [(kind, argv, exit code, text the one error line must contain)]; {out} must
# not exist afterwards, {file} must be unchanged.
CASES = {
    "biggan_jax.main": [
        ("range", [*BG[:2], "--seeds=5-2", "--out_dir={out}"], 2, "5-2"),
        ("range", [*BG[:2], "--seeds=0-99999999", "--out_dir={out}"], 2, "seeds"),
        ("range", [*BG[:2], "--seeds=a,b", "--out_dir={out}"], 2, "'a'"),
        ("number", [*BG, "--seed=99999999999999999999999", "--out_dir={out}"], 2, "--seed"),
        ("number", [*BG, "--latent_seed=-1", "--out_dir={out}"], 2, "--latent_seed"),
        ("number", [*BG, "--alpha=-1", "--out_dir={out}"], 2, "alpha"),
        ("number", [*BG, "--alpha=inf", "--out_dir={out}"], 2, "alpha"),
        ("number", [*BG, "--alpha=nan", "--out_dir={out}"], 2, "alpha"),
        ("number", [*BG, "--truncation=0", "--out_dir={out}"], 2, "truncation"),
        ("number", [*BG, "--truncation=1.5", "--out_dir={out}"], 2, "truncation"),
        ("number", [*BG, "--chunk_size=-5", "--out_dir={out}"], 2, "chunk_size"),
        ("number", [*BG, "--grid_columns=0", "--out_dir={out}"], 2, "grid_columns"),
        ("number", [*BG, "--latents=0", "--out_dir={out}"], 2, "latents"),
        ("name", [BG[0], "--classes=notaclass_zz", BG[2], "--out_dir={out}"], 2, "notaclass_zz"),
        ("name", [BG[0], "--classes=maillot", BG[2], "--out_dir={out}"], 2, "ambiguous"),
        ("name", [*BG, "--mode=replace", "--block=B99", "--out_dir={out}"], 2, "B99"),
        ("name", ["--weights=random:nope", *BG[1:], "--out_dir={out}"], 2, "nope"),
        ("number", ["--weights=random:biggan-deep-128:0", *BG[1:], "--out_dir={out}"], 2, "width"),
        ("nofile", ["--weights=/no/such/weights", *BG[1:], "--out_dir={out}"], 2, "/no/such/weights"),
        ("file", ["--weights={text}", *BG[1:], "--out_dir={out}"], 2, "notes.txt"),
        ("file", ["--weights={png}", *BG[1:], "--out_dir={out}"], 2, "picture.png"),
        ("out", [*BG, "--out_dir={file}"], 2, "existing.txt"),
        ("unwritable", [*BG, "--out_dir=/proc/nope/out"], 1, "/proc/nope/out"),
        ("missing", [*BG], 2, "out_dir"),
        ("stray", [*BG, "--out_dir={out}", "stray"], 2, "stray"),
        ("name", [*BG, "--precision=float16", "--out_dir={out}"], 2, "precision"),
    ],
    "styletransfer.main": [
        ("nofile", [ST[0], "--content={pics}/missing.png", *ST[2:], "--out_dir={out}"], 1, "missing.png"),
        ("file", [ST[0], "--content={text}", *ST[2:], "--out_dir={out}"], 1, "notes.txt"),
        ("file", [*ST[:2], "--style={corrupt}", *ST[3:], "--out_dir={out}"], 1, "corrupt.png"),
        ("file", [ST[0], "--content={big}", *ST[2:], "--out_dir={out}"], 1, "big.png"),
        ("number", [*ST, "--seed=99999999999999999999999", "--out_dir={out}"], 2, "--seed"),
        ("number", [*ST[:4], "--steps=0", "--out_dir={out}"], 2, "steps"),
        ("number", [*ST[:3], "--size=0", "--steps=2", "--out_dir={out}"], 2, "size"),
        ("number", [*ST, "--style_weight=nan", "--out_dir={out}"], 2, "style_weight"),
        ("number", [*ST, "--learning_rate=-1", "--optimizer=adam", "--out_dir={out}"], 2, "learning_rate"),
        ("name", [*ST, "--style_layers=conv9_9", "--out_dir={out}"], 2, "conv9_9"),
        ("name", [*ST, "--content_layers=bogus", "--out_dir={out}"], 2, "bogus"),
        ("number", [*ST, "--style_blend=1,2", "--out_dir={out}"], 2, "style_blend"),
        ("name", ["--weights=random:vgg11", *ST[1:], "--out_dir={out}"], 2, "vgg11"),
        ("name", [*ST, "--precision=fp7", "--out_dir={out}"], 2, "precision"),
        ("out", [*ST, "--out_dir={file}"], 2, "existing.txt"),
        ("range", [*ST, "--mode=sweep", "--ratios=abc", "--out_dir={out}"], 2, "ratios"),
        ("range", [*ST, "--mode=sweep", "--ratios=1e-3,0.001", "--out_dir={out}"], 2, "--ratios holds a value twice"),
        ("range", [*ST, "--scales=0,abc", "--out_dir={out}"], 2, "scales"),
        ("stray", [*ST, "--out_dir={out}", "stray"], 2, "stray"),
        ("file", ["--weights={png}", *ST[1:], "--out_dir={out}"], 1, "picture.png"),
        ("file", ["--weights={dcgan_dir}", *ST[1:], "--out_dir={out}"], 1, "not 'vgg'"),
    ],
    "dcgan.sample": [
        ("number", ["--seed=99999999999999999999999", "--out_dir={out}"], 2, "--seed"),
        ("number", ["--n=0", "--out_dir={out}"], 2, "n"),
        ("number", ["--n=100000000", "--out_dir={out}"], 2, "--n"),
        ("stray", ["--out_dir={out}", "stray"], 2, "stray"),
        ("nofile", ["--weights=/no/such/dcgan", "--out_dir={out}"], 2, "/no/such/dcgan"),
        ("file", ["--weights={text}", "--out_dir={out}"], 1, "notes.txt"),
        ("out", ["--out_dir={file}"], 2, "existing.txt"),
    ],
    "dcgan.sweep": [
        ("number", ["--seed=-1", "--out_dir={out}"], 2, "--seed"),
        ("number", ["--alpha=inf", "--out_dir={out}"], 2, "alpha"),
        ("number", ["--alpha=-0.5", "--out_dir={out}"], 2, "alpha"),
        ("range", ["--seeds=3-1", "--out_dir={out}"], 2, "3-1"),
        ("number", ["--latents=0", "--out_dir={out}"], 2, "latents"),
        ("number", ["--chunk_size=-5", "--out_dir={out}"], 2, "chunk_size"),
        ("number", ["--mode=breed", "--parents=3", "--children=0", "--out_dir={out}"], 2, "--children"),
        ("number", ["--mode=breed", "--parents=3", "--beta=1.5", "--out_dir={out}"], 2, "--beta"),
        ("name", ["--blocks=convt9", "--out_dir={out}"], 2, "convt9"),
        ("range", ["--mode=breed", "--parents=3.x", "--out_dir={out}"], 2, "3.x"),
        ("file", ["--weights={text}", "--out_dir={out}"], 1, "notes.txt"),
        ("nofile", ["--weights=/no/such/dcgan", "--out_dir={out}"], 2, "/no/such/dcgan"),
        ("stray", ["--out_dir={out}", "stray"], 2, "stray"),
        ("out", ["--out_dir={file}"], 2, "existing.txt"),
    ],
    "dcgan.analysis": [
        ("number", ["--seed=99999999999999999999999", "--out_dir={out}"], 2, "--seed"),
        ("name", ["--what=bogus", "--out_dir={out}"], 2, "bogus"),
        ("stray", ["--out_dir={out}", "stray"], 2, "stray"),
        ("out", ["--out_dir={file}"], 2, "existing.txt"),
        ("file", ["--weights={png}", "--out_dir={out}"], 1, "picture.png"),
        ("nofile", ["--weights=/no/such/dcgan", "--out_dir={out}"], 2, "/no/such/dcgan"),
    ],
    "dcgan.export": [
        ("file", ["--workdir={empty}", "--out_dir={out}"], 2, "empty_dir"),
        ("missing", ["--out_dir={out}"], 2, "workdir"),
        ("out", ["--workdir={workdir}", "--out_dir={file}"], 2, "existing.txt"),
        ("stray", ["--workdir={empty}", "--out_dir={out}", "stray"], 2, "stray"),
        ("name", ["--workdir={empty}", "--out_dir={out}", "--precision=float16"], 2, "precision"),
    ],
    "dcgan.main": [
        ("missing", ["--workdir={out}"], 2, "config"),
        ("missing", ["--config=dcgan/configs/skimage.py:quick"], 2, "workdir"),
        ("number", ["--config=dcgan/configs/skimage.py:quick", "--workdir={out}", "--config.batch_size=0"], 2, "batch_size"),
        ("name", ["--config=dcgan/configs/skimage.py:nope", "--workdir={out}"], 2, "nope"),
        ("out", ["--config=dcgan/configs/skimage.py:quick", "--workdir={file}"], 2, "existing.txt"),
        ("stray", ["--config=dcgan/configs/skimage.py:quick", "--workdir={out}", "stray"], 2, "stray"),
    ],
    "featvis.main": [
        ("range", [FV[0], "--targets=5-2", *FV[2:], "--out_dir={out}"], 2, "5-2"),
        ("name", [FV[0], "--targets=not_a_class_zzz", *FV[2:], "--out_dir={out}"], 2, "not_a_class_zzz"),
        ("number", [*FV, "--seed=99999999999999999999999", "--out_dir={out}"], 2, "--seed"),
        ("number", [*FV[:4], "--steps=0", "--out_dir={out}"], 2, "steps"),
        ("number", [*FV[:2], "--method=despraz", "--size=64", "--steps=2", "--out_dir={out}"], 2, "size"),
        ("out", [*FV, "--out_dir={file}"], 2, "existing.txt"),
        ("number", [*FV, "--chunk_size=0", "--out_dir={out}"], 2, "chunk_size"),
        ("name", ["--weights=random:vgg11", *FV[1:], "--out_dir={out}"], 2, "vgg11"),
        ("number", [*FV, "--learning_rate=nan", "--out_dir={out}"], 2, "learning_rate"),
        ("missing", [*FV, "--method=despraz-pretrained", "--size=224", "--out_dir={out}"], 2, "decoder"),
        ("stray", [*FV, "--out_dir={out}", "stray"], 2, "stray"),
        ("file", ["--weights={text}", *FV[1:], "--out_dir={out}"], 2, "notes.txt"),
        ("file", ["--weights={dcgan_dir}", *FV[1:], "--out_dir={out}"], 2, "not 'vgg'"),
        ("file", [*FV[:2], "--method=despraz-pretrained", "--decoder={text}", "--size=224", "--out_dir={out}"], 2, "--decoder"),
        ("nofile", [*FV[:2], "--method=despraz-pretrained", "--decoder=/no/such/decoder", "--size=224", "--out_dir={out}"], 2, "/no/such/decoder"),
    ],
    "featvis.train_autoencoder": [
        ("nofile", ["--images=/no/such/images", "--steps=2", "--out_dir={out}"], 2, "/no/such/images"),
        ("file", ["--images={empty}", "--split=val", "--steps=2", "--out_dir={out}"], 2, "'val' split"),
        ("number", ["--images={empty}", "--seed=99999999999999999999999", "--out_dir={out}"], 2, "--seed"),
        ("number", ["--images={empty}", "--steps=0", "--out_dir={out}"], 2, "steps"),
        ("number", ["--images={empty}", "--learning_rate=nan", "--out_dir={out}"], 2, "learning_rate"),
        ("out", ["--images={images}", "--out_dir={file}"], 2, "existing.txt"),
        ("stray", ["--images={empty}", "--out_dir={out}", "stray"], 2, "stray"),
    ],
    "weights_convert.biggan": [
        ("nofile", ["--src=/no/such.bin", "--out_dir={out}"], 2, "/no/such.bin"),
        ("file", ["--src={text}", "--out_dir={out}"], 1, "notes.txt"),
        ("foreign", ["--src={text}", "--out_dir={dcgan_dir}"], 1, "dcgan_copy"),
        ("out", ["--src={text}", "--out_dir={file}"], 2, "existing.txt"),
        ("stray", ["--src={text}", "--out_dir={out}", "stray"], 2, "stray"),
    ],
    "weights_convert.vgg": [
        ("file", ["--src={text}", "--out_dir={out}"], 1, "notes.txt"),
        ("nofile", ["--src=/no/such.pth", "--out_dir={out}"], 2, "/no/such.pth"),
        ("out", ["--src={text}", "--out_dir={file}"], 2, "existing.txt"),
        ("stray", ["--src={text}", "--out_dir={out}", "stray"], 2, "stray"),
        ("number", ["--src={text}", "--normalise={images}", "--chunk_size=0", "--out_dir={out}"], 2, "chunk_size"),
    ],
    "weights_convert.dcgan": [
        ("file", ["--netG={text}", "--out_dir={out}"], 1, "notes.txt"),
        ("nofile", ["--netG=/no/such.pth", "--out_dir={out}"], 2, "/no/such.pth"),
        ("out", ["--netG={text}", "--out_dir={file}"], 2, "existing.txt"),
        ("stray", ["--netG={text}", "--out_dir={out}", "stray"], 2, "stray"),
    ],
}
# A named pipe given for every input-file flag (a read would block forever), and a
# converted directory whose metadata.json is damaged or names another model.
for _module, _flag, _rest, _code in [
    ("biggan_jax.main", "weights", BG[1:], 2), ("styletransfer.main", "weights", ST[1:], 2),
    ("styletransfer.main", "content", [ST[0], *ST[2:]], 1), ("styletransfer.main", "style", [*ST[:2], *ST[3:]], 1),
    ("featvis.main", "weights", FV[1:], 2), ("dcgan.sample", "weights", [], 2), ("dcgan.sweep", "weights", [], 2),
    ("dcgan.analysis", "weights", [], 2), ("weights_convert.biggan", "src", [], 1),
    ("featvis.main", "decoder", [*FV[1:2], "--method=despraz-pretrained", "--size=224"], 2),
    ("weights_convert.vgg", "src", [], 1), ("weights_convert.dcgan", "netG", [], 1),
]:  # fmt: skip
    CASES[_module].append(("nonregular", [f"--{_flag}={{pipe}}", *_rest, "--out_dir={out}"], _code, "not a regular file"))
for _module, _rest, _code in [("biggan_jax.main", BG[1:], 2), ("styletransfer.main", ST[1:], 1),
                              ("featvis.main", FV[1:], 2), ("dcgan.sample", [], 1), ("dcgan.sweep", [], 1)]:  # fmt: skip
    CASES[_module].append(("damaged", ["--weights={damaged}", *_rest, "--out_dir={out}"], _code, "damaged, not JSON"))
CASES["biggan_jax.main"].append(("damaged", ["--weights={vgg_dir}", *BG[1:], "--out_dir={out}"], 2, "not 'biggan-deep'"))
CASES["dcgan.sample"].append(("damaged", ["--weights={vgg_dir}", "--out_dir={out}"], 1, "not 'dcgan'"))

# Every CLI's output directory (--out_dir; training: --workdir), from its stray row's flags:
# one that cannot be created (below /proc), and one that another run is writing.
# (The stray rows of dcgan.export and train_autoencoder name inputs their own checks refuse
# before --out_dir's: those two get inputs that pass.)
_VALID_INPUTS = {"dcgan.export": ["--workdir={workdir}"], "featvis.train_autoencoder": ["--images={images}"]}
for _module, _rows in CASES.items():
    _base = [a for a in next(argv for kind, argv, *_ in _rows if kind == "stray") if a != "stray"]
    if _module in _VALID_INPUTS:
        _base = [*_VALID_INPUTS[_module], *(a for a in _base if a.startswith(("--out_dir=", "--workdir={out}")))]
    if not any(k == "unwritable" for k, *_ in _rows):
        _rows.append(("unwritable", [a.replace("{out}", "/proc/nope/out") for a in _base], 1, "/proc/nope/out"))
    _rows.append(("busy", _base, 1, "is being written by another run"))

ROWS = [(m, i, *row) for m, rows in CASES.items() for i, row in enumerate(rows)]

# The exit-code rule (README, "Errors and recovery"; neural_art/cli.py): 2 for a bad flag,
# 1 for a missing or unreadable file (and an output that cannot be written). A foreign
# output directory is not covered by the rule (its code is asserted per case).
RULE = {"range": 2, "number": 2, "name": 2, "missing": 2, "stray": 2, "out": 2,
        "nofile": 1, "file": 1, "unwritable": 1, "busy": 1}  # fmt: skip
# Cases whose real code breaks RULE (each row asserts the real code): findings, reported.
# Most CLIs check that an input path exists up front and give 2 ("a bad flag"); only
# styletransfer's images give 1 for a missing file.
DEVIATIONS = {  # (module, culprit) -> real code
    ("biggan_jax.main", "/no/such/weights"): 2,
    ("biggan_jax.main", "notes.txt"): 2,   # dcgan, styletransfer: 1 for the same file
    ("biggan_jax.main", "picture.png"): 2,
    ("dcgan.sample", "/no/such/dcgan"): 2,
    ("dcgan.sweep", "/no/such/dcgan"): 2,
    ("dcgan.analysis", "/no/such/dcgan"): 2,
    ("dcgan.export", "empty_dir"): 2,
    ("featvis.main", "notes.txt"): 2,      # featvis reports a --weights load error as a usage error
    ("featvis.main", "not 'vgg'"): 2,
    ("featvis.main", "--decoder"): 2,
    ("featvis.main", "/no/such/decoder"): 2,
    ("featvis.train_autoencoder", "/no/such/images"): 2,
    ("featvis.train_autoencoder", "'val' split"): 2,
    ("weights_convert.biggan", "/no/such.bin"): 2,
    ("weights_convert.vgg", "/no/such.pth"): 2,
    ("weights_convert.dcgan", "/no/such.pth"): 2,
}
# A flag a CLI has -> the kinds of mistake the table must try on it (a row of that kind
# setting --FLAG=); every CLI also gets a stray argument.
FLAG_MISTAKES = {
    "out_dir": {"out", "unwritable", "busy"}, "workdir": {"unwritable", "busy"}, "seeds": {"range"}, "targets": {"range"}, "precision": {"name"},
    "steps": {"number"}, "alpha": {"number"}, "latents": {"number"}, "chunk_size": {"number"},
    "learning_rate": {"number"}, "size": {"number"}, "n": {"number"},
    **{f: {"nofile", "file"} for f in ("weights", "src", "netG", "images", "content", "style", "decoder")},
    **{f: {"nofile", "file", "nonregular"} for f in ("weights", "src", "netG", "content", "style", "decoder")},
}  # fmt: skip


@pytest.fixture(scope="module")
def bad_input_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad_inputs")
    pics = d / "pics"
    pics.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (32, 40, 3), np.uint8)).save(pics / "content.png")
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), np.uint8)).save(pics / "style.png")
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), np.uint8)).save(d / "picture.png")
    Image.new("L", (9000, 9000)).save(d / "big.png")  # 81 MP: refused from its header
    (d / "corrupt.png").write_bytes((d / "picture.png").read_bytes()[:60])
    (d / "notes.txt").write_text("not weights\n")
    (d / "existing.txt").write_text("keep me\n")
    (d / "empty_dir").mkdir()
    (d / "workdir").mkdir()  # passes dcgan.export's workdir check, so --out_dir is checked
    (d / "workdir" / "config.json").write_text("{}")
    (d / "images" / "train").mkdir(parents=True)  # passes train_autoencoder's --images check
    shutil.copytree(ROOT / "dcgan" / "assets" / "embedded", d / "dcgan_copy")
    os.mkfifo(d / "pipe")
    (d / "damaged").mkdir()
    (d / "damaged" / "metadata.json").write_text('{"format": "neural-art-jax/params-v1", "model": ')
    (d / "vgg_dir").mkdir()  # another model's directory: refused from its metadata, params unread
    (d / "vgg_dir" / "metadata.json").write_text(json.dumps({"format": store.FORMAT, "model": "vgg"}))
    return d


KEPT = ("dcgan_copy", "empty_dir", "pics", "workdir", "images", "damaged", "vgg_dir")


def _fill(a: str, d: pathlib.Path, out: pathlib.Path) -> str:
    return a.format(out=out, pics=d / "pics", text=d / "notes.txt", png=d / "picture.png",
                    corrupt=d / "corrupt.png", big=d / "big.png", file=d / "existing.txt",
                    empty=d / "empty_dir", dcgan_dir=d / "dcgan_copy", workdir=d / "workdir",
                    images=d / "images", pipe=d / "pipe", damaged=d / "damaged",
                    vgg_dir=d / "vgg_dir")  # fmt: skip


def _tree(p: pathlib.Path) -> dict[str, bytes]:
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*"))
            if f.is_file()} | {str(f.relative_to(p)) + "/": b"" for f in p.rglob("*") if f.is_dir()}  # fmt: skip


@pytest.mark.parametrize("module,i,kind,argv,code,culprit", ROWS,
                         ids=[f"{m}-{i}-{k}" for m, i, k, *_ in ROWS])  # fmt: skip
def test_bad_input(module, i, kind, argv, code, culprit, bad_input_files, tmp_path):
    d, out = bad_input_files, tmp_path / "out"
    before = {p: _tree(d / p) for p in KEPT}
    flag = "workdir" if any(a.startswith("--workdir={out}") for a in argv) else "out_dir"
    # "busy": another run holds the directory's lock (another open of the lock file: the
    # same refusal as from another process, tests/test_shared_out_dir.py)
    with outlock.hold(out, flag=flag) if kind == "busy" else contextlib.nullcontext():
        r = run_cli(module, [_fill(a, d, out) for a in argv], cwd=ROOT)
    line = assert_one_line_error(r, (code,), culprit)
    if kind == "busy":
        assert f"--{flag}={out} " in line, line
    assert (d / "existing.txt").read_text() == "keep me\n"
    assert {p: _tree(d / p) for p in KEPT} == before, "a failing run changed an input or output"
    assert not out.exists(), "a failing run created its output"


def test_exit_codes_follow_the_rule():
    """Every case of a kind the rule covers exits with the rule's code, except the
    listed deviations, which are exactly the cases that break it."""
    found = {(m, culprit): code for m, _, kind, _, code, culprit in ROWS
             if kind in RULE and code != RULE[kind]}  # fmt: skip
    assert found == DEVIATIONS
    for key in DEVIATIONS:  # each names one case
        assert sum((m, c) == key for m, *_, c in ROWS) == 1, key


def test_every_installed_cli_meets_every_mistake_its_flags_allow():
    """Each [project.scripts] command has rows: a stray argument, and for each flag it
    really defines (its --helpfull, read in-process) the kinds of FLAG_MISTAKES, each in
    a row that sets that flag."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    modules = {v.split(":")[0] for v in scripts.values()}
    assert modules <= set(CASES), modules - set(CASES)
    assert {kind for _, _, kind, *_ in ROWS} == set(KINDS)
    missing = []
    for module in sorted(modules):
        key = next((k for k, v in RUN_MODULE.items() if v == module), module)
        r = run_cli(module, ["--helpfull"], cwd=ROOT)
        flags = own_flags(key, r.out)
        assert flags, module
        rows = [(kind, argv) for m, _, kind, argv, _, _ in ROWS if m == module]
        want = [("stray", None)] + [(k, f) for f in sorted(flags & set(FLAG_MISTAKES))
                                    for k in sorted(FLAG_MISTAKES[f])]  # fmt: skip
        for kind, flag in want:
            if not any(k == kind and (flag is None or any(a.startswith(f"--{flag}=") for a in argv))
                       for k, argv in rows):  # fmt: skip
                missing.append(f"{module}: no {kind!r} case for --{flag}" if flag else f"{module}: no {kind!r} case")
    assert not missing, "\n".join(missing)
