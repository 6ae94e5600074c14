"""Headless Chromium for page tests (Debian's ``chromium``): the DOM after the
page's scripts ran, and screenshots. Network features off (this machine has none).

:class:`Browser` is one Chromium process driven over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: JSON messages ending in a NUL byte on fds 3 and 4), so
a test loads several pages with one browser start. Every :meth:`Browser.dom` is a
fresh load of the page (through ``about:blank``, so a URL that differs only in its
``#fragment`` is loaded anew, not a same-document navigation), after which the page's
own scripts have run; the DOM is then ``document.documentElement.outerHTML`` as
``--dump-dom`` prints it."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files"]  # fmt: skip


class Browser:
    """One headless Chromium; use as a context manager."""

    def __init__(self, timeout: float = 90):
        self.timeout = timeout
        self._prof = tempfile.TemporaryDirectory()
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_chrome_r, from_chrome_w)]
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        # bash (dash takes fds <= 9 only) puts the pipe ends on fds 3 (in) and 4 (out)
        script = f'exec "$@" 3<&{ends[0]} 4>&{ends[1]} {ends[0]}<&- {ends[1]}>&-'
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            ["bash", "-c", script, "bash", CHROMIUM, *FLAGS, "--remote-debugging-pipe",
             f"--user-data-dir={self._prof.name}", "about:blank"],
            pass_fds=ends, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._log)  # fmt: skip
        for fd in ends:
            os.close(fd)
        self._buf = b""
        self._id = 0
        self._events: list[dict] = []
        targets = self._call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self._session = self._call("Target.attachToTarget", targetId=page["targetId"],
                                   flatten=True)["sessionId"]  # fmt: skip
        self._call("Page.enable", session=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._call("Browser.close")
            except (RuntimeError, OSError):
                pass
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        self._prof.cleanup()

    # -- protocol
    def _read(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise RuntimeError("chromium: no reply in time")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                self._log.seek(0)
                raise RuntimeError(f"chromium exit {self._proc.wait()}: {self._log.read()[-2000:]!r}")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def _call(self, method: str, session: bool = False, **params) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self._session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            m = self._read()
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"chromium: {method}: {m['error']}")
                return m.get("result", {})
            self._events.append(m)

    def _wait_event(self, method: str) -> dict:
        while True:
            for i, m in enumerate(self._events):
                if m.get("method") == method:
                    return self._events.pop(i)
            self._events.append(self._read())

    def load(self, url: str) -> None:
        """A fresh load of ``url``; returns after its load event (its scripts ran)."""
        for u in ("about:blank", url):
            self._events.clear()
            r = self._call("Page.navigate", session=True, url=u)
            if r.get("errorText"):
                raise RuntimeError(f"chromium: {u}: {r['errorText']}")
            self._wait_event("Page.loadEventFired")

    def evaluate(self, expression: str, await_promise: bool = False):
        """The value of a JavaScript expression in the page as it is now (JSON-able);
        with ``await_promise``, of the promise it returns (a rejection raises)."""
        r = self._call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                       awaitPromise=await_promise)  # fmt: skip
        if "exceptionDetails" in r:
            raise RuntimeError(f"chromium: {expression[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def dom(self, url: str) -> str:
        self.load(url)
        return self.evaluate("document.documentElement.outerHTML")

    def screenshot(self, url: str, path: str | os.PathLike, size: str = "1200,900") -> None:
        w, h = (int(v) for v in size.split(","))
        self._call("Emulation.setDeviceMetricsOverride", session=True, width=w, height=h,
                   deviceScaleFactor=1, mobile=False)  # fmt: skip
        self.load(url)
        data = self._call("Page.captureScreenshot", session=True, format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


def dom(url: str) -> str:
    """The DOM of ``url`` after its scripts ran, in a browser of its own (one start)."""
    with Browser() as b:
        return b.dom(url)
