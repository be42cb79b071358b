"""camviz.output.trust: the trust table's stable keys from a summary, written and read back as numbers, absent
(not zero) without ground truth, and two tables side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from camviz.output.result import ImageResult
from camviz.output.summary import summarize
from camviz.output.trust import TRUST_NAME, read_trust, side_by_side, trust_rows, write_trust


def _row(index: int, true: str, hit: float, energy: float, *, centre: float = 0.0) -> ImageResult:
    scores = {"pointing_hit": hit, "energy_in_object": energy, "iou": energy / 2, "deletion_auc": 0.25,
              "center_pointing_hit": centre, "center_energy_in_object": 0.1, "center_iou": 0.05,
              "random_pointing_hit": 0.0, "random_energy_in_object": 0.05, "random_iou": 0.02}
    return ImageResult(index=index, path=f"{index}.png", true=true, predicted=(true,), scores=scores)


def test_the_keys_hold_accuracy_faithfulness_localization_and_baselines(tmp_path: Path) -> None:
    rows = trust_rows(summarize([_row(i, "cat" if i < 10 else "dog", 1.0, 0.5 + i / 100) for i in range(20)]))
    assert list(rows)[:4] == ["images", "skipped", "accuracy", "faithfulness.deletion_auc"]
    assert rows["images"] == 20 and rows["accuracy"] == 1.0 and rows["faithfulness.deletion_auc"] == 0.25
    assert rows["localization.pointing"] == 1.0 and rows["localization.center.pointing"] == 0.0
    assert rows["localization.beats.center.pointing"] == 1.0 and rows["localization.beats.random.energy"] == 1.0
    assert rows["class.dog.localization.energy"] == pytest.approx(0.645)
    assert rows["class.cat.localization.center.pointing"] == 0.0
    path = write_trust(tmp_path, rows)
    assert path.name == TRUST_NAME and path.read_text().splitlines()[:2] == ["key,value", "images,20"]
    assert read_trust(tmp_path) == pytest.approx(rows, abs=1e-6)


def test_no_ground_truth_no_localization_keys_and_a_centred_cam_does_not_beat_the_centre() -> None:
    plain = trust_rows(summarize([ImageResult(index=0, path="a.png", true="cat", predicted=("dog",))]))
    assert plain == {"images": 1, "skipped": 0, "accuracy": 0.0}
    centred = trust_rows(summarize([_row(i, "cat", 1.0, 0.5, centre=1.0) for i in range(20)]))
    assert centred["localization.beats.center.pointing"] == 0.0 and centred["localization.beats.center.energy"] == 1.0


def test_a_folder_without_a_trust_table_reads_as_none(tmp_path: Path) -> None:
    assert read_trust(tmp_path) is None
    (tmp_path / TRUST_NAME).write_text("path,pred\na,b\n")
    assert read_trust(tmp_path) is None


def test_side_by_side_aligns_keys_and_the_change() -> None:
    lines = side_by_side(("a", "b"), ({"images": 10, "localization.pointing": 0.5},
                                      {"images": 10, "accuracy": 0.75, "localization.pointing": 0.625}))
    assert lines[0].split() == ["key", "a", "b", "second", "-", "first"]
    assert lines[1].split() == ["images", "10", "10", "0"]
    assert lines[2].split() == ["localization.pointing", "0.500000", "0.625000", "0.125000"]
    assert lines[3].split() == ["accuracy", "-", "0.750000", "-"]  # only the second run has it
