"""Headless Chromium for page tests (Debian's ``chromium``): the DOM after the
page's scripts ran, and screenshots. Network features off (this machine has none)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files", "--virtual-time-budget=5000"]  # fmt: skip


def _run(args: list[str], timeout: float = 90) -> str:
    with tempfile.TemporaryDirectory() as prof:
        r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={prof}", *args],
                           capture_output=True, text=True, timeout=timeout)  # fmt: skip
    if r.returncode != 0:
        raise RuntimeError(f"chromium exit {r.returncode}: {r.stderr[-2000:]}")
    return r.stdout


def dom(url: str) -> str:
    return _run(["--dump-dom", url])


def screenshot(url: str, path: str | os.PathLike, size: str = "1200,900") -> None:
    _run([f"--screenshot={os.fspath(path)}", f"--window-size={size}", url])
