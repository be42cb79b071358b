"""`camviz explain`'s gallery in a real headless Chromium: after --only-misclassified, rows without figures show as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.output.test_gallery import VISIBLE, _embedded, browser  # noqa: F401 (the fixture)
from tests.support.browser import DevTools
from tests.support.checkpoints import biased_demo_checkpoint


@pytest.mark.browser
def test_gallery_after_only_misclassified_shows_rows_without_figures_as_such(camviz_main, small_split: Path,
                                                                             tmp_path: Path, browser: DevTools) -> None:  # noqa: F811
    """A model that always says `circle`: 2 right (no figure), 4 wrong (a figure each)."""
    checkpoint = biased_demo_checkpoint(tmp_path / "circle.pth", ["circle", "square", "triangle"], [10.0, 0.0, 0.0])
    out = tmp_path / "out"
    result = camviz_main("explain", "--model-path", checkpoint, "--data-dir", small_split, "--output-dir", out,
                         "--num-workers", 0, "--only-misclassified")
    assert result.returncode == 0, result.stderr
    data = _embedded((out / "index.html").read_text(encoding="utf-8"))
    assert (data["summary"]["figures"], data["summary"]["without_figure"]) == (4, 2) == (
        len(list(out.glob("gradcam_*.png"))), 2)
    assert not any(row["missing"] for row in data["rows"])

    browser.call("Page.navigate", url=(out / "index.html").as_uri())
    browser.wait_event("Page.loadEventFired")
    assert browser.evaluate(VISIBLE) == 4
    assert browser.evaluate("[...document.querySelectorAll('#grid .nofig')].map(e => e.textContent)") == [
        "no figure (--only-misclassified)"] * 2
    assert browser.evaluate("document.querySelectorAll('#grid .missing').length") == 0
    stats = browser.evaluate("[...document.querySelectorAll('#stats .stat')].map(s => s.textContent)")
    assert "4figures" in stats and "2without figure (--only-misclassified)" in stats, stats
