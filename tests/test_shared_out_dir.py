"""Two runs into one ``--out_dir`` at once: the second is refused in one line naming
the first (pid and command), exit 1, before any compute and without touching the
directory (:mod:`neural_art.outlock`, taken by :func:`neural_art.cli.run`). The
lock is held by a flock in another process (a subprocess: the process boundary is
what is tested) or, in process, by another open of the lock file (flock locks
belong to the open file, so it is the same refusal). A killed holder leaves no
stale lock; --multihost runs do not lock. An --out_dir removed while a run writes
it stops the run in one line naming it, exit 1, without making it again and
without writing anything elsewhere."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import tempfile

import pytest
from cli_harness import assert_one_line_error, run_cli
from fixtures_biggan import BIGGAN_SWEEP_ARGV
from fixtures_dcgan import DCGAN_TINY
from test_golden import ROOT, _pictures

from neural_art import outlock

STYLE = ["--weights=random:vgg19:8", "--content={pics}/content.png", "--style={pics}/style.png",
         "--size=32", "--steps=2", "--optimizer=adam", "--style_layers=conv1_1",
         "--content_layers=conv2_2", "--noprogress"]  # fmt: skip

# Holds out_dir's lock, prints "held", then waits to be killed (imports no jax: fast).
_HOLDER = """
import sys, threading
from neural_art import outlock
with outlock.hold(sys.argv[1]):
    print("held", flush=True)
    threading.Event().wait()
"""


@pytest.fixture()
def other_process(tmp_path):
    """``hold(out_dir)``: a python process holding ``out_dir``'s lock until the test ends."""
    procs = []

    def hold(out_dir):
        p = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out_dir), "--out_dir", str(out_dir)],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
        procs.append(p)
        assert p.stdout.readline().strip() == "held"  # waits on the event, not a sleep
        return p

    yield hold
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def _run(module, argv, tmp_path):
    return run_cli(module, argv, env={"NEURAL_ART_JAX_CACHE": str(tmp_path / "cache")}, cwd=ROOT)


def test_a_biggan_sweep_into_a_directory_another_process_writes_is_refused(tmp_path, other_process,
                                                                           monkeypatch):  # fmt: skip
    from biggan_jax import experiment

    reached = []
    monkeypatch.setattr(experiment, "validate", lambda job: reached.append(job))  # the first check
    out = tmp_path / "sweep"
    holder = other_process(out)
    r = _run("biggan_jax", [*BIGGAN_SWEEP_ARGV, f"--out_dir={out}"], tmp_path)
    line = assert_one_line_error(r, (1,), f"--out_dir={out} is being written by another run")
    assert f"pid {holder.pid}: " in line and "--out_dir" in line  # the holder's command
    assert "wait for it to end, or give another --out_dir" in line
    assert not out.exists()  # untouched
    assert not reached  # refused before the sweep's own checks, so before any compute

    holder.send_signal(signal.SIGKILL)  # the holder dies: no stale lock
    holder.wait()
    with outlock.hold(out) as lock:
        assert lock == outlock.lock_path(out)


def test_a_style_transfer_into_a_busy_directory_is_refused_and_the_next_one_runs(tmp_path):
    pics, out = _pictures(tmp_path), tmp_path / "style"
    argv = [a.format(pics=pics) for a in STYLE] + [f"--out_dir={out}"]
    (tmp_path / "link").symlink_to(tmp_path)  # another spelling of the same directory
    with outlock.hold(tmp_path / "link" / "style"):
        r = _run("styletransfer", argv, tmp_path)
        assert_one_line_error(r, (1,), f"--out_dir={out} is being written by another run (pid {os.getpid()}")
        assert not out.exists()
    r = _run("styletransfer", argv, tmp_path)  # released: runs
    assert r.code == 0, r.err[-3000:]
    assert (out / "result.png").is_file()
    with outlock.hold(out):  # and the finished run released it
        pass


def test_a_dcgan_training_into_a_busy_workdir_is_refused_before_compute(tmp_path, monkeypatch):
    """Training's --workdir is locked like --out_dir: checkpoints of two runs would mix."""
    from dcgan import train

    reached = []
    monkeypatch.setattr(train, "check_config", lambda *a, **k: reached.append(a))  # the first check
    work = tmp_path / "work"
    with outlock.hold(work, flag="workdir"):
        r = _run("dcgan.main", [f"--config={DCGAN_TINY}", f"--workdir={work}"], tmp_path)
        assert_one_line_error(r, (1,), f"--workdir={work} is being written by another run (pid {os.getpid()}")
    assert "give another --workdir" in r.err
    assert not work.exists() and not reached


def test_lock_names_and_unlocked_cases(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    assert outlock.lock_path(a) != outlock.lock_path(b)
    assert outlock.lock_path(a) == outlock.lock_path(tmp_path / "b" / ".." / "a")
    with outlock.hold(a), outlock.hold(b):  # two directories: independent
        with pytest.raises(outlock.OutDirBusy, match="--out_dir=.*/a is being written"):
            with outlock.hold(a):
                pass
    # a lock directory that is not this user's own (here: a link) is not used
    monkeypatch.setattr(outlock, "lock_dir", lambda: tmp_path / "locks")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "locks").symlink_to(tmp_path / "elsewhere")
    with outlock.hold(a) as got, outlock.hold(a) as again:
        assert got is None and again is None
    assert not list((tmp_path / "elsewhere").iterdir())


def test_multihost_runs_do_not_lock(tmp_path, monkeypatch):
    """--multihost processes may share one directory (process 0 alone writes): the
    run gets past the lock, to jax.distributed's start-up (stopped there)."""
    from neural_art.sweep import multihost

    def stop():
        raise outlock.UserError("reached jax.distributed start-up")

    monkeypatch.setattr(multihost, "initialize", stop)
    out = tmp_path / "sweep"
    with outlock.hold(out):
        r = _run("biggan_jax", [*BIGGAN_SWEEP_ARGV, f"--out_dir={out}", "--multihost"], tmp_path)
        assert_one_line_error(r, (1,), "reached jax.distributed start-up")
        r = _run("biggan_jax", [*BIGGAN_SWEEP_ARGV, f"--out_dir={out}"], tmp_path)  # not multihost
        assert_one_line_error(r, (1,), "is being written by another run")


# ------------------------------------------------- an --out_dir removed mid-run


def _remove_after_first_image(monkeypatch, out):
    """``images.save_image`` that removes ``out`` (whole) after its first file: moved
    out of the test's directory in one rename (other writer threads may be adding
    files to it meanwhile, which an ``rmtree`` would race with), then deleted."""
    import shutil

    from neural_art import images

    save, written = images.save_image, []

    def save_then_remove(path, *a, **kw):
        got = save(path, *a, **kw)
        written.append(pathlib.Path(path))  # (list.append is atomic: one remover)
        if written[0] == pathlib.Path(path) and out.exists():
            gone = pathlib.Path(tempfile.mkdtemp(dir=out.parent.parent)) / "gone"
            os.rename(out, gone)
            shutil.rmtree(gone.parent, ignore_errors=True)
        return got

    monkeypatch.setattr(images, "save_image", save_then_remove)
    return written


def _only(tmp_path, *names):
    """Nothing was written under tmp_path but ``names`` (no out_dir made again, no rescue)."""
    assert {p.name for p in tmp_path.iterdir()} <= {"cache", "tmp", *names}, list(tmp_path.iterdir())


def test_a_biggan_sweep_whose_out_dir_is_removed_stops_in_one_line(biggan_cli_sweep, tmp_path, monkeypatch):
    """The shared fixture's run first (same argv: its compiled programs are reused)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # a rescue would land here
    (tmp_path / "tmp").mkdir()
    out = tmp_path / "sweep"
    written = _remove_after_first_image(monkeypatch, out)
    r = _run("biggan_jax", [*BIGGAN_SWEEP_ARGV, f"--out_dir={out}"], tmp_path)
    assert_one_line_error(r, (1,), f"--out_dir={out} was removed during the run; stopped without writing")
    assert "nothing was written elsewhere" in r.error_lines[0]
    assert written and not out.exists()  # not made again (a second writer thread may have
    # finished an image just before the removal; none after it, or out would exist again)
    _only(tmp_path)
    assert not [p for p in (tmp_path / "tmp").iterdir() if not p.name.startswith("neural_art_locks")]


def test_a_style_transfer_whose_out_dir_is_removed_stops_without_a_rescue(tmp_path, monkeypatch):
    """Style transfer writes its files at the end (neural_art.atomic.write_all, which
    moves what it cannot write to a rescue directory on a disk error): a removed
    --out_dir is not a disk error, so nothing is rescued elsewhere either."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    pics, out = _pictures(tmp_path), tmp_path / "style"
    out.mkdir()  # there before the run: removed before the first write is caught too
    written = _remove_after_first_image(monkeypatch, out)
    r = _run("styletransfer", [a.format(pics=pics) for a in STYLE] + [f"--out_dir={out}"], tmp_path)
    assert_one_line_error(r, (1,), f"--out_dir={out} was removed during the run")
    assert len(written) == 1 and not out.exists()
    _only(tmp_path, "pics")
    assert not [p for p in (tmp_path / "tmp").iterdir() if not p.name.startswith("neural_art_locks")]


def test_a_converter_whose_out_dir_is_removed_stops_without_making_it_again(tmp_path, monkeypatch):
    """weights_convert.vgg --normalise into an existing --out_dir removed after its first
    batch: the save (neural_art.store) stops in one line, exit 1, the directory not made again."""
    import jax
    import numpy as np
    from PIL import Image

    from styletransfer import vgg
    from styletransfer.vggnet import at_width
    from weights_convert import vgg as conv
    from weights_convert import vgg_normalise

    cfg = at_width(vgg.VGG19, 8).replace(preprocessing=vgg.CAFFE)
    src = conv.save(tmp_path / "src", cfg, vgg.init_params(cfg, jax.random.key(0), head=True),
                    source="test", source_sha256="ab" * 32)  # fmt: skip
    imgs, out = tmp_path / "imgs", tmp_path / "norm"
    imgs.mkdir()
    out.mkdir()
    for i in range(2):
        Image.fromarray(np.full((36, 40, 3), 60 * i, np.uint8)).save(imgs / f"{i}.png")
    batches = vgg_normalise.batches

    def batches_then_remove(*a, **kw):
        for b in batches(*a, **kw):
            if out.exists():
                out.rmdir()
            yield b

    monkeypatch.setattr(vgg_normalise, "batches", batches_then_remove)
    r = _run("weights_convert.vgg", [f"--src={src}", f"--normalise={imgs}", f"--out_dir={out}",
                                     "--normalise_size=32"], tmp_path)  # fmt: skip
    assert_one_line_error(r, (1,), f"--out_dir={out} was removed during the run; stopped without writing")
    assert not out.exists()
    assert {p.name for p in tmp_path.iterdir()} <= {"cache", "imgs", "src"}  # nothing elsewhere


def test_make_parent(tmp_path):
    out = tmp_path / "out"
    outlock.make_parent(tmp_path / "free" / "a" / "x.png")  # no lock held: plain mkdir -p
    assert (tmp_path / "free" / "a").is_dir()
    with outlock.hold(out):
        outlock.make_parent(out / "images" / "x.png")  # made, and its identity noted
        outlock.make_parent(out / "images" / "y.png")
        out.rename(tmp_path / "moved")
        out.mkdir()  # another directory now has its name
        with pytest.raises(outlock.OutDirGone, match="was replaced by another directory"):
            outlock.make_parent(out / "z.png")
        out.rmdir()
        with pytest.raises(outlock.OutDirGone, match="was removed during the run"):
            outlock.make_parent(out / "sub" / "z.png")
        outlock.make_parent(tmp_path / "elsewhere" / "z.png")  # not below it: made
    assert not out.exists()
    outlock.make_parent(out / "z.png")  # released: no longer watched
    assert out.is_dir()


def test_a_file_in_flight_when_the_out_dir_goes_reports_the_removal(tmp_path):
    """A writer that passed the check and then lost its directory (another thread's
    file, mid-write) says the directory was removed, not a bare ENOENT."""
    from neural_art import atomic

    out = tmp_path / "out"
    with outlock.hold(out):
        atomic.write_text(out / "first.txt", "seen")  # the run has seen the directory
        with pytest.raises(outlock.OutDirGone, match="was removed during the run"):
            with atomic.atomic_path(out / "second.txt") as tmp:
                tmp.write_text("in flight")
                out.rename(tmp_path / "moved")
    assert not out.exists()
