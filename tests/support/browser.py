"""A minimal headless-Chromium client: the Chrome DevTools Protocol over `--remote-debugging-pipe`.

Debian's chromium at /usr/bin/chromium; no websocket, no port, no driver: Chromium reads commands on fd 3 and
writes replies and events on fd 4, each message a JSON text ending in a NUL byte.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--remote-debugging-pipe", "--window-size=1366,900"]


class DevTools:
    """A Chrome DevTools Protocol client over `--remote-debugging-pipe` (fd 3 in, fd 4 out)."""

    def __init__(self, profile: Path, timeout: float = 30.0) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.log = profile / "chromium-stderr.log"
        to_chrome_r, self._write_fd = os.pipe()
        self._read_fd, from_chrome_w = os.pipe()
        # Chromium expects its pipe ends as fds 3 and 4: they are passed as high numbers and moved there by bash
        # before it execs Chromium (dash, /bin/sh on Debian, reads only one-digit fds in redirections).
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_r, from_chrome_w)]
        as_fds_3_and_4 = f'exec "$0" "$@" 3<&{high[0]} 4>&{high[1]} {high[0]}<&- {high[1]}>&-'
        command = ["/bin/bash", "-c", as_fds_3_and_4, str(CHROMIUM), *ARGS, f"--user-data-dir={profile}", "about:blank"]
        with self.log.open("wb") as log:  # a file, not a pipe: Chromium logs a lot and must never block on it
            self.process = subprocess.Popen(
                command, pass_fds=high, start_new_session=True, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT,
            )
        for fd in (to_chrome_r, from_chrome_w, *high):
            os.close(fd)
        self.timeout, self.events, self._buffer, self._id, self.session = timeout, [], b"", 0, None

    def call(self, method: str, **params: object) -> dict:
        """Send one command (to the attached page, once there is one) and return its result."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._write_fd, json.dumps(message).encode() + b"\0")
        reply = self._receive(lambda m: m.get("id") == self._id)
        assert "error" not in reply, f"{method}: {reply['error']}"
        return reply["result"]

    def wait_event(self, method: str) -> dict:
        """Wait for an event already seen or still to come."""
        return next((e for e in self.events if e["method"] == method), None) or self._receive(
            lambda m: m.get("method") == method)

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def _receive(self, wanted: Callable[[dict], bool]) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read_fd], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer within {self.timeout}s: "
                                   f"{self.log.read_text(errors='replace')[-2000:]}")
            chunk = os.read(self._read_fd, 1 << 16)
            if not chunk:
                raise RuntimeError(f"Chromium exited: {self.log.read_text(errors='replace')[-2000:]}")
            self._buffer += chunk

    def close(self) -> None:
        try:
            self.session = None
            self.call("Browser.close")
        except (OSError, RuntimeError, TimeoutError, AssertionError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: Chromium and its helpers only
            self.process.wait()
        os.close(self._read_fd)
        os.close(self._write_fd)

    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors seen so far."""
        found = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details.get("text", "?"))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"{params['entry'].get('text')} {params['entry'].get('url', '')}")
        return found


@contextlib.contextmanager
def headless_page(profile: Path) -> Iterator[DevTools]:
    """A headless Chromium with one blank page attached (Runtime, Log and Page enabled); the profile removed after."""
    devtools = DevTools(profile)
    try:
        target = devtools.call("Target.createTarget", url="about:blank")["targetId"]
        devtools.session = devtools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            devtools.call(f"{domain}.enable")
        yield devtools
    finally:
        devtools.close()
        shutil.rmtree(profile, ignore_errors=True)
