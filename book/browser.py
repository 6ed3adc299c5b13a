"""Open pages of the built book in headless Chromium and report what a reader would see.

Chromium is driven through its DevTools protocol over a pipe (``--remote-debugging-pipe``:
JSON messages on file descriptors 3 and 4), so nothing beyond the browser itself is needed.
For each page :meth:`Browser.visit` returns the console errors, uncaught exceptions and failed
loads, every image with its natural width, the number of typeset equations (MathJax output
elements) and of equations in the page's source, and writes a screenshot.

    python book/browser.py build/book/index.html build/book/chapters/02_shsgan_ablations.html
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: Executable names tried in order (Debian's package installs ``chromium``).
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: Waits for MathJax 2 (or 3) to finish typesetting, loads every image (lazy ones included) and
#: returns what the page shows.
_INSPECT = """
(async () => {
  if (window.MathJax && MathJax.Hub && MathJax.Hub.Queue) {
    await new Promise(done => MathJax.Hub.Queue(done));
  } else if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(img => { img.loading = 'eager';
    return img.decode().catch(() => null); }));
  return JSON.stringify({
    title: document.title,
    images: imgs.map(img => ({src: img.currentSrc || img.src, width: img.naturalWidth})),
    math_source: document.querySelectorAll('.math').length,
    math_typeset: document.querySelectorAll(
      '.MathJax_CHTML, .MathJax, .MathJax_SVG, mjx-container').length,
    nav: document.querySelectorAll('nav a').length,
  });
})()
"""


def find_browser() -> str | None:
    """Path of an installed Chromium or Chrome, or None."""
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


class Browser:
    """One headless Chromium; use as a context manager."""

    def __init__(self, executable: str | None = None, width: int = 1280, height: int = 900,
                 timeout: float = 60.0):
        self.executable = executable or find_browser()
        if self.executable is None:
            raise FileNotFoundError(f"no browser found (tried {', '.join(BROWSERS)})")
        self.width, self.height, self.timeout = width, height, timeout
        self._next_id = 0
        self._events: queue.Queue = queue.Queue()
        self._seen: list[dict] = []

    def __enter__(self) -> Browser:
        self._profile = tempfile.mkdtemp(prefix="book-browser-")
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()

        def child_fds():  # the browser reads commands on fd 3 and writes replies on fd 4
            a, b = os.dup(cmd_r), os.dup(resp_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [self.executable, "--headless", "--remote-debugging-pipe", "--no-sandbox",
                "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--mute-audio",
                f"--user-data-dir={self._profile}", "about:blank"]
        self._proc = subprocess.Popen(args, preexec_fn=child_fds, pass_fds=(3, 4),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(resp_w)
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 - the browser may already be gone
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._cmd_w)
        shutil.rmtree(self._profile, ignore_errors=True)

    def _read(self) -> None:
        buf = b""
        with os.fdopen(self._resp_r, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                buf += chunk
                while b"\0" in buf:
                    raw, buf = buf.split(b"\0", 1)
                    self._events.put(json.loads(raw))

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float | None = None) -> dict:
        """Send one command and wait for its reply (events seen meanwhile are kept)."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        reply = self._wait(lambda m: m.get("id") == self._next_id, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def _wait(self, match, timeout: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the browser did not answer in time")
            try:
                msg = self._events.get(timeout=left)
            except queue.Empty:
                continue
            if match(msg):
                return msg
            self._seen.append(msg)

    def visit(self, url: str, screenshot: Path | None = None) -> dict:
        """Load ``url`` in a fresh tab; returns a dict with ``errors`` (console errors,
        exceptions, failed loads), ``images`` ({src, width}), ``math_source``,
        ``math_typeset``, ``nav`` (links in navigation bars), ``title``."""
        self._seen: list[dict] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1,
                   "mobile": False}, session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        self._wait(lambda m: m.get("method") == "Page.loadEventFired"
                   and m.get("sessionId") == session)
        result = self.send("Runtime.evaluate", {"expression": _INSPECT, "awaitPromise": True,
                                                "returnByValue": True}, session=session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"inspecting {url} failed: {result['exceptionDetails']}")
        page = json.loads(result["result"]["value"])
        if screenshot is not None:
            shot = self.send("Page.captureScreenshot", {"format": "png"}, session=session)
            Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        time.sleep(0.2)  # late console messages
        while not self._events.empty():
            self._seen.append(self._events.get())
        page["errors"] = [e for m in self._seen if m.get("sessionId") == session
                          for e in [_error(m)] if e]
        self.send("Target.closeTarget", {"targetId": target})
        return page


def _error(msg: dict) -> str | None:
    """The text of a console error, an uncaught exception or a failed load; None otherwise."""
    method, p = msg.get("method"), msg.get("params", {})
    if method == "Runtime.exceptionThrown":
        d = p["exceptionDetails"]
        return f"exception: {d.get('exception', {}).get('description') or d.get('text')}"
    if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
        return "console: " + " ".join(str(a.get("value", a.get("description", "")))
                                      for a in p.get("args", []))
    if method == "Log.entryAdded" and p["entry"].get("level") == "error":
        return f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}".strip()
    if method == "Network.loadingFailed" and not p.get("canceled"):
        return f"load failed: {p.get('errorText')} ({p.get('type')})"
    return None


def main(argv: list[str]) -> int:
    with Browser() as browser:
        for i, page in enumerate(argv):
            url = page if "://" in page else Path(page).resolve().as_uri()
            report = browser.visit(url, screenshot=Path(f"page{i}.png"))
            print(json.dumps({"url": url, **report}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
