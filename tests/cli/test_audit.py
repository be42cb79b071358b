"""camviz audit and camviz explain --audit (issue 27), through the real entry point: a model trained with a planted
shortcut gets its shortcut images put in one flagged cluster, and nothing else flagged; a clean model gets no flag;
`camviz audit` on a finished run (fresh, resumed, --only-misclassified) gives what --audit gave; bad input is one
line."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from camviz.cam.baselines import BASELINE_NAMES
from camviz.cam.localization import LOCALIZATION_NAMES
from camviz.demo import CHECKPOINT_PATH, write_image_folder
from camviz.demo.tagged import tag_box
from camviz.output.audit_figure import FLAG_COLOUR
from camviz.output.small_maps import MAPS_NAME, read_run_maps
from tests.support.cli import one_error_line
from tests.support.manifest import manifest_rows

ON_TAG_MARGIN = 8  # pixels around the tag (one cell of the model's 12 x 12 map) where a CAM's peak counts as on it


def _explain(camviz_main, model: Path, data: Path, out: Path, *extra: object):
    result = camviz_main("explain", "--model-path", model, "--data-dir", data, "--output-dir", out,
                         "--num-workers", 0, *extra)
    assert result.returncode == 0, result.stderr
    return result


def _table(out: Path) -> list[dict[str, str]]:
    with (out / "audit.csv").open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _on_tag(out: Path, row: dict[str, str]) -> bool:
    """Whether the image's own full-size CAM (--save-raw) peaks on the tag."""
    cam = np.load(out / Path(row["output"]).with_suffix(".npy"))
    y, x = np.unravel_index(int(np.argmax(cam)), cam.shape)
    x0, y0, x1, y1 = tag_box(cam.shape[1])
    return x0 - ON_TAG_MARGIN <= x < x1 + ON_TAG_MARGIN and y0 - ON_TAG_MARGIN <= y < y1 + ON_TAG_MARGIN


@pytest.fixture(scope="module")
def shortcut_run(camviz_main, shortcut_case, tmp_path_factory):
    """The shortcut model's test split explained with --audit (and --save-raw, to judge each CAM on its own)."""
    model, data, _ = shortcut_case
    out = tmp_path_factory.mktemp("audit") / "out"
    result = _explain(camviz_main, model, data, out, "--audit", "--save-raw")
    return out, result


@pytest.mark.slow
def test_the_planted_shortcut_is_one_flagged_cluster_and_nothing_else_is_flagged(shortcut_run, shortcut_case) -> None:
    out, result = shortcut_run
    rows = manifest_rows(out, extra_fields=("cluster",))
    table = _table(out)
    flagged = [row for row in table if row["flagged"] == "1"]
    assert len(flagged) == 1 and flagged[0]["class"] == "square", table
    assert table[0] == flagged[0], "flagged clusters come first"
    assert flagged[0]["peak_place"] == "top left" and "same place (top left)" in flagged[0]["reason"]
    name = flagged[0]["cluster"]
    squares = [row for row in rows if row["target"] == "square"]
    on_tag = {row["index"] for row in squares if _on_tag(out, row)}
    inside = {row["index"] for row in squares if row["cluster"] == name}
    assert len(on_tag) >= 5, "the model learnt the shortcut"
    precision, recall = len(inside & on_tag) / len(inside), len(inside & on_tag) / len(on_tag)
    assert precision >= 0.8 and recall >= 0.8, (precision, recall, sorted(inside), sorted(on_tag))
    tagged = {row["index"] for row in rows if shortcut_case[2][row["path"]]}
    assert len(inside & tagged) >= 0.8 * len(inside)
    assert {row["cluster"].split("/")[0] for row in rows} == {"circle", "square", "triangle"}
    assert all(row["cluster"].startswith(f"{row['target']}/") for row in rows)
    lines = [line.strip() for line in result.stdout.splitlines()]
    others = len(squares) - len(inside)
    assert (f"{name}: {len(inside)} of {len(squares)} images, maps peak at the same place (top left), unlike the "
            f"class's other {others}") in lines, result.stdout
    assert "1 flagged" in result.stdout
    figure = cv2.imread(str(out / "audit_square.png"))[..., ::-1]
    assert tuple(figure[0, 0]) == FLAG_COLOUR and tuple(figure[-1, 0]) == (255, 255, 255)  # the flagged row first
    assert tuple(cv2.imread(str(out / "audit_circle.png"))[0, 0]) == (255, 255, 255)


@pytest.mark.slow
def test_camviz_audit_on_the_finished_run_gives_the_same_clusters(camviz_main, shortcut_run, tmp_path) -> None:
    out, _ = shortcut_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "audit.csv").unlink()
    result = camviz_main("audit", copy)
    assert result.returncode == 0, result.stderr
    assert _table(copy) == _table(out) and manifest_rows(copy, ("cluster",)) == manifest_rows(out, ("cluster",))
    assert "maps peak at the same place (top left)" in result.stdout
    other = camviz_main("audit", copy, "--clusters", 2, "--seed", 3)
    assert other.returncode == 0, other.stderr
    assert {row["cluster"] for row in _table(copy) if row["cluster"]} == {f"{name}/{n}" for n in (1, 2)
                                                                          for name in ("circle", "square", "triangle")}


@pytest.mark.slow
def test_a_resumed_run_and_a_run_of_mistakes_only_keep_every_map(camviz_main, shortcut_case, shortcut_run,
                                                                  tmp_path) -> None:
    model, data, _ = shortcut_case
    full, _ = shortcut_run
    out = tmp_path / "resumed"
    _explain(camviz_main, model, data, out, "--save-raw", "--classes", "circle,square")
    result = _explain(camviz_main, model, data, out, "--save-raw", "--resume", "--audit")
    assert "processed: 90" in result.stdout and "already done before --resume: 60" in result.stdout
    assert _table(out) == _table(full)
    audited = camviz_main("audit", out)
    assert audited.returncode == 0 and _table(out) == _table(full)
    _explain(camviz_main, model, data, out, "--save-raw", "--resume")  # no --audit: the earlier one is gone
    assert not list(out.glob("audit*")) and manifest_rows(out)  # and no cluster column

    mistakes = tmp_path / "mistakes"
    _explain(camviz_main, model, data, mistakes, "--only-misclassified", "--audit")
    rows = manifest_rows(mistakes, ("cluster",))
    assert sorted(read_run_maps(mistakes) or {}) == [int(row["index"]) for row in rows]
    assert [row["cluster"] for row in rows] == [row["cluster"] for row in manifest_rows(full, ("cluster",))]


@pytest.mark.slow
def test_a_clean_model_gets_no_flag(camviz_main, tmp_path) -> None:
    data = tmp_path / "data"
    write_image_folder(data, per_class=30, seed=2025)
    result = _explain(camviz_main, CHECKPOINT_PATH, data, tmp_path / "out", "--audit")
    table = _table(tmp_path / "out")
    assert table and not [row for row in table if row["flagged"] == "1"], table
    assert "0 flagged" in result.stdout


def test_bad_input_is_one_line(camviz_main, small_split, circle_image, tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    one_error_line(camviz_main("audit", empty), 1, "is not a camviz output folder")
    one_error_line(camviz_main("audit", tmp_path / "missing"), 1, "is not a camviz output folder")
    single = tmp_path / "single"
    assert camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--image-path", circle_image,
                       "--output-dir", single).returncode == 0
    one_error_line(camviz_main("audit", single), 1, "single-image run")
    batch = tmp_path / "batch"
    _explain(camviz_main, CHECKPOINT_PATH, small_split, batch)
    assert camviz_main("audit", batch).returncode == 0  # 2 images a class: each reported too few to cluster
    assert [row["reason"] for row in _table(batch)] == ["too few images to cluster (at least 8)"] * 3
    (batch / MAPS_NAME).unlink()
    one_error_line(camviz_main("audit", batch), 1, "no small maps", "older camviz", "--resume")
    one_error_line(camviz_main("audit", batch, "--clusters", 0), 2, "--clusters")
    one_error_line(camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--image-path", circle_image, "--audit"),
                   2, "--audit needs --data-dir")


@pytest.mark.slow
def test_with_boxes_each_cluster_reports_its_energy_in_the_objects(camviz_main, shortcut_case, tmp_path) -> None:
    from camviz.demo.tagged import DEMO_TAGGING, write_tagged_folder

    model, _, _ = shortcut_case
    data, boxes, out = tmp_path / "data", tmp_path / "boxes.csv", tmp_path / "out"
    write_tagged_folder(data, per_class=30, seed=778, tagging=DEMO_TAGGING, boxes_path=boxes)
    _explain(camviz_main, model, data, out, "--boxes", boxes, "--audit")
    rows = manifest_rows(out, (*LOCALIZATION_NAMES, *BASELINE_NAMES, "cluster"))
    with_box = len(boxes.read_text().splitlines()) - 1  # the tag-only images have no box
    assert with_box < 90 and sum(bool(row["energy_in_object"]) for row in rows) == with_box
    for cluster in _table(out):
        energies = [float(row["energy_in_object"]) for row in rows
                    if row["cluster"] == cluster["cluster"] and row["energy_in_object"]]
        assert float(cluster["energy_in_object"]) == pytest.approx(np.mean(energies), abs=1e-4)
    flagged = [row for row in _table(out) if row["flagged"] == "1"]
    assert len(flagged) == 1 and flagged[0]["class"] == "square"
    others = [float(row["energy_in_object"]) for row in _table(out) if row["class"] == "square" and row["flagged"] == "0"]
    assert float(flagged[0]["energy_in_object"]) < min(others), "the tag cluster's maps lie less on the squares"
