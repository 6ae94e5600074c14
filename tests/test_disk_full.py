"""A disk that fills up while a finished run writes its results
(:func:`neural_art.atomic.write_all`): the CLI ends with one ``error:`` line
(exit 1, no traceback) naming the file that failed, what was kept and where the
rest went; earlier files stay intact, no ``*.tmp`` is left, and the computed
images are written to a fallback directory bit for bit as a run on a healthy
disk writes them.

The full disk is :class:`FullDisk`: ``open()`` patched so that from the k-th
file opened for writing under a directory on, every write there fails with
``ENOSPC`` after writing part of its data. The CLIs run in this process
(``run_cli``): a healthy run, then the same run on a full disk, with the
system temp dir (the first fallback) set to a folder of the test's.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import os
import pathlib
import re
import tempfile

from cli_harness import CliResult, assert_one_line_error, run_cli
from fixtures import TINY_VGG19

ENOSPC = os.strerror(errno.ENOSPC)


class _FullFile:
    """A file on a full disk: a write stores part of its data, then fails."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        self._f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, ENOSPC)

    def fileno(self):  # PIL and friends then write through write()
        raise io.UnsupportedOperation("fileno")

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


class FullDisk:
    """``with FullDisk([dir, ...], from_file=k):`` the k-th and every later file
    opened for writing under any of the dirs gets a full disk."""

    def __init__(self, roots, from_file: int):
        self.roots = [os.path.abspath(r) + os.sep for r in roots]
        self.from_file, self.opened = from_file, 0

    def _open(self, file, mode="r", *args, **kwargs):
        f = self._orig(file, mode, *args, **kwargs)
        if isinstance(file, str | os.PathLike) and set(mode) & set("wax+"):
            if any(os.path.abspath(file).startswith(r) for r in self.roots):
                self.opened += 1
                if self.opened >= self.from_file:
                    return _FullFile(f)
        return f

    def __enter__(self):
        self._orig = builtins.open
        builtins.open = io.open = self._open
        return self

    def __exit__(self, *exc):
        builtins.open = io.open = self._orig


def _run_cli(module: str, cases: list[dict], tmp: pathlib.Path, monkeypatch) -> list[dict]:
    """Runs ``module`` once per case ``{"argv": [...], "full": [dir, k] | None}``;
    returns ``{"code", "stderr"}`` per case. Rescued files go to ``tmp/tmp``."""
    (tmp / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp / "tmp"))
    results = []
    for case in cases:
        disk = FullDisk([case["full"][0]], case["full"][1]) if case["full"] else contextlib.nullcontext()
        with disk:
            r = run_cli(module, case["argv"])
        results.append({"code": r.code, "stderr": r.err})
    return results


def _error_line(result: dict, starts: str = "error: could not write ") -> str:
    """The run failed with exit 1 and ends with one ``error:`` line, no traceback."""
    assert_one_line_error(CliResult(result["code"], "", result["stderr"]), (1,))
    last = result["stderr"].strip().splitlines()[-1]
    assert last.startswith(starts), result["stderr"][-3000:]
    return last


def _files(d: pathlib.Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())


def _rescue_dir(line: str, tmp: pathlib.Path, app: str) -> pathlib.Path:
    m = re.search(rf" to ({re.escape(str(tmp / 'tmp'))}/{app}-rescued-\w+) instead$", line)
    assert m, line
    return pathlib.Path(m.group(1))


def test_style_transfer_keeps_the_optimised_image_when_the_disk_fills(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 30, 3), np.uint8)).save(tmp_path / "content.png")
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), np.uint8)).save(tmp_path / "style.png")
    args = [f"--content={tmp_path / 'content.png'}", f"--style={tmp_path / 'style.png'}",
            f"--weights={TINY_VGG19}", "--size=32", "--steps=4", "--snapshot_every=2", "--optimizer=adam",
            "--style_layers=conv1_1,conv2_1", "--content_layers=conv2_2", "--noprogress"]  # fmt: skip
    ref, d1, d2, d4 = (tmp_path / d for d in ("ref", "full1", "full2", "full4"))
    # files in order: settings.json, result.png, snapshots/step_00002.png, .../step_00004.png, ...
    cases = [{"argv": [*args, f"--out_dir={ref}"], "full": None},
             {"argv": [*args, f"--out_dir={d1}"], "full": [str(d1), 1]},
             {"argv": [*args, f"--out_dir={d2}"], "full": [str(d2), 2]},
             {"argv": [*args, f"--out_dir={d4}"], "full": [str(d4), 4]}]  # fmt: skip
    ok, at_settings, at_result, at_snapshot = _run_cli("styletransfer", cases, tmp_path, monkeypatch)
    assert ok["code"] == 0, ok["stderr"][-3000:]
    assert _files(ref) == ["losses.json", "losses.png", "result.png", "settings.json",
                           "snapshots/step_00002.png", "snapshots/step_00004.png"]  # fmt: skip

    # settings.json is written before the optimisation: a full disk stops the run there
    line = _error_line(at_settings, "error: ")
    assert line == f"error: [Errno {errno.ENOSPC}] {ENOSPC}: '{d1}/settings.json'", line
    assert _files(d1) == []  # no truncated settings.json, no .tmp

    line = _error_line(at_result)
    assert line.startswith(f"error: could not write {d2}/result.png: {ENOSPC}; kept in {d2}: "
                           "settings.json; wrote result.png, snapshots/ (2 files), losses.png, "
                           "losses.json to "), line  # fmt: skip
    assert _files(d2) == ["settings.json"]  # no truncated result.png, no .tmp
    rescued = _rescue_dir(line, tmp_path, "styletransfer")
    assert _files(rescued) == [f for f in _files(ref) if f != "settings.json"]
    for f in ("result.png", "snapshots/step_00004.png", "losses.json"):
        assert (rescued / f).read_bytes() == (ref / f).read_bytes(), f  # the same bits

    line = _error_line(at_snapshot)
    assert line.startswith(f"error: could not write {d4}/snapshots/step_00004.png: {ENOSPC}; kept "
                           f"in {d4}: settings.json, result.png, snapshots/step_00002.png; wrote "
                           "snapshots/step_00004.png, "
                           "losses.png, losses.json to "), line  # fmt: skip
    assert _files(d4) == ["result.png", "settings.json", "snapshots/step_00002.png"]
    assert (d4 / "result.png").read_bytes() == (ref / "result.png").read_bytes()
    rescued = _rescue_dir(line, tmp_path, "styletransfer")
    assert _files(rescued) == ["losses.json", "losses.png", "snapshots/step_00004.png"]


def test_featvis_keeps_earlier_targets_and_reports_the_failing_one(tmp_path, monkeypatch):
    args = ["--model=toy", "--method=pixel", "--size=16", "--steps=3", "--targets=0-3"]
    ref, full = tmp_path / "ref", tmp_path / "full"
    cases = [{"argv": [*args, f"--out_dir={ref}"], "full": None},
             {"argv": [*args, f"--out_dir={full}"], "full": [str(full), 3]}]  # fmt: skip
    ok, failed = _run_cli("featvis", cases, tmp_path, monkeypatch)
    assert ok["code"] == 0, ok["stderr"][-3000:]
    names = _files(ref)
    assert len(names) == 5 and names[-1] == "grid.png" and names[2].startswith("0002_"), names
    line = _error_line(failed)
    assert line.startswith(f"error: could not write {full}/{names[2]}: {ENOSPC}; kept in {full}: "
                           f"{names[0]}, {names[1]}; wrote {names[2]}, {names[3]}, grid.png to "), line  # fmt: skip
    assert _files(full) == names[:2]
    for f in names[:2]:
        assert (full / f).read_bytes() == (ref / f).read_bytes()
    rescued = _rescue_dir(line, tmp_path, "featvis")
    assert _files(rescued) == names[2:]
    for f in names[2:]:
        assert (rescued / f).read_bytes() == (ref / f).read_bytes()


def test_write_all_when_every_fallback_is_full_too(tmp_path, monkeypatch):
    """Library level: ``write_all`` names the target (not its temp file); with the
    fallbacks full as well it says nothing was saved and leaves no rescue dir."""
    import pytest

    from neural_art import atomic

    out, tmp, home = tmp_path / "out", tmp_path / "tmp", tmp_path / "home"
    for d in (tmp, home):
        d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("HOME", str(home))
    files = [(name, lambda p, n=name: atomic.write_text(p, n * 1000))
             for name in ("a.txt", "sub/b.txt", "c.txt")]  # fmt: skip
    with FullDisk([out], from_file=2), pytest.raises(atomic.OutputError) as e:
        atomic.write_all(out, files, app="t", kept=["settings.json"])
    assert str(e.value).startswith(f"could not write {out}/sub/b.txt: {ENOSPC}; kept in {out}: "
                                   "settings.json, a.txt; wrote sub/b.txt, c.txt to ")  # fmt: skip
    assert e.value.errno == errno.ENOSPC and e.value.failed == out / "sub" / "b.txt"
    assert e.value.rescued["c.txt"].read_text() == "c.txt" * 1000
    assert _files(out) == ["a.txt"] and (out / "a.txt").read_text() == "a.txt" * 1000

    before = sorted(tmp.iterdir())  # the first call's rescue dir
    with FullDisk([out, tmp, home], from_file=1), pytest.raises(atomic.OutputError) as e:
        atomic.write_all(out, files, app="t")
    assert str(e.value).endswith(f"; could not write a.txt, sub/b.txt, c.txt elsewhere either "
                                 f"(tried {tmp}, {home}): not saved")  # fmt: skip
    assert e.value.rescued == {} and sorted(tmp.iterdir()) == before
    assert not list(home.iterdir()) and _files(out) == ["a.txt"]  # a.txt of the first call

    with FullDisk([out], from_file=1), pytest.raises(OSError) as e:
        atomic.write_bytes(out / "d.bin", b"x" * 100)
    assert e.value.filename == str(out / "d.bin") and not (out / "d.bin").exists()
    assert _files(out) == ["a.txt"]  # the temporary file is gone

