"""camviz.output.gallery: the static gallery's data, ordering, escaping, and the page itself in a real headless
Chromium (`tests.support.browser`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from camviz.output.gallery import Page, class_axis, gallery_data, write_gallery
from camviz.output.result import ImageResult, Status
from tests.support.browser import CHROMIUM, DevTools, headless_page

CLASSES = ["cat", "dog", '<b>&"x"']


def _figure(folder: Path, name: str, colour: tuple[int, int, int]) -> str:
    image = np.zeros((40, 120, 3), np.uint8)
    image[:] = colour
    assert cv2.imwrite(str(folder / name), image)
    return name


def _result(index: int, true: str, pred: str, confidence: float, output: str = "") -> ImageResult:
    return ImageResult(index=index, path=f"{true or 'none'}/img{index}.png", true=true, predicted=(pred,),
                       confidence=(confidence,), explained=(pred,), output=output)


def _rows(folder: Path) -> list[ImageResult]:
    """Six ok results (two mistakes, one unlabelled), one error, one class name that needs escaping."""
    spec = [  # index, true, pred, confidence
        (0, "cat", "cat", 0.99), (1, "cat", "dog", 0.80), (2, "dog", "dog", 0.55),
        (3, '<b>&"x"', "cat", 0.95), (4, '<b>&"x"', '<b>&"x"', 0.70), (6, "", "dog", 0.60),
    ]
    rows = [_result(i, true, pred, conf, _figure(folder, f"gradcam_{i:04d}_true_{i}.png", (20 * i, 80, 160)))
            for i, true, pred, conf in spec]
    rows.append(ImageResult(index=5, path="cat/broken.png", true="cat", status=Status.error,
                            note="cannot decode </script> broken.png"))
    return rows


def _page(classes: list[str], title: str | None = None) -> Page:
    return Page(class_names=classes, method="gradcam", title=title)


def _embedded(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="camviz-data">(.*?)</script>', html, re.S)
    assert match, "no embedded data"
    return json.loads(match.group(1))


def test_writes_index_html_with_mistakes_first(tmp_path: Path) -> None:
    path = write_gallery(tmp_path, _rows(tmp_path), _page(CLASSES))
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
    html = write_gallery(tmp_path, _rows(tmp_path), _page(CLASSES, '<i>run & "best"</i>')).read_text()
    assert "<title>&lt;i&gt;run &amp; &quot;best&quot;&lt;/i&gt;</title>" in html
    blob = html.split('id="camviz-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in blob and "&" not in blob  # nothing in the data can close the script element
    assert '<b>&"x"' in _embedded(html)["classes"]
    assert html.count("</script>") == 2


def test_relative_urls_are_encoded_and_missing_figures_flagged(tmp_path: Path) -> None:
    name = _figure(tmp_path, "gradcam_0000_true_a#1_pred_b.png", (0, 0, 0))
    rows = [_result(0, "a", "b", 0.5, name), _result(1, "a", "a", 0.9, "gone.png")]
    records = {r["index"]: r for r in gallery_data(tmp_path, rows, ["a"], "gradcam")["rows"]}
    assert records[0]["src"] == "gradcam_0000_true_a%231_pred_b.png"
    assert records[1]["missing"] and not records[0]["missing"]


def test_class_axis_keeps_model_order_and_adds_unknown_labels() -> None:
    rows = [_result(0, "zebra", "b", 0.5), _result(1, "", "a", 0.5)]
    assert class_axis(["b", "a"], rows) == ["b", "a", "zebra"]


def test_rewrites_atomically(tmp_path: Path) -> None:
    write_gallery(tmp_path, [], _page(["a"]))
    write_gallery(tmp_path, _rows(tmp_path), _page(CLASSES))
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".png") == ["index.html"]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    """A headless Chromium with one page attached; fails (never skips) when Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the gallery test needs Debian's headless Chromium "
                    "(apt-get install -y chromium; .ci/run installs it)")
    with headless_page(tmp_path / "chromium-profile") as page:
        yield page


VISIBLE = "[...document.querySelectorAll('#grid .card img')].filter(i => i.getClientRects().length).length"


@pytest.mark.browser
def test_gallery_in_headless_chromium(tmp_path: Path, browser: DevTools) -> None:
    out = tmp_path / "run with space"
    out.mkdir()
    rows = _rows(out)
    page = write_gallery(out, rows, _page(CLASSES))
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
