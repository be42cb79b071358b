"""The gallery's "Audit" view, in a real headless Chromium: a run of the shortcut model made with --audit lists its
clusters per class, the flagged one first and marked; clicking a cluster shows only its images; `camviz audit` on a
run made without --audit gives its gallery the same view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.output.test_gallery import VISIBLE, browser  # noqa: F401 (the fixture)
from tests.support.browser import DevTools
from tests.support.manifest import manifest_rows

BUTTONS = "[...document.querySelectorAll('#audit button.cluster')]"


def _open(browser: DevTools, out: Path, visit: str) -> None:  # noqa: F811
    browser.events.clear()  # wait for this page's load, not the last one's
    browser.call("Page.navigate", url=f"{(out / 'index.html').as_uri()}?{visit}")  # a new URL: never the cached page
    browser.wait_event("Page.loadEventFired")


@pytest.mark.browser
@pytest.mark.slow
def test_the_audit_view_lists_clusters_flagged_first_and_filters_by_cluster(camviz_main, shortcut_case, tmp_path,
                                                                            browser: DevTools) -> None:  # noqa: F811
    model, data, _ = shortcut_case
    out = tmp_path / "out"
    common = ["--model-path", model, "--data-dir", data, "--output-dir", out, "--num-workers", 0]
    assert camviz_main("explain", *common).returncode == 0
    _open(browser, out, "before")
    assert browser.evaluate("document.getElementById('audit').children.length") == 0  # no audit: no view
    result = camviz_main("audit", out)
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(out, ("cluster",))
    _open(browser, out, "after")
    buttons = json.loads(browser.evaluate(f"JSON.stringify({BUTTONS}.map(b => [b.dataset.cluster, b.className]))"))
    flagged = [name for name, kind in buttons if "flagged" in kind]
    assert len(flagged) == 1 and buttons[0][0] == flagged[0] and flagged[0].startswith("square/")
    assert "same place (top left)" in browser.evaluate("document.querySelector('#audit .reason').textContent")
    assert len(buttons) == len({row["cluster"] for row in rows})
    for name, _ in buttons[:3]:
        browser.evaluate(f"{BUTTONS}.find(b => b.dataset.cluster === {json.dumps(name)}).click()")
        assert browser.evaluate(VISIBLE) == sum(row["cluster"] == name for row in rows)
        assert browser.evaluate("document.querySelector('#audit button.sel').dataset.cluster") == name
    browser.evaluate("document.getElementById('reset').click()")
    assert browser.evaluate(VISIBLE) == len(rows)
    assert browser.console_errors() == []
