"""The sweep CLIs under faults: SIGKILL mid-run, damaged outputs, a full disk; each
test once per generator of the one sweep engine (BigGAN and the DCGAN,
``fixtures_sweep.GENERATORS``).

One uninterrupted run (``sweep_tiny_reference``: seeds 0-11 in chunks of 4, one
CPU device, so three chunks) is the reference; every other run must end with the
same PNG bytes: killed + resumed (same chunking), and ``--chunk_size=1`` on a
disk that fills up (``os.replace`` patched), then resumed.

Only the killed run is a subprocess (a SIGKILL needs a process to kill). It
pauses itself once its manifest lists a finished chunk (a patched
``Manifest.add`` touches a file, then waits) and is killed on that file: the
kill lands mid-run every time, with later chunks dispatched and PNG writers
possibly still writing. Everything else runs in this process.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from cli_harness import assert_one_line_error, run_cli
from fixtures_sweep import SWEEP_TINY_CHUNK, SWEEP_TINY_SEEDS, sweep_pngs
from procs import ROOT, python_env

from neural_art.sweep.outputs import whole_png

SEEDS = SWEEP_TINY_SEEDS
argv_of = lambda gen: [*gen.args, f"--seeds=0-{SEEDS - 1}"]

# The killed run: python -m MODULE ARGV, pausing once 4 <= |seeds_done| < SEEDS.
_PAUSING = """
import runpy, sys, threading
from neural_art.sweep import outputs
marker, argv, seeds = sys.argv[1], sys.argv[2:], {seeds}
add = outputs.Manifest.add
def paused_add(self, s):
    add(self, s)
    if {chunk} <= len(self.data["seeds_done"]) < seeds:
        open(marker, "w").close()
        threading.Event().wait()  # until killed
outputs.Manifest.add = paused_add
sys.argv = ["{module}", *argv]
runpy.run_module("{module}", run_name="__main__", alter_sys=True)
"""


def _done(out) -> list[int]:
    try:
        return json.loads((out / "manifest.json").read_text())["seeds_done"]
    except (FileNotFoundError, KeyError):
        return []


def _wait_for(path, proc, timeout: float = 600) -> None:
    """Polls (bounded) until ``path`` exists; fails if ``proc`` ends first."""
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the sweep ended (exit {proc.returncode}) before it could be killed"
        assert time.monotonic() < end, f"no {path} after {timeout} s"
        time.sleep(0.02)


def test_sigkill_then_resume_gives_the_uninterrupted_bytes(sweep_tiny_reference, tmp_path):
    ref, ref_pngs, gen = sweep_tiny_reference
    out, marker, image = tmp_path / "sweep", tmp_path / "paused", gen.image
    argv = [*argv_of(gen), f"--chunk_size={SWEEP_TINY_CHUNK}", f"--out_dir={out}"]
    code = _PAUSING.format(seeds=SEEDS, chunk=SWEEP_TINY_CHUNK, module=gen.module)
    with open(tmp_path / "log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-c", code, marker, *argv], env=python_env(),
                                cwd=ROOT, stdout=log, stderr=log)  # fmt: skip
        try:
            _wait_for(marker, proc)
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=60) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    done = _done(out)
    assert SWEEP_TINY_CHUNK <= len(done) < SEEDS, done
    lay_dir = lambda s: out / "images" / f"seed_{s:06d}"
    assert all(whole_png(p) for s in done for p in lay_dir(s).glob("*.png"))  # listed = whole

    # Damage, as a crash or a copy that stopped would: a seed listed but cut short, a
    # seed with an empty file (not listed), a temporary file left behind.
    cut = lay_dir(done[0]) / image
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    (lay_dir(done[1]) / image).write_bytes(b"")
    m = json.loads((out / "manifest.json").read_text())
    m["seeds_done"].remove(done[1])
    (out / "manifest.json").write_text(json.dumps(m))
    (lay_dir(done[2]) / f".{image}.x1y2.tmp").write_bytes(b"\x89PNG partial")
    untouched = lay_dir(done[3]) / image
    before = untouched.stat().st_mtime_ns

    r = run_cli(gen.module, argv)  # the same command, in process
    assert r.code == 0, r.err[-3000:]
    assert _done(out) == list(range(SEEDS))
    assert sweep_pngs(out) == ref_pngs  # every image, byte for byte
    assert (out / "grid.png").read_bytes() == (ref / "grid.png").read_bytes()
    assert not list(out.rglob("*.tmp"))
    assert untouched.stat().st_mtime_ns == before  # finished work is not redone
    scores, ref_scores = (json.loads((d / "scores.json").read_text()) for d in (out, ref))
    assert scores.keys() == ref_scores.keys() == {str(s) for s in range(SEEDS)}
    for s, sc in ref_scores.items():  # float scores of a batched program over other chunks:
        assert scores[s] == pytest.approx(sc, rel=1e-3, abs=1e-4)  # measured: 4.7e-5 absolute


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


def test_disk_full_keeps_finished_seeds_and_resumes_to_the_same_bytes(sweep_tiny_reference, tmp_path,
                                                                       monkeypatch):  # fmt: skip
    _, ref_pngs, gen = sweep_tiny_reference
    out = tmp_path / "sweep"
    argv = [*argv_of(gen), f"--out_dir={out}", "--chunk_size=1"]
    with monkeypatch.context() as mp:
        mp.setattr(os, "replace", FullDisk(20, str(out)))
        r = run_cli(gen.module, argv)
    line = assert_one_line_error(r, (1,), "No space left on device")
    m = json.loads((out / "manifest.json").read_text())
    kept = m["seeds_done"]
    assert 0 < len(kept) < SEEDS and kept == list(range(len(kept))), kept
    assert f"{out}/" in line, line
    assert f"kept {len(kept)} finished seeds (0-{len(kept) - 1})" in line and "re-run the same command" in line
    pngs = sweep_pngs(out)
    for s in kept:  # the manifest lists only whole seeds, identical to the reference
        name = f"images/seed_{s:06d}/{gen.image}"
        assert pngs[name] == ref_pngs[name]
    assert all(whole_png(out / n) for n in pngs)  # cut-short writes left no partial file
    assert not list(out.rglob("*.tmp"))

    r = run_cli(gen.module, argv)  # the disk has room again: the same command
    assert r.code == 0, r.err[-3000:]
    assert _done(out) == list(range(SEEDS))
    assert sweep_pngs(out) == ref_pngs  # --chunk_size=1 = chunks of 4, byte for byte


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_the_sweep_with_one_line_and_resume_completes_it(sweep_tiny_reference, tmp_path,
                                                                       monkeypatch, sig):  # fmt: skip
    """Ctrl-C or SIGTERM once a chunk is listed (in process: the signal is raised in
    the main thread from the patched ``Manifest.add``): one line, exit 128 + signal,
    the listed seeds' files whole; the same command then finishes the same bytes."""
    from neural_art.sweep import outputs

    ref, ref_pngs, gen = sweep_tiny_reference
    add = outputs.Manifest.add

    def add_then_signal(self, seeds):
        add(self, seeds)
        if SWEEP_TINY_CHUNK <= len(self.data["seeds_done"]) < SEEDS:
            signal.raise_signal(sig)

    out = tmp_path / "sweep"
    argv = [*argv_of(gen), f"--chunk_size={SWEEP_TINY_CHUNK}", f"--out_dir={out}"]
    handler, sigint = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as a new process has it
    try:
        with monkeypatch.context() as m:
            m.setattr(outputs.Manifest, "add", add_then_signal)
            r = run_cli(gen.module, argv)
    finally:
        signal.signal(signal.SIGINT, sigint)
    assert signal.getsignal(signal.SIGTERM) == handler  # the CLI put it back
    name = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
    line = assert_one_line_error(r, (128 + sig,), f"interrupted ({name}); finished files are kept")
    assert line.endswith("re-run the same command to resume"), line
    done = _done(out)
    assert SWEEP_TINY_CHUNK <= len(done) < SEEDS, done
    assert all(sweep_pngs(out)[k] == ref_pngs[k] for k in sweep_pngs(out) if any(f"seed_{s:06d}/" in k for s in done))
    r = run_cli(gen.module, argv)
    assert r.code == 0, r.err[-3000:]
    assert _done(out) == list(range(SEEDS)) and sweep_pngs(out) == ref_pngs


def test_resume_refuses_a_symbolic_link_inside_out_dir(sweep_tiny_reference, tmp_path):
    """A link planted in a shared sweep directory would take the resumed run's PNGs
    outside it: refused, naming the link, nothing written through it."""
    import shutil

    ref, _, gen = sweep_tiny_reference
    out, elsewhere = tmp_path / "sweep", tmp_path / "elsewhere"
    shutil.copytree(ref, out)
    elsewhere.mkdir()
    link = out / "images" / "seed_000003"
    shutil.rmtree(link)
    link.symlink_to(elsewhere, target_is_directory=True)
    m = json.loads((out / "manifest.json").read_text())
    m["seeds_done"].remove(3)
    (out / "manifest.json").write_text(json.dumps(m))
    r = run_cli(gen.module, [*argv_of(gen), f"--chunk_size={SWEEP_TINY_CHUNK}", f"--out_dir={out}"])
    assert_one_line_error(r, (1,), f"{link} is a symbolic link inside --out_dir")
    assert not list(elsewhere.iterdir())


@pytest.mark.parametrize("damage", ["[]", "not json {", "seeds", "plan key", "plan value"])
def test_a_damaged_manifest_is_one_line_naming_it(sweep_tiny_reference, tmp_path, damage):
    """Resuming over a manifest.json this tool cannot have written: one line naming
    the file, exit 1, the directory as it was."""
    import shutil

    ref, ref_pngs, gen = sweep_tiny_reference
    out = tmp_path / "sweep"
    shutil.copytree(ref, out)
    m = json.loads((out / "manifest.json").read_text())
    text = {"[]": "[]", "not json {": "not json {"}.get(damage)
    if damage == "seeds":
        m["seeds_done"] = "0-11"
    elif damage == "plan key":
        m["plan"]["bogus"] = 1
    elif damage == "plan value":
        m["plan"]["chunk"] = "4"
    (out / "manifest.json").write_text(text or json.dumps(m))
    before = (out / "manifest.json").read_bytes()
    r = run_cli(gen.module, [*argv_of(gen), f"--chunk_size={SWEEP_TINY_CHUNK}", f"--out_dir={out}"])
    assert_one_line_error(r, (1,), f"{out / 'manifest.json'}: damaged manifest")
    assert (out / "manifest.json").read_bytes() == before and sweep_pngs(out) == ref_pngs
