"""camviz.output.faithfulness_summary: the baselines beside the CAM in the summary, a verdict in words for each
baseline the CAM does not beat, and run.json's `faithfulness` data."""

from __future__ import annotations

import json

from camviz.cam.faithfulness_baselines import FaithfulnessReport
from camviz.output.faithfulness_summary import faithfulness_lines, faithfulness_record

REPORT = FaithfulnessReport(
    seconds_per_image={"deletion_auc": 0.25, "road_combined": 1.5}, baseline_images=20,
    cam_means={"deletion_auc": 0.31, "insertion_auc": 0.70},
    baseline_means={"centre": {"deletion_auc": 0.29, "insertion_auc": 0.60},
                    "random": {"deletion_auc": 0.40, "insertion_auc": 0.50}})


def test_the_summary_says_which_baseline_the_cam_does_not_beat() -> None:
    lines = faithfulness_lines(REPORT)
    assert lines[0].startswith("faithfulness baselines on 20 images")
    assert "  deletion_auc: CAM 0.3100, centre 0.2900, random 0.4000 (lower is better)" in lines
    verdicts = [line for line in lines if "no better than" in line]
    assert verdicts == ["  deletion_auc 0.3100: no better than the centre baseline, 0.2900"]


def test_no_baselines_no_lines() -> None:
    assert faithfulness_lines(None) == [] and faithfulness_lines(FaithfulnessReport()) == []


def test_the_record_is_json_with_stable_keys() -> None:
    record = json.loads(json.dumps(faithfulness_record(REPORT)))
    assert record["seconds_per_image"] == {"deletion_auc": 0.25, "road_combined": 1.5}
    assert record["baseline_means"]["random"]["insertion_auc"] == 0.5 and record["baseline_images"] == 20
    assert record["cam_beats_baseline"] == {"centre": {"deletion_auc": False, "insertion_auc": True},
                                            "random": {"deletion_auc": True, "insertion_auc": True}}
