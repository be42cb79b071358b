"""--resume through the real entry point: a row is kept only if the same image and settings made it."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

from camviz.demo import CHECKPOINT_PATH


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


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
    rows = _rows(out)
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
    row = next(row for row in _rows(out) if row["path"] == "triangle/triangle_001.png")
    assert row["source"].endswith(":1") and row["status"] == "ok"


def test_another_method_or_output_set_is_redone(camviz_main, small_split, tmp_path) -> None:
    out = tmp_path / "out"
    assert _explain(camviz_main, small_split, out).returncode == 0
    result = _explain(camviz_main, small_split, out, "--resume", "--method", "gradcam++")
    assert result.returncode == 0 and "6 earlier rows were made with other settings" in result.stderr
    assert all(row["output"].startswith("gradcam++_") for row in _rows(out))
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
    assert [row["index"] for row in _rows(out)] == ["0", "1", "2", "3"]
