"""Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``): no
extra Python package, no port. The browser reads commands on its fd 3 and writes replies and
events on its fd 4, each a JSON object ended by a NUL byte.

    with DevTools(browser, profile_dir) as page:
        page.open(url)                     # waits for the load event
        page.evaluate("document.title")    # -> "..."
        page.errors                        # console errors, exceptions, failed loads so far
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path


def find_browser() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _above_4(fd: int) -> int:
    """``fd`` moved to a number above 4, so that moving it to 3 or 4 in the child clobbers nothing."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class DevTools:
    """One page in a fresh headless browser; :attr:`errors` collects what the page reports as an
    error (console.error, uncaught exceptions, failed resource loads)."""

    def __init__(self, browser: str, profile_dir, width: int = 1280, height: int = 900,
                 timeout: float = 60.0):
        to_browser, self._in = os.pipe()
        self._out, from_browser = os.pipe()
        to_browser, from_browser = _above_4(to_browser), _above_4(from_browser)
        args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--hide-scrollbars", "--remote-debugging-pipe", f"--user-data-dir={profile_dir}",
                "about:blank"]
        self._log = Path(profile_dir) / "chromium-stderr.log"
        # bash moves the pipe ends to the fds the protocol fixes (3 and 4)
        with open(self._log, "wb") as log:
            self._proc = subprocess.Popen(
                ["bash", "-c", f'exec "$@" 3<&{to_browser} 4>&{from_browser} {to_browser}<&- '
                               f'{from_browser}>&-', "bash", *args],
                pass_fds=(to_browser, from_browser), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=log)
        os.close(to_browser)
        os.close(from_browser)
        self.timeout, self.errors, self._buffer, self._next, self._events = timeout, [], b"", 0, []
        target = self._call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self._call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def __enter__(self) -> DevTools:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._call("Browser.close")
        except (OSError, RuntimeError, TimeoutError):
            self._proc.kill()
        self._proc.wait(timeout=30)
        os.close(self._in)
        os.close(self._out)

    def call(self, method: str, **params) -> dict:
        """A command to the page; returns its result (raises RuntimeError on a protocol error)."""
        return self._call(method, self._session, **params)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self._events.clear()
        self.call("Page.navigate", url=url)
        self._wait(lambda m: m.get("method") == "Page.loadEventFired")

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        reply = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                          awaitPromise=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression[:60]}...: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, clip: dict | None = None) -> bytes:
        """PNG of the page, or of ``clip`` ({x, y, width, height} in page pixels)."""
        params = {"format": "png", "captureBeyondViewport": True}
        if clip:
            params["clip"] = {**clip, "scale": 1}
        return base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])

    # ------------------------------------------------------------------ the pipe

    def _call(self, method: str, session: str | None = None, **params) -> dict:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._in, json.dumps(message).encode() + b"\0")
        reply = self._wait(lambda m: m.get("id") == message["id"])
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def _wait(self, done) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                self._note(message)
                if done(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._out], [], [], left)[0]:
                raise TimeoutError(f"no reply from the browser in {self.timeout} s")
            chunk = os.read(self._out, 1 << 20)
            if not chunk:
                raise RuntimeError("the browser closed the pipe: "
                                   + self._log.read_text(errors="replace")[-2000:])
            self._buffer += chunk

    def _note(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            args = (str(a.get("value", a.get("description"))) for a in params["args"])
            self.errors.append(f"console.{params['type']}: {' '.join(args)}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(f"exception: {details.get('text')} "
                               f"{details.get('exception', {}).get('description', '')}".strip())
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.errors.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}".strip())
