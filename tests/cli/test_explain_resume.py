"""camviz.run.resume: `--resume` through the real entry point keeps a row only if the same image and settings made
it, and finishes a run that was killed outright."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from camviz.cam.baselines import BASELINE_NAMES
from camviz.cam.localization import LOCALIZATION_NAMES
from camviz.demo import CHECKPOINT_PATH, write_image_folder
from tests.support.manifest import manifest_rows
from tests.support.processes import start_run
from tests.support.shape_masks import write_shapes_with_masks

GROUND_TRUTH = (*LOCALIZATION_NAMES, *BASELINE_NAMES)  # the manifest's columns with --masks / --boxes


def _explain(camviz_main, data: Path, out: Path, *extra: object):
    return camviz_main("explain", "--model-path", CHECKPOINT_PATH, "--data-dir", data, "--output-dir", out,
                       "--num-workers", 0, *extra)


def _mtimes(out: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in out.glob("gradcam*_*.png")}


def test_an_added_or_changed_image_is_redone_and_said_once(camviz_main, small_split, tmp_path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    shutil.copytree(small_split, data)
    assert _explain(camviz_main, data, out).returncode == 0
    before = _mtimes(out)
    shutil.copy(data / "square" / "square_000.png", data / "circle" / "circle_0005.png")  # sorts as index 1
    result = _explain(camviz_main, data, out, "--resume")
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(out)
    paths = [row["path"] for row in rows]
    expected = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.png"))
    assert sorted(paths) == expected and len(set(paths)) == len(paths), "every image once, the new one too"
    assert [row["path"] for row in rows if row["index"] == "1"] == ["circle/circle_0005.png"]
    notes = [line for line in result.stderr.splitlines() if "data dir changed" in line]
    assert len(notes) == 1 and "5 earlier rows" in notes[0], result.stderr  # indices 1..5 shifted
    first = "gradcam_0000_true_circle_pred_circle.png"
    assert _mtimes(out)[first] == before[first], "a row that still matches is kept, its figure untouched"

    before = _mtimes(out)
    os.utime(data / "triangle" / "triangle_001.png", ns=(1, 1))  # same path, modified file
    result = _explain(camviz_main, data, out, "--resume")
    assert "1 earlier rows no longer match" in result.stderr
    changed = [name for name, mtime in _mtimes(out).items() if before.get(name) != mtime]
    assert len(changed) == 1 and changed[0].startswith("gradcam_0006_"), changed
    row = next(row for row in manifest_rows(out) if row["path"] == "triangle/triangle_001.png")
    assert row["source"].endswith(":1") and row["status"] == "ok"


def test_a_fixed_or_added_mask_redoes_that_images_row_only(camviz_main, tmp_path) -> None:
    """An annotator fixes one mask and adds a missing one: `--resume` redoes those two rows (their columns as a fresh
    run gives them), keeps the other four untouched, and says why once."""
    root = tmp_path / "gt"
    data, masks, _ = write_shapes_with_masks(root, per_class=2, seed=41)
    missing = masks / "square" / "square_001.png"
    full = missing.read_bytes()
    missing.unlink()
    out = tmp_path / "out"
    assert _explain(camviz_main, data, out, "--masks", masks).returncode == 0
    before, old_rows = _mtimes(out), {row["path"]: row for row in manifest_rows(out, GROUND_TRUTH)}
    assert old_rows["square/square_001.png"]["pointing_hit"] == ""

    fixed = masks / "circle" / "circle_000.png"
    corner = np.zeros((96, 96), np.uint8)
    corner[:12, :12] = 255  # the object redrawn elsewhere
    Image.fromarray(corner).save(fixed)
    missing.write_bytes(full)
    result = _explain(camviz_main, data, out, "--masks", masks, "--resume")
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "--resume" in line]
    assert len(said) == 1 and "ground truth (--masks / --boxes) of 2 images changed" in said[0], result.stderr
    assert "of which already done before --resume: 4" in result.stdout
    redone = {name for name, mtime in _mtimes(out).items() if before.get(name) != mtime}
    assert redone == {"gradcam_0000_true_circle_pred_circle.png", "gradcam_0003_true_square_pred_square.png"}, redone

    fresh = tmp_path / "fresh"
    assert _explain(camviz_main, data, fresh, "--masks", masks).returncode == 0
    columns = [*LOCALIZATION_NAMES, "path", "pred", "confidence"]
    resumed_rows = manifest_rows(out, GROUND_TRUTH)
    assert [[row[c] for c in columns] for row in resumed_rows] == \
        [[row[c] for c in columns] for row in manifest_rows(fresh, GROUND_TRUTH)]
    assert resumed_rows[3]["pointing_hit"] != "" and resumed_rows[0]["energy_in_object"] != \
        old_rows["circle/circle_000.png"]["energy_in_object"]


def test_another_method_or_output_set_is_redone(camviz_main, small_split, tmp_path) -> None:
    out = tmp_path / "out"
    assert _explain(camviz_main, small_split, out).returncode == 0
    result = _explain(camviz_main, small_split, out, "--resume", "--method", "gradcam++")
    assert result.returncode == 0 and "6 earlier rows were made with other settings" in result.stderr
    assert all(row["output"].startswith("gradcam++_") for row in manifest_rows(out))
    assert len(list(out.glob("gradcam++_*.png"))) == 6
    result = _explain(camviz_main, small_split, out, "--resume", "--method", "gradcam++", "--save-raw")
    assert result.returncode == 0 and len(list(out.glob("gradcam++_*.npy"))) == 6
    before = _mtimes(out)
    result = _explain(camviz_main, small_split, out, "--resume", "--method", "gradcam++", "--save-raw")
    assert "redone" not in result.stderr and _mtimes(out) == before, "the same settings keep every row"


def test_a_manifest_cut_inside_a_character_still_resumes(camviz_main, small_split, tmp_path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    shutil.copytree(small_split / "circle", data / "猫")
    shutil.copytree(small_split / "square", data / "狗")
    assert _explain(camviz_main, data, out).returncode == 0
    raw = (out / "manifest.csv").read_bytes()
    cut = raw.rindex("猫".encode()) + 1  # inside the last row's three-byte character (狗 sorts first)
    (out / "manifest.csv").write_bytes(raw[:cut])
    result = _explain(camviz_main, data, out, "--resume")
    assert result.returncode == 0, result.stderr
    assert "of which already done before --resume: 3" in result.stdout
    assert [row["index"] for row in manifest_rows(out)] == ["0", "1", "2", "3"]


def test_resume_in_another_format_redoes_the_figures(camviz_main, trained_checkpoint, shapes_split,
                                                    tmp_path: Path) -> None:
    data_dir, _ = shapes_split
    out = tmp_path / "out"
    common = ("explain", "--model-path", trained_checkpoint, "--data-dir", data_dir, "--output-dir", out,
              "--num-samples", "4", "--cpu")
    assert camviz_main(*common).returncode == 0
    resumed = camviz_main(*common, "--resume", "--figure-format", "jpg")
    assert resumed.returncode == 0, resumed.stderr
    assert "already done before --resume" not in resumed.stdout
    assert [Path(row["output"]).suffix for row in manifest_rows(out)] == [".jpg"] * 4
    assert all((out / row["output"]).is_file() for row in manifest_rows(out))


@pytest.mark.process
def test_killed_run_leaves_complete_figures_and_resume_finishes(camviz_main, trained_checkpoint, tmp_path) -> None:
    """SIGKILL, which no process can catch, in the middle of a real run; `--resume` then finishes it."""
    data, out = tmp_path / "data", tmp_path / "out"
    write_image_folder(data, per_class=20, seed=11)
    args = ["explain", "--model-path", str(trained_checkpoint), "--data-dir", str(data), "--output-dir", str(out),
            "--batch-size", "1", "--num-workers", "0", "--save-raw"]
    process = start_run(args, out, figures=5, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    process.send_signal(signal.SIGKILL)
    process.wait()
    on_disk = {p.name: p.stat().st_mtime_ns for p in out.glob("gradcam_*.png")}
    assert 5 <= len(on_disk) < 60
    # a figure counts as finished once its row is written
    recorded = {row["output"] for row in manifest_rows(out) if row.get("status") == "ok"}
    before = {name: mtime for name, mtime in on_disk.items() if name in recorded}
    assert len(before) >= 4
    for name in on_disk:
        with Image.open(out / name) as image:
            image.load()  # raises if the file were cut short
    assert not [p for p in out.iterdir() if p.suffix == ".png" and not p.name.startswith("gradcam_")]

    result = camviz_main(*args, "--resume")
    assert result.returncode == 0, result.stderr
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("gradcam_*.png")}
    assert len(after) == 60 and len(list(out.glob("gradcam_*.npy"))) == 60
    assert all(after[name] == mtime for name, mtime in before.items()), "finished figures were rewritten"
    assert not list(out.glob(".*.part")), "leftover temporary files are cleaned up"
    assert [int(row["index"]) for row in manifest_rows(out)] == list(range(60))


@pytest.mark.parametrize("overwritten", ["model.safetensors", "config.json"])
def test_a_folder_checkpoint_overwritten_in_place_redoes_every_row(camviz_main, small_split, tmp_path,
                                                                    overwritten: str) -> None:
    """A timm hub folder whose weights (or config) a training loop rewrites each epoch: the folder's own entry
    keeps its mtime, the rows must still be redone."""
    from timm.models._hub import save_for_hf

    from tests.support.checkpoints import tiny_timm

    folder, out = tmp_path / "hub", tmp_path / "out"
    save_for_hf(tiny_timm("test_resnet", num_classes=3), folder,
                model_config={"label_names": ["circle", "square", "triangle"]}, safe_serialization=True)
    folder_stamp = folder.stat().st_mtime_ns
    explain = ("explain", "--model-path", folder, "--data-dir", small_split, "--output-dir", out, "--num-workers", 0)
    assert camviz_main(*explain).returncode == 0
    before = {row["path"]: (row["pred"], row["confidence"]) for row in manifest_rows(out)}

    epoch2 = tmp_path / "epoch2"
    torch.manual_seed(1)
    save_for_hf(timm.create_model("test_resnet", num_classes=3).eval(), epoch2,
                model_config={"label_names": ["circle", "square", "triangle"], "epoch": 2}, safe_serialization=True)
    (folder / overwritten).write_bytes((epoch2 / overwritten).read_bytes())  # in place: the folder entry stays
    os.utime(folder, ns=(folder_stamp, folder_stamp))
    result = camviz_main(*explain, "--resume")
    assert result.returncode == 0 and "6 earlier rows were made with other settings" in result.stderr, result.stderr
    after = {row["path"]: (row["pred"], row["confidence"]) for row in manifest_rows(out)}
    if overwritten == "model.safetensors":
        assert after != before, "the new weights' predictions replace the old rows"
