"""The static gallery: data, ordering, escaping, and the page itself in a real headless Chromium."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from camviz.output.gallery import class_axis, gallery_data, write_gallery
from camviz.output.manifest import ManifestRow

CHROMIUM = Path("/usr/bin/chromium")
CLASSES = ["cat", "dog", '<b>&"x"']


def _figure(folder: Path, name: str, colour: tuple[int, int, int]) -> str:
    image = np.zeros((40, 120, 3), np.uint8)
    image[:] = colour
    assert cv2.imwrite(str(folder / name), image)
    return name


def _rows(folder: Path) -> list[ManifestRow]:
    """Six ok rows (two mistakes, one unlabelled), one error row, one class name that needs escaping."""
    spec = [  # index, true, pred, confidence
        (0, "cat", "cat", "0.99"), (1, "cat", "dog", "0.80"), (2, "dog", "dog", "0.55"),
        (3, '<b>&"x"', "cat", "0.95"), (4, '<b>&"x"', '<b>&"x"', "0.70"), (6, "", "dog", "0.60"),
    ]
    rows = [
        ManifestRow(i, f"{true or 'none'}/img{i}.png", true, pred, conf, pred,
                    _figure(folder, f"gradcam_{i:04d}_true_{i}.png", (20 * i, 80, 160)))
        for i, true, pred, conf in spec
    ]
    rows.append(ManifestRow(5, "cat/broken.png", "cat", status="error", error="cannot decode </script> broken.png"))
    return rows


def _embedded(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="camviz-data">(.*?)</script>', html, re.S)
    assert match, "no embedded data"
    return json.loads(match.group(1))


def test_writes_index_html_with_mistakes_first(tmp_path: Path) -> None:
    path = write_gallery(tmp_path, _rows(tmp_path), CLASSES, "gradcam")
    assert path == tmp_path / "index.html"
    data = _embedded(path.read_text(encoding="utf-8"))
    assert [r["index"] for r in data["rows"]] == [1, 3, 2, 6, 4, 0]  # mistakes, then least confident
    assert [r["mistake"] for r in data["rows"]] == [True, True, False, False, False, False]
    assert data["errors"] == [{"index": 5, "path": "cat/broken.png", "error": "cannot decode </script> broken.png"}]
    assert data["summary"]["accuracy"] == pytest.approx(3 / 5)
    assert data["summary"]["skipped"] == 1
    assert data["matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert all(r["w"] == 120 and r["h"] == 40 and not r["missing"] for r in data["rows"])


def test_escapes_class_names_and_script_breakers(tmp_path: Path) -> None:
    html = write_gallery(tmp_path, _rows(tmp_path), CLASSES, "gradcam", title='<i>run & "best"</i>').read_text()
    assert "<title>&lt;i&gt;run &amp; &quot;best&quot;&lt;/i&gt;</title>" in html
    blob = html.split('id="camviz-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in blob and "&" not in blob  # nothing in the data can close the script element
    assert '<b>&"x"' in _embedded(html)["classes"]
    assert html.count("</script>") == 2


def test_relative_urls_are_encoded_and_missing_figures_flagged(tmp_path: Path) -> None:
    name = _figure(tmp_path, "gradcam_0000_true_a#1_pred_b.png", (0, 0, 0))
    rows = [ManifestRow(0, "a/x.png", "a", "b", "0.5", "b", name),
            ManifestRow(1, "a/y.png", "a", "a", "0.9", "a", "gone.png")]
    records = {r["index"]: r for r in gallery_data(tmp_path, rows, ["a"], "gradcam")["rows"]}
    assert records[0]["src"] == "gradcam_0000_true_a%231_pred_b.png"
    assert records[1]["missing"] and not records[0]["missing"]


def test_class_axis_keeps_model_order_and_adds_unknown_labels() -> None:
    rows = [ManifestRow(0, "p", "zebra", "b", "0.5"), ManifestRow(1, "q", "", "a", "0.5")]
    assert class_axis(["b", "a"], rows) == ["b", "a", "zebra"]


def test_rewrites_atomically(tmp_path: Path) -> None:
    write_gallery(tmp_path, [], ["a"], "gradcam")
    write_gallery(tmp_path, _rows(tmp_path), CLASSES, "gradcam")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".png") == ["index.html"]


class DevTools:
    """A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe` (fd 3 in, fd 4 out)."""

    def __init__(self, profile: Path, timeout: float = 30.0) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.log = profile / "chromium-stderr.log"
        to_chrome_r, self._write_fd = os.pipe()
        self._read_fd, from_chrome_w = os.pipe()
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-pipe",
                "--window-size=1366,900", "about:blank"]

        def as_fds_3_and_4() -> None:  # in the child, before exec: the pipe ends Chromium expects
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_r, from_chrome_w)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        with self.log.open("wb") as log:  # a file, not a pipe: Chromium logs a lot and must never block on it
            self.process = subprocess.Popen(
                [str(CHROMIUM), *args], preexec_fn=as_fds_3_and_4, close_fds=False, start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
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

    def _receive(self, wanted) -> dict:
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


@pytest.fixture
def browser(tmp_path: Path):
    """A headless Chromium with one page attached; fails (never skips) when Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the gallery test needs Debian's headless Chromium "
                    "(apt-get install -y chromium; .ci/run installs it)")
    devtools = DevTools(tmp_path / "chromium-profile")
    try:
        target = devtools.call("Target.createTarget", url="about:blank")["targetId"]
        devtools.session = devtools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            devtools.call(f"{domain}.enable")
        yield devtools
    finally:
        devtools.close()
        shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


VISIBLE = "[...document.querySelectorAll('#grid .card img')].filter(i => i.getClientRects().length).length"


def test_gallery_in_headless_chromium(tmp_path: Path, browser: DevTools) -> None:
    out = tmp_path / "run with space"
    out.mkdir()
    rows = _rows(out)
    page = write_gallery(out, rows, CLASSES, "gradcam")
    browser.call("Page.navigate", url=page.as_uri())
    browser.wait_event("Page.loadEventFired")
    assert browser.evaluate(VISIBLE) == sum(row.status == "ok" for row in rows) == 6
    assert browser.evaluate("document.getElementById('count').textContent") == "showing 6 of 6"
    # The first figure really loads from its relative URL (it is in the viewport, so not deferred).
    assert browser.evaluate("""new Promise(done => { const img = document.querySelector('#grid img');
        const check = () => img.complete ? done(img.naturalWidth) : setTimeout(check, 50); check(); })""") == 120
    # Class names are shown as text, not markup.
    assert browser.evaluate("document.querySelectorAll('#cm b, #grid b b').length") == 0
    assert '<b>&"x"' in browser.evaluate("document.getElementById('cm').textContent")

    browser.evaluate("const s = document.getElementById('f-ok'); s.value = 'bad'; s.dispatchEvent(new Event('change'))")
    assert browser.evaluate(VISIBLE) == 2
    assert browser.evaluate("document.getElementById('count').textContent") == "showing 2 of 6"

    # A confusion-matrix cell: true '<b>&"x"' (row 2), predicted 'cat' (column 0) -> one figure, #3.
    browser.evaluate("document.querySelector('#cm td[data-t=\"2\"][data-p=\"0\"]').click()")
    assert browser.evaluate(VISIBLE) == 1
    assert browser.evaluate("document.getElementById('f-ok').value") == "all"
    assert browser.evaluate("[...document.querySelectorAll('#grid .card')].find(c => !c.hidden)"
                            ".querySelector('.idx').textContent") == "#3"

    browser.evaluate("document.getElementById('reset').click()")
    assert browser.evaluate(VISIBLE) == 6
    assert "cannot decode </script> broken.png" in browser.evaluate("document.getElementById('errors').textContent")
    assert browser.console_errors() == []
