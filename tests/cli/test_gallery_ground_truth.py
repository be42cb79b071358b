"""The gallery of a run with `--masks`, in a real headless Chromium: the pointing stat, the hit/miss filter, the
"run" panel from run.json, and the objects outlined on the figures' overlays."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from camviz.cam.baselines import BASELINE_NAMES
from camviz.cam.localization import LOCALIZATION_NAMES
from camviz.demo import CHECKPOINT_PATH
from camviz.output.figures import OUTLINE_COLOUR
from tests.output.test_gallery import VISIBLE, browser  # noqa: F401 (the fixture)
from tests.support.browser import DevTools
from tests.support.manifest import manifest_rows
from tests.support.shape_masks import write_shapes_with_masks

SCREENSHOT = os.environ.get("CAMVIZ_GALLERY_SCREENSHOT")  # set to a path to save the README picture


@pytest.mark.browser
def test_the_gallery_filters_hits_and_misses_and_shows_the_run(camviz_main, tmp_path: Path,
                                                               browser: DevTools) -> None:  # noqa: F811
    data, masks, _ = write_shapes_with_masks(tmp_path / "gt", per_class=4, seed=31, size=192)
    out = tmp_path / "out"
    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", data, "--masks", masks,
                         "--output-dir", out, "--num-workers", 0)
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(out, (*LOCALIZATION_NAMES, *BASELINE_NAMES))
    hits = sum(row["pointing_hit"] == "1" for row in rows)
    figure = cv2.cvtColor(cv2.imread(str(out / rows[0]["output"])), cv2.COLOR_BGR2RGB)
    third = figure[:, 2 * figure.shape[1] // 3 :]
    assert (third == np.array(OUTLINE_COLOUR)).all(axis=2).sum() > 100, "the object is outlined on the overlay"

    browser.call("Page.navigate", url=(out / "index.html").as_uri())
    browser.wait_event("Page.loadEventFired")
    assert browser.evaluate("document.getElementById('f-hit-box').hidden") is False
    assert f"pointing ({hits}/12)" in browser.evaluate("document.getElementById('stats').textContent")
    for value, expected in (("miss", 12 - hits), ("hit", hits), ("all", 12)):
        browser.evaluate(f"{{ const s = document.getElementById('f-hit'); s.value = '{value}'; "
                         "s.dispatchEvent(new Event('change')); }")
        assert browser.evaluate(VISIBLE) == expected
    assert browser.evaluate("document.querySelectorAll('#grid .gt.hit').length") == hits
    run = browser.evaluate("document.getElementById('run').textContent")
    assert "camviz_shapenet" in run and "settings key" in run and "--masks" in run
    panel = browser.evaluate("document.getElementById('loc').textContent")
    assert panel.startswith("Localization") and "all (12)" in panel and "centre" in panel and "random" in panel
    assert browser.console_errors() == []
    if SCREENSHOT:
        browser.call("Emulation.setDeviceMetricsOverride", width=1366, height=900, deviceScaleFactor=1, mobile=False)
        shot = browser.call("Page.captureScreenshot", format="png")["data"]
        Path(SCREENSHOT).write_bytes(base64.b64decode(shot))
