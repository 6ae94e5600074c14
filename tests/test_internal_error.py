"""A bug is reported as one: one ``internal error`` line naming the exception and the
file its traceback was written to, exit 70, no traceback on stderr; the same spot
raising a :class:`~neural_art.errors.UserError` (or an ``OSError``) is a user's
mistake: one ``error:`` line, exit 1 (:func:`neural_art.cli.run`). In process
(tests/cli_harness.py), the bug planted in ``dcgan.sample``'s one library call."""

from __future__ import annotations

import pathlib
import re
import tempfile

import pytest
from cli_harness import assert_one_line_error, run_cli
from test_golden import ROOT

import dcgan.grids
from neural_art import cli
from neural_art.errors import UserError


def _sample_raising(exc: BaseException, tmp_path, monkeypatch):
    def broken(*a, **kw):
        raise exc

    monkeypatch.setattr(dcgan.grids, "sample_grid", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the traceback file goes here
    (tmp_path / "tmp").mkdir()
    return run_cli("dcgan.sample", [f"--out_dir={tmp_path / 'out'}", "--n=4"],
                   env={"NEURAL_ART_JAX_CACHE": str(tmp_path / "cache")}, cwd=ROOT)  # fmt: skip


@pytest.mark.parametrize(("exc", "shown"), [
    (KeyError("conv9"), "KeyError: 'conv9'"),
    (TypeError("unsupported operand\nsecond line"), "TypeError: unsupported operand;"),
    (ZeroDivisionError(), "ZeroDivisionError; traceback"),
    (ValueError("a plain ValueError is not a UserError"), "ValueError: a plain"),
])  # fmt: skip
def test_a_bug_is_one_internal_error_line_with_the_traceback_in_a_file(exc, shown, tmp_path, monkeypatch):
    r = _sample_raising(exc, tmp_path, monkeypatch)
    line = assert_one_line_error(r, (cli.INTERNAL_ERROR_EXIT,), "internal error (a bug, not a mistake in your input): ")
    assert cli.INTERNAL_ERROR_EXIT == 70
    assert shown in line, line
    assert len(r.err.strip().splitlines()) == 1, r.err  # nothing else on stderr
    m = re.search(r"traceback written to (\S+)$", line)
    assert m, line
    saved = pathlib.Path(m.group(1))
    assert saved.parent == tmp_path / "tmp" and saved.name.startswith("neural_art_traceback_")
    text = saved.read_text()
    assert text.startswith("Traceback (most recent call last)"), text
    assert "in broken" in text and "raise exc" in text  # down to the frame that raised
    assert any(t.startswith(type(exc).__name__) for t in text.splitlines()), text


@pytest.mark.parametrize(("exc", "shown"), [
    (UserError("--weights=x: holds converted weights of 'vgg', not 'dcgan'"), "holds converted weights"),
    (FileNotFoundError(2, "No such file or directory", "/no/such.npz"), "/no/such.npz"),
])  # fmt: skip
def test_a_user_error_in_the_same_place_is_one_error_line_exit_1(exc, shown, tmp_path, monkeypatch):
    r = _sample_raising(exc, tmp_path, monkeypatch)
    line = assert_one_line_error(r, (1,), shown)
    assert "internal error" not in r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert not list((tmp_path / "tmp").glob("neural_art_traceback_*"))  # none for a user's mistake
    assert line.startswith("error: ")
