"""`camviz explain --masks / --boxes` end to end: the trained shapes classifier points at the shapes (pointing
accuracy >= 0.9 on their exact masks, measured at the images' own 192 px), the same architecture with every weight
freshly initialised scores near chance, and bad ground truth gets one line (or one warning) and the right exit."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import timm
import torch
from PIL import Image
from scipy.ndimage import distance_transform_edt

from camviz.cam.baselines import BASELINE_NAMES
from camviz.cam.localization import LOCALIZATION_NAMES, POINTING_TOLERANCE
from camviz.demo import CHECKPOINT_PATH
from tests.support.checkpoints import save_demo_checkpoint
from tests.support.cli import one_error_line
from tests.support.manifest import manifest_rows
from tests.support.shape_masks import write_shapes_with_masks

GROUND_TRUTH = (*LOCALIZATION_NAMES, *BASELINE_NAMES)  # the manifest's columns with --masks / --boxes


@pytest.fixture(scope="module")
def shapes_192(tmp_path_factory) -> tuple[Path, Path, dict]:
    """12 fresh 192 px shapes per class (the model resizes them to its 96 px), their exact masks and boxes."""
    return write_shapes_with_masks(tmp_path_factory.mktemp("gt"), per_class=12, seed=777, size=192)


def _boxes_csv(path: Path, boxes: dict, extra: list[list[object]] = ()) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["path", "x_min", "y_min", "x_max", "y_max"])
        writer.writerows([[name, *box] for name, box in boxes.items()])
        writer.writerows(extra)
    return path


def _pointing(rows: list[dict]) -> float:
    return float(np.mean([row["pointing_hit"] == "1" for row in rows]))


def _chance(masks: Path) -> float:
    """The pointing accuracy of a uniformly random point: the share of each image within the tolerance of its object."""
    return float(np.mean([(distance_transform_edt(np.asarray(Image.open(path)) == 0) < POINTING_TOLERANCE).mean()
                          for path in sorted(masks.rglob("*.png"))]))


def test_a_trained_model_points_at_the_object_and_a_randomised_one_near_chance(camviz_main, shapes_192,
                                                                               tmp_path) -> None:
    data, masks, _ = shapes_192
    trained = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", data, "--masks", masks,
                          "--output-dir", tmp_path / "trained", "--num-workers", 0)
    assert trained.returncode == 0, trained.stderr
    rows = manifest_rows(tmp_path / "trained", GROUND_TRUTH)
    assert len(rows) == 36 and _pointing(rows) >= 0.9
    assert all(0.0 <= float(row["energy_in_object"]) <= 1.0 and 0.0 <= float(row["iou"]) <= 1.0 for row in rows)
    assert f"localization (36 images with ground truth): pointing {_pointing(rows):.1%}" in trained.stdout
    centre = np.mean([row["center_pointing_hit"] == "1" for row in rows])
    energy = np.mean([float(row["energy_in_object"]) for row in rows])
    assert _pointing(rows) > centre and energy > np.mean([float(row["random_energy_in_object"]) for row in rows])
    assert f"baselines on the same 36 images: centre map: pointing {centre:.1%}" in trained.stdout
    assert "the CAM beats both baselines on pointing, energy and IoU" in trained.stdout  # on every measure
    for name in ("circle", "square", "triangle"):
        hits = sum(row["pointing_hit"] == "1" for row in rows if row["true"] == name)
        assert f"  {name}: pointing {hits / 12:.1%} ({hits}/12)" in trained.stdout

    torch.manual_seed(0)  # every weight as a freshly built model of this architecture has it
    fresh = timm.create_model("camviz_shapenet", num_classes=3)
    save_demo_checkpoint(tmp_path / "random.pth", state_dict=fresh.state_dict())
    randomised = camviz_main("explain", "--model-path", tmp_path / "random.pth", "--data-dir", data, "--masks", masks,
                             "--output-dir", tmp_path / "random", "--num-workers", 0)
    assert randomised.returncode == 0, randomised.stderr
    accuracy, chance = _pointing(manifest_rows(tmp_path / "random", GROUND_TRUTH)), _chance(masks)
    assert abs(accuracy - chance) < 0.2 and accuracy < 0.6, (accuracy, chance)


def test_boxes_give_the_same_columns_with_several_rows_per_image_and_empty_cells_without(camviz_main, shapes_192,
                                                                                         tmp_path) -> None:
    data, _, boxes = shapes_192
    listed = dict(sorted(boxes.items())[:30])  # six images have no box
    first = next(iter(listed))
    csv_path = _boxes_csv(tmp_path / "boxes.csv", listed, [[first, 0, 0, 4, 4]])  # a second object in the first
    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", data, "--boxes", csv_path,
                         "--output-dir", tmp_path / "out", "--num-workers", 0)
    assert result.returncode == 0, result.stderr
    assert "ground truth for 30 of 36 selected images" in result.stderr
    rows = manifest_rows(tmp_path / "out", GROUND_TRUTH)
    for row in rows:
        cells = [row[name] for name in LOCALIZATION_NAMES]
        assert all(cells) if row["path"] in listed else cells == ["", "", ""], row
    assert _pointing([row for row in rows if row["path"] in listed]) >= 0.9
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert '"hit":null' in page and '"hit":true' in page and 'id="f-hit"' in page


def test_ground_truth_matching_no_image_is_one_line_saying_how_many_matched(camviz_main, small_split,
                                                                             tmp_path) -> None:
    masks = tmp_path / "masks"
    (masks / "circle").mkdir(parents=True)
    Image.new("L", (96, 96)).save(masks / "circle" / "no_such_image.png")
    out = tmp_path / "out"
    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", small_split, "--masks", masks,
                         "--output-dir", out)
    one_error_line(result, 2, "matches 0 of the 6 selected images")
    assert not (out / "manifest.csv").exists()
    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--image-path", small_split / "circle" /
                         "circle_000.png", "--masks", masks, "--output-dir", out)
    one_error_line(result, 2, "need --data-dir")


@pytest.mark.parametrize(("row", "words"), [
    (["circle/circle_000.png", "1", "2", "3"], ["line 3", "got 4 fields"]),
    (["circle/circle_000.png", "1", "two", "3", "4"], ["line 3", "with numbers"]),
    (["circle/circle_000.png", "9", "2", "3", "4"], ["line 3", "x_min < x_max"]),
])
def test_a_malformed_boxes_row_names_its_line(camviz_main, small_split, tmp_path, row, words) -> None:
    csv_path = tmp_path / "boxes.csv"
    csv_path.write_text("path,x_min,y_min,x_max,y_max\ncircle/circle_001.png,1,1,20,20\n" + ",".join(row) + "\n")
    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", small_split, "--boxes", csv_path,
                         "--output-dir", tmp_path / "out")
    one_error_line(result, 2, str(csv_path), *words)


def test_masks_of_another_size_are_resized_and_boxes_outside_clipped_each_said_once(camviz_main, small_split,
                                                                                   tmp_path) -> None:
    data, masks = tmp_path / "data", tmp_path / "masks"
    shutil.copytree(small_split, data)
    for image in sorted(data.rglob("*.png"))[:4]:  # half-size masks, in another format: the left half of the image
        target = (masks / image.relative_to(data)).with_suffix(".bmp")
        target.parent.mkdir(parents=True, exist_ok=True)
        half = np.zeros((48, 48), np.uint8)
        half[:, :24] = 7
        Image.fromarray(half).save(target)
    csv_path = tmp_path / "boxes.csv"
    csv_path.write_text("triangle/triangle_000.png,-10,-10,30,30\ntriangle/triangle_001.png,80,80,200,200\n")
    out = tmp_path / "out"
    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", data, "--masks", masks,
                         "--boxes", csv_path, "--output-dir", out, "--num-workers", 0, "--save-raw")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert sum("is 48x48, its image 96x96" in line and "resized" in line for line in warnings) == 1, warnings
    assert sum("clipped" in line for line in warnings) == 1, warnings
    rows = manifest_rows(out, GROUND_TRUTH)
    assert all(row["pointing_hit"] in ("0", "1") for row in rows)
    first = rows[0]  # its object is the left half: the energy is the CAM's mass there
    cam = np.load(out / first["output"].replace(".png", ".npy"))
    assert float(first["energy_in_object"]) == pytest.approx(cam[:, :48].sum() / cam.sum(), abs=1e-4)
    assert json.loads((out / "run.json").read_text())["status"] == "exit 0"


def test_masks_saved_by_matplotlib_score_as_the_same_masks_saved_grey(camviz_main, tmp_path) -> None:
    """`plt.imsave(path, mask, cmap="gray")` writes RGBA with an opaque alpha: the object is the white pixels, not
    every pixel (which scored energy 1.000 and a hit for every image); an object filling its image is said, unscored."""
    data, grey, _ = write_shapes_with_masks(tmp_path / "gt", per_class=2, seed=31)
    rgba = tmp_path / "rgba"
    for path in sorted(grey.rglob("*.png")):
        target = rgba / path.relative_to(grey)
        target.parent.mkdir(parents=True, exist_ok=True)
        plt.imsave(target, np.asarray(Image.open(path)) > 0, cmap="gray")
    columns = {}
    for name, masks in (("grey", grey), ("rgba", rgba)):
        result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", data, "--masks", masks,
                             "--output-dir", tmp_path / name, "--num-workers", 0)
        assert result.returncode == 0, result.stderr
        columns[name] = [[row[column] for column in LOCALIZATION_NAMES] for row in manifest_rows(tmp_path / name, GROUND_TRUTH)]
    assert columns["rgba"] == columns["grey"] and len(columns["rgba"]) == 6
    assert any(float(energy) < 0.9 for _, energy, _ in columns["rgba"]), columns["rgba"]

    whole = sorted(rgba.rglob("*.png"))[:2]  # two objects filling their image: said once, cells left empty
    for path in whole:
        Image.new("RGBA", Image.open(path).size, (255, 255, 255, 255)).save(path)
    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", data, "--masks", rgba,
                         "--output-dir", tmp_path / "whole", "--num-workers", 0)
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "covers the whole image" in line]
    assert len(said) == 1 and "circle/" in said[0], result.stderr
    rows = manifest_rows(tmp_path / "whole", GROUND_TRUTH)
    assert [row["pointing_hit"] for row in rows[:2]] == ["", ""] and all(row["pointing_hit"] for row in rows[2:])
    assert any("covers the whole image" in note for note in json.loads((tmp_path / "whole" / "run.json").read_text())["notes"])


def test_masks_carrying_their_photos_exif_orientation_score_as_upright_masks(camviz_main, tmp_path) -> None:
    """Photos stored on their side with an EXIF orientation tag (as cameras save them), and masks that carry the same
    tag: the masks are turned as the photos are, so they score as masks drawn on the upright photos do."""
    upright, upright_masks, _ = write_shapes_with_masks(tmp_path / "gt", per_class=2, seed=32)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    data, tagged = tmp_path / "data", tmp_path / "tagged"
    for source, target in [(path, data / path.relative_to(upright)) for path in upright.rglob("*.png")] + \
            [(path, tagged / path.relative_to(upright_masks)) for path in upright_masks.rglob("*.png")]:
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.rot90(np.asarray(Image.open(source)))).save(target, exif=exif)  # stored turned back
    columns = []
    for masks in (upright_masks, tagged):
        out = tmp_path / masks.name
        result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", data, "--masks", masks,
                             "--output-dir", out, "--num-workers", 0)
        assert result.returncode == 0 and "resized" not in result.stderr, result.stderr
        columns.append([[row[name] for name in LOCALIZATION_NAMES] for row in manifest_rows(out, GROUND_TRUTH)])
    assert columns[1] == columns[0] and len(columns[0]) == 6
    assert _pointing(manifest_rows(tmp_path / "tagged", GROUND_TRUTH)) >= 5 / 6


@pytest.mark.process
def test_the_installed_script_scores_localization_with_masks_and_boxes(camviz, shapes_192, tmp_path) -> None:
    data, masks, boxes = shapes_192
    out = tmp_path / "out"
    result = camviz("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", data, "--masks", masks,
                    "--boxes", _boxes_csv(tmp_path / "boxes.csv", boxes), "--output-dir", out, "--num-samples", 9,
                    "--num-workers", 1, "--metrics")
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(out, ("road_combined", "cam_confidence_change", "deletion_auc", "insertion_auc",
                               *GROUND_TRUTH))
    assert len(rows) == 9 and all(row["pointing_hit"] in ("0", "1") and row["deletion_auc"] for row in rows)
    assert "localization (9 images with ground truth)" in result.stdout and "mean insertion_auc" in result.stdout
    record = json.loads((out / "run.json").read_text())
    assert "--masks" in record["command"] and record["counts"]["processed"] == 9


def _centred_shapes(root: Path, per_class: int = 4, size: int = 96) -> tuple[Path, Path]:
    """Shapes that all sit at the image centre (on the demo's noisy backgrounds), and their exact masks."""
    from PIL import ImageDraw

    from camviz.demo.shapes import CLASS_NAMES
    from camviz.demo.shapes import _background as background

    rng = np.random.default_rng(11)
    for label, name in enumerate(CLASS_NAMES):
        for index in range(per_class):
            image, mask = background(rng, size), Image.new("L", (size, size), 0)
            half = int(rng.integers(12, 17))
            c = size // 2
            shape = [(c - half, c - half), (c + half, c + half)]
            for canvas, fill in ((ImageDraw.Draw(image), tuple(int(v) for v in rng.integers(0, 256, 3))),
                                 (ImageDraw.Draw(mask), 255)):
                if label == 0:
                    canvas.ellipse(shape, fill=fill)
                elif label == 1:
                    canvas.rectangle(shape, fill=fill)
                else:
                    canvas.polygon([(c, c - half), (c + half, c + half), (c - half, c + half)], fill=fill)
            for folder, picture in (("data", image), ("masks", mask)):
                (root / folder / name).mkdir(parents=True, exist_ok=True)
                picture.save(root / folder / name / f"{name}_{index}.png")
    return root / "data", root / "masks"


def test_objects_all_at_the_centre_make_the_cam_no_better_than_the_centre_map(camviz_main, tmp_path) -> None:
    data, masks = _centred_shapes(tmp_path)
    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", data, "--masks", masks,
                         "--output-dir", tmp_path / "out", "--num-workers", 0)
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(tmp_path / "out", GROUND_TRUTH)
    assert all(row["center_pointing_hit"] == "1" for row in rows)  # the centre map always hits
    cam = _pointing(rows)
    assert f"pointing {cam:.1%}: no better than the centre baseline, 100.0%" in result.stdout
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "no better than the centre baseline" in page and "Localization" in page


def test_a_run_without_ground_truth_has_no_baselines(camviz_main, small_split, tmp_path) -> None:
    result = camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", small_split,
                         "--output-dir", tmp_path, "--num-workers", 0)
    assert result.returncode == 0, result.stderr
    assert "baseline" not in result.stdout and "center_" not in (tmp_path / "manifest.csv").read_text()
    assert '"localization":null' in (tmp_path / "index.html").read_text(encoding="utf-8")
