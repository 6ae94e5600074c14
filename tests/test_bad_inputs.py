"""The bad-input table (issue 12): every CLI, given a user mistake, exits 1 or 2
with ONE line ``error: ...`` naming the culprit (flag, file or key), no traceback,
and creates or changes no output.

Cases are written from the kinds of mistake -- malformed or unbounded ranges,
non-finite / zero / negative numbers, unknown names, missing / wrong-kind /
corrupt / oversized files, file-shaped or unwritable outputs, foreign directories,
stray arguments -- across all CLIs. Each CLI's cases run in one process
(tests/cli_harness.py), so the table costs one jax import per CLI.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
USAGE, ANY = (2,), (1, 2)

BG = ["--weights=random:biggan-deep-128:4", "--classes=volcano", "--seeds=0-1"]
ST = ["--weights=random", "--content={pics}/content.png", "--style={pics}/style.png", "--size=32", "--steps=2"]
FV = ["--weights=random:vgg16", "--targets=1", "--method=pixel", "--size=32", "--steps=2"]

# module with run() -> [(argv, allowed exit codes, text the one error line must contain)]; {out} must
# not exist afterwards, {file} must be unchanged.
CASES = {
    "biggan_jax.main": [
        ([*BG[:2], "--seeds=5-2", "--out_dir={out}"], USAGE, "5-2"),
        ([*BG[:2], "--seeds=0-99999999", "--out_dir={out}"], USAGE, "seeds"),
        ([*BG[:2], "--seeds=a,b", "--out_dir={out}"], USAGE, "'a'"),
        ([*BG, "--alpha=-1", "--out_dir={out}"], USAGE, "alpha"),
        ([*BG, "--alpha=inf", "--out_dir={out}"], USAGE, "alpha"),
        ([*BG, "--alpha=nan", "--out_dir={out}"], USAGE, "alpha"),
        ([*BG, "--truncation=0", "--out_dir={out}"], USAGE, "truncation"),
        ([*BG, "--truncation=1.5", "--out_dir={out}"], USAGE, "truncation"),
        ([*BG, "--chunk_size=-5", "--out_dir={out}"], USAGE, "chunk_size"),
        ([*BG, "--grid_columns=0", "--out_dir={out}"], USAGE, "grid_columns"),
        ([*BG, "--latents=0", "--out_dir={out}"], USAGE, "latents"),
        ([BG[0], "--classes=notaclass_zz", BG[2], "--out_dir={out}"], USAGE, "notaclass_zz"),
        ([BG[0], "--classes=maillot", BG[2], "--out_dir={out}"], USAGE, "ambiguous"),
        ([*BG, "--mode=replace", "--block=B99", "--out_dir={out}"], USAGE, "B99"),
        (["--weights=random:nope", *BG[1:], "--out_dir={out}"], USAGE, "nope"),
        (["--weights=random:biggan-deep-128:0", *BG[1:], "--out_dir={out}"], USAGE, "width"),
        (["--weights=/no/such/weights", *BG[1:], "--out_dir={out}"], ANY, "/no/such/weights"),
        (["--weights={text}", *BG[1:], "--out_dir={out}"], ANY, "notes.txt"),
        (["--weights={png}", *BG[1:], "--out_dir={out}"], ANY, "picture.png"),
        ([*BG, "--out_dir={file}"], ANY, "existing.txt"),
        ([*BG, "--out_dir=/proc/nope/out"], ANY, "/proc/nope/out"),
        ([*BG], USAGE, "out_dir"),
        ([*BG, "--out_dir={out}", "stray"], USAGE, "stray"),
        ([*BG, "--precision=float16", "--out_dir={out}"], USAGE, "precision"),
    ],
    "styletransfer.main": [
        ([ST[0], "--content={pics}/missing.png", *ST[2:], "--out_dir={out}"], ANY, "missing.png"),
        ([ST[0], "--content={text}", *ST[2:], "--out_dir={out}"], ANY, "notes.txt"),
        ([*ST[:2], "--style={corrupt}", *ST[3:], "--out_dir={out}"], ANY, "corrupt.png"),
        ([ST[0], "--content={big}", *ST[2:], "--out_dir={out}"], ANY, "big.png"),
        ([*ST[:4], "--steps=0", "--out_dir={out}"], USAGE, "steps"),
        ([*ST[:3], "--size=0", "--steps=2", "--out_dir={out}"], USAGE, "size"),
        ([*ST, "--style_weight=nan", "--out_dir={out}"], USAGE, "style_weight"),
        ([*ST, "--learning_rate=-1", "--optimizer=adam", "--out_dir={out}"], USAGE, "learning_rate"),
        ([*ST, "--style_layers=conv9_9", "--out_dir={out}"], USAGE, "conv9_9"),
        ([*ST, "--content_layers=bogus", "--out_dir={out}"], USAGE, "bogus"),
        ([*ST, "--style_blend=1,2", "--out_dir={out}"], USAGE, "style_blend"),
        (["--weights=random:vgg11", *ST[1:], "--out_dir={out}"], USAGE, "vgg11"),
        ([*ST, "--out_dir={file}"], ANY, "existing.txt"),
        ([*ST, "--mode=sweep", "--ratios=abc", "--out_dir={out}"], USAGE, "ratios"),
        ([*ST, "--scales=0,abc", "--out_dir={out}"], USAGE, "scales"),
        ([*ST, "--out_dir={out}", "stray"], USAGE, "stray"),
    ],
    "dcgan.sample": [
        (["--n=0", "--out_dir={out}"], USAGE, "n"),
        (["--n=100000000", "--out_dir={out}"], USAGE, "--n"),
        (["--weights=/no/such/dcgan", "--out_dir={out}"], ANY, "/no/such/dcgan"),
        (["--weights={text}", "--out_dir={out}"], ANY, "notes.txt"),
        (["--out_dir={file}"], ANY, "existing.txt"),
    ],
    "dcgan.sweep": [
        (["--alpha=inf", "--out_dir={out}"], USAGE, "alpha"),
        (["--alpha=-0.5", "--out_dir={out}"], USAGE, "alpha"),
        (["--seeds=3-1", "--out_dir={out}"], USAGE, "3-1"),
        (["--latents=0", "--out_dir={out}"], USAGE, "latents"),
        (["--out_dir={file}"], ANY, "existing.txt"),
    ],
    "dcgan.analysis": [
        (["--what=bogus", "--out_dir={out}"], USAGE, "bogus"),
        (["--out_dir={file}"], ANY, "existing.txt"),
        (["--weights={png}", "--out_dir={out}"], ANY, "picture.png"),
    ],
    "dcgan.export": [
        (["--workdir={empty}", "--out_dir={out}"], ANY, "empty_dir"),
        (["--out_dir={out}"], USAGE, "workdir"),
        (["--workdir={empty}", "--out_dir={out}", "--precision=float16"], USAGE, "precision"),
    ],
    "dcgan.main": [
        (["--workdir={out}"], USAGE, "config"),
        (["--config=dcgan/configs/skimage.py:quick"], USAGE, "workdir"),
        (["--config=dcgan/configs/skimage.py:quick", "--workdir={out}", "--config.batch_size=0"], ANY, "batch_size"),
        (["--config=dcgan/configs/skimage.py:nope", "--workdir={out}"], ANY, "nope"),
    ],
    "featvis.main": [
        ([FV[0], "--targets=5-2", *FV[2:], "--out_dir={out}"], USAGE, "5-2"),
        ([FV[0], "--targets=not_a_class_zzz", *FV[2:], "--out_dir={out}"], USAGE, "not_a_class_zzz"),
        ([*FV[:4], "--steps=0", "--out_dir={out}"], USAGE, "steps"),
        ([*FV[:2], "--method=despraz", "--size=64", "--steps=2", "--out_dir={out}"], USAGE, "size"),
        ([*FV, "--out_dir={file}"], ANY, "existing.txt"),
        ([*FV, "--chunk_size=0", "--out_dir={out}"], USAGE, "chunk_size"),
        (["--weights=random:vgg11", *FV[1:], "--out_dir={out}"], USAGE, "vgg11"),
        ([*FV, "--learning_rate=nan", "--out_dir={out}"], USAGE, "learning_rate"),
        ([*FV, "--method=despraz-pretrained", "--size=224", "--out_dir={out}"], USAGE, "decoder"),
        ([*FV, "--out_dir={out}", "stray"], USAGE, "stray"),
    ],
    "featvis.train_autoencoder": [
        (["--images=/no/such/images", "--steps=2", "--out_dir={out}"], USAGE, "/no/such/images"),
        (["--images={empty}", "--split=val", "--steps=2", "--out_dir={out}"], USAGE, "'val' split"),
        (["--images={empty}", "--steps=0", "--out_dir={out}"], USAGE, "steps"),
    ],
    "weights_convert.biggan": [
        (["--src=/no/such.bin", "--out_dir={out}"], ANY, "/no/such.bin"),
        (["--src={text}", "--out_dir={out}"], ANY, "notes.txt"),
        (["--src={text}", "--out_dir={dcgan_dir}"], ANY, "dcgan_copy"),
    ],
    "weights_convert.vgg": [
        (["--src={text}", "--out_dir={out}"], ANY, "notes.txt"),
        (["--src=/no/such.pth", "--out_dir={out}"], ANY, "/no/such.pth"),
    ],
    "weights_convert.dcgan": [
        (["--netG={text}", "--out_dir={out}"], ANY, "notes.txt"),
        (["--netG=/no/such.pth", "--out_dir={out}"], ANY, "/no/such.pth"),
    ],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
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
    shutil.copytree(ROOT / "dcgan" / "assets" / "embedded", d / "dcgan_copy")
    return d


def _fill(a: str, d: pathlib.Path, out: pathlib.Path) -> str:
    return a.format(out=out, pics=d / "pics", text=d / "notes.txt", png=d / "picture.png",
                    corrupt=d / "corrupt.png", big=d / "big.png", file=d / "existing.txt",
                    empty=d / "empty_dir", dcgan_dir=d / "dcgan_copy")  # fmt: skip


def _tree(p: pathlib.Path) -> dict[str, bytes]:
    return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}


@pytest.mark.parametrize("module", sorted(CASES))
def test_bad_inputs(module, files, tmp_path):
    cases = CASES[module]
    outs = [tmp_path / f"out{i}" for i in range(len(cases))]
    argvs = [[_fill(a, files, o) for a in argv] for (argv, _, _), o in zip(cases, outs, strict=True)]
    before = {p: _tree(files / p) for p in ("dcgan_copy", "empty_dir")}
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "cli_harness.py"), module],
                       input=json.dumps(argvs), capture_output=True, text=True, env=env, cwd=ROOT,
                       timeout=900)  # fmt: skip
    results = [json.loads(line) for line in r.stdout.splitlines() if line.startswith('{"argv"')]
    assert len(results) == len(cases), r.stderr[-3000:]
    bad = []
    for (argv, codes, culprit), res, out in zip(cases, results, outs, strict=True):
        errs = [line for line in res["stderr"].splitlines() if line.startswith("error:")]
        why = []
        if res["code"] not in codes:
            why.append(f"exit {res['code']} not in {codes}")
        if "Traceback" in res["stderr"]:
            why.append("traceback")
        if len(errs) != 1:
            why.append(f"{len(errs)} error lines")
        elif culprit not in errs[0]:
            why.append(f"{culprit!r} not named")
        if out.exists():
            why.append("created its output")
        if why:
            bad.append(f"{' '.join(argv)}: {'; '.join(why)}\n    {res['stderr'].strip()[-400:]}")
    assert (files / "existing.txt").read_text() == "keep me\n"
    assert {p: _tree(files / p) for p in before} == before
    assert not bad, f"{len(bad)} of {len(cases)} cases wrong:\n" + "\n".join(bad)


def test_the_table_is_large():
    assert sum(len(v) for v in CASES.values()) >= 60
