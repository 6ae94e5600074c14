"""The sweep CLI under faults: SIGKILL mid-run, damaged outputs, a full disk.

One uninterrupted run (default chunking: 16 seeds a chunk on one CPU device, so
50 seeds are 4 chunks) is the reference; every other run must end with the same
PNG bytes: killed + resumed (default chunking), and ``--chunk_size=1`` on a disk
that fills up (``os.replace`` patched in the CLI's process), then resumed.
"""

import errno
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

from biggan_jax.outputs import whole_png

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEEDS = 50
ARGS = ["--weights=random:biggan-deep-128:8", "--classes=volcano", "--latents=2",
        "--truncation=0.5", f"--seeds=0-{SEEDS - 1}"]  # fmt: skip


def _env(cache):
    return {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "NEURAL_ART_JAX_CACHE": str(cache)}


def _cmd(out, *extra):
    return [sys.executable, "-m", "biggan_jax", *ARGS, f"--out_dir={out}", *extra]


def _pngs(out: pathlib.Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "images").rglob("*.png"))}


def _done(out: pathlib.Path) -> list[int]:
    try:
        return json.loads((out / "manifest.json").read_text())["seeds_done"]
    except (FileNotFoundError, KeyError):
        return []


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")  # the CLI's XLA cache: later runs reuse the compiles


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache):
    out = tmp_path_factory.mktemp("ref") / "sweep"
    r = subprocess.run(_cmd(out), env=_env(cache), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out / "manifest.json").read_text())
    assert m["seeds_done"] == list(range(SEEDS)) and m["plan"]["chunk"] == 16  # 4 chunks
    pngs = _pngs(out)
    assert len(pngs) == 2 * (SEEDS + 1)
    return out, pngs


def test_sigkill_then_resume_gives_the_uninterrupted_bytes(reference, cache, tmp_path):
    ref, ref_pngs = reference
    out = tmp_path / "sweep"
    with open(tmp_path / "log", "w") as log:
        proc = subprocess.Popen(_cmd(out), env=_env(cache), stdout=log, stderr=log)
        while proc.poll() is None:  # kill once a chunk is recorded, before the last
            if 16 <= len(_done(out)) < SEEDS:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        assert proc.wait(timeout=60) == -signal.SIGKILL, "the sweep ended before it could be killed"
    done = _done(out)
    assert 16 <= len(done) < SEEDS
    lay_dir = lambda s: out / "images" / f"seed_{s:06d}"
    assert all(whole_png(p) for s in done for p in lay_dir(s).glob("*.png"))  # listed = whole

    # Damage, as a crash or a copy that stopped would: a seed listed but cut short, a
    # seed with an empty file (not listed), a temporary file left behind.
    cut = sorted(lay_dir(done[0]).glob("*.png"))[0]
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    empty = sorted(lay_dir(done[1]).glob("*.png"))[1]
    empty.write_bytes(b"")
    m = json.loads((out / "manifest.json").read_text())
    m["seeds_done"].remove(done[1])
    (out / "manifest.json").write_text(json.dumps(m))
    (lay_dir(done[2]) / ".r000_volcano_l0.png.x1y2.tmp").write_bytes(b"\x89PNG partial")
    untouched = sorted(lay_dir(done[3]).glob("*.png"))[0]
    before = untouched.stat().st_mtime_ns

    r = subprocess.run(_cmd(out), env=_env(cache), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _done(out) == list(range(SEEDS))
    assert _pngs(out) == ref_pngs  # every image, byte for byte
    assert (out / "grid.png").read_bytes() == (ref / "grid.png").read_bytes()
    assert not list(out.rglob("*.tmp"))
    assert untouched.stat().st_mtime_ns == before  # finished work is not redone
    scores, ref_scores = (json.loads((d / "scores.json").read_text()) for d in (out, ref))
    assert scores.keys() == ref_scores.keys() == {str(s) for s in range(SEEDS)}
    for s, sc in ref_scores.items():  # float scores of a vmapped program over other chunks:
        assert scores[s] == pytest.approx(sc, rel=1e-3)  # measured up to 1.03e-4 relative


class FullDisk:
    """``os.replace`` (the last step of every atomic write) as if the disk holding
    ``under`` had room for ``room`` more files: then each write there gets half its
    bytes and ENOSPC."""

    def __init__(self, room: int, under: str):
        self.room, self.under, self.real, self.lock = room, under, os.replace, threading.Lock()

    def __call__(self, src, dst):
        if not os.fspath(dst).startswith(self.under):
            return self.real(src, dst)
        with self.lock:
            self.room -= 1
            full = self.room < 0
        if full:
            with open(src, "r+b") as f:
                f.truncate(os.path.getsize(src) // 2)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.real(src, dst)


def _on_full_disk(argv, room: int, out, cache) -> subprocess.CompletedProcess:
    """``python -m biggan_jax ARGV`` with :class:`FullDisk` (``room`` files) patched in."""
    code = (f"import os, sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); "
            f"from test_sweep_faults import FullDisk; os.replace = FullDisk({room}, {str(out)!r}); "
            f"sys.argv = ['biggan_jax', *{argv!r}]; from biggan_jax import main; main.run()")  # fmt: skip
    return subprocess.run([sys.executable, "-c", code], env=_env(cache), capture_output=True, text=True, timeout=900)


def test_disk_full_keeps_finished_seeds_and_resumes_to_the_same_bytes(reference, cache, tmp_path):
    _, ref_pngs = reference
    out = tmp_path / "sweep"
    argv = [*ARGS, f"--out_dir={out}", "--chunk_size=1"]
    r = _on_full_disk(argv, 60, out, cache)
    errors = [l for l in r.stderr.splitlines() if l.startswith("error:")]
    assert r.returncode == 1 and len(errors) == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
    m = json.loads((out / "manifest.json").read_text())
    kept = m["seeds_done"]
    assert 0 < len(kept) < SEEDS and kept == list(range(len(kept)))
    line = errors[0]
    assert "No space left on device" in line and f"{out}/" in line, line
    assert f"kept {len(kept)} finished seeds (0-{len(kept) - 1})" in line and "re-run the same command" in line
    pngs = _pngs(out)
    for s in kept:  # the manifest lists only whole seeds, identical to the reference
        for name in (f"images/seed_{s:06d}/r000_volcano_l0.png", f"images/seed_{s:06d}/r001_volcano_l1.png"):
            assert pngs[name] == ref_pngs[name]
    assert all(whole_png(out / n) for n in pngs)  # cut-short writes left no partial file
    assert not list(out.rglob("*.tmp"))

    r = subprocess.run(_cmd(out, "--chunk_size=1"), env=_env(cache), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]  # the disk has room again: the same command
    assert _done(out) == list(range(SEEDS))
    assert _pngs(out) == ref_pngs  # --chunk_size=1 = default chunking, byte for byte
