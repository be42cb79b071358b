"""camviz.run.resume: an earlier row is kept only if its index, path and source (settings key and image stamp)
match this run's and its files are on disk; other rows are counted as changed data or changed settings.
(`--resume` through real runs: tests/cli/test_explain_resume.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from camviz.data.ground_truth import GroundTruth, read_ground_truth
from camviz.data.listing import list_image_folder
from camviz.output.manifest import ManifestWriter
from camviz.output.result import ImageResult
from camviz.output.small_maps import MAPS_NAME, SmallMapWriter
from camviz.run.resume import file_stamp, model_stamps, resumable_rows, sources
from tests.support.images import write_png

BOXES = "a/2.png,1,1,5,5\nb/4.png,2,2,9,9\n"


def _earlier_run(data: Path, out: Path, key: str, ground_truth: GroundTruth | None = None) -> list:
    """A finished earlier run over `data`: a figure, a small map and a row per image, with `key` as its settings
    key."""
    samples = list_image_folder(data).samples
    writer = ManifestWriter(out / "manifest.csv", sources=sources(samples, key, ground_truth))
    maps = SmallMapWriter(out / MAPS_NAME)
    for sample in samples:
        figure = f"gradcam_{sample.index:04d}.png"
        (out / figure).write_bytes(b"png")
        maps.add(sample.index, np.full((8, 8), sample.index / 10, np.float32))
        writer.add(ImageResult(index=sample.index, path=sample.relative_path, true=sample.true_class or "",
                               predicted=("a",), output=figure))
    writer.close()
    maps.close()
    return samples


def test_rows_are_kept_only_when_image_settings_and_files_still_hold(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    for name in ("a/1.png", "a/2.png", "b/3.png", "b/4.png"):
        write_png(data / name)
    out.mkdir()
    samples = _earlier_run(data, out, "key1")
    check = resumable_rows(out, samples, sources(samples, "key1"), save_raw=False)
    assert [row.index for row in check.results] == [0, 1, 2, 3] and check.notes() == []

    stat = (data / "a" / "2.png").stat()
    os.utime(data / "a" / "2.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the image was modified
    (out / "gradcam_0002.png").unlink()  # a figure is gone
    check = resumable_rows(out, samples, sources(samples, "key1"), save_raw=False)
    assert [row.index for row in check.results] == [0, 3] and (check.data_changed, check.settings_changed) == (1, 0)
    assert len(check.notes()) == 1 and "1 earlier rows no longer match their image" in check.notes()[0]

    check = resumable_rows(out, samples, sources(samples, "key2"), save_raw=False)  # other settings
    assert check.results == [] and (check.data_changed, check.settings_changed) == (1, 2)
    assert resumable_rows(out, samples, sources(samples, "key1"), save_raw=True).results == []  # no raw CAMs on disk


def test_a_row_without_its_small_map_is_redone_and_kept_rows_keep_theirs(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    for name in ("a/1.png", "a/2.png", "b/3.png"):
        write_png(data / name)
    out.mkdir()
    samples = _earlier_run(data, out, "key1")
    maps = SmallMapWriter(out / MAPS_NAME, kept={0: np.zeros((1, 32, 32), np.uint8)})  # an older camviz kept fewer
    maps.add(2, np.full((8, 8), 1.0, np.float32))
    maps.close()
    check = resumable_rows(out, samples, sources(samples, "key1"), save_raw=False)
    assert [row.index for row in check.results] == [0, 2] and check.maps_missing == 1
    assert sorted(check.maps) == [0, 2] and check.maps[2].max() == 255
    assert check.notes() == ["--resume: 1 earlier rows have no small map in cam_maps.bin (made by an older camviz, "
                             "or cut short) and are redone, so that the audit sees every image"]
    (out / MAPS_NAME).unlink()
    assert resumable_rows(out, samples, sources(samples, "key1"), save_raw=False).maps_missing == 3


def test_a_row_is_redone_when_its_own_mask_or_boxes_change_and_only_then(tmp_path: Path) -> None:
    data, masks, out, boxes = tmp_path / "data", tmp_path / "masks", tmp_path / "out", tmp_path / "boxes.csv"
    for name in ("a/1.png", "a/2.png", "b/3.png", "b/4.png", "b/5.png"):
        write_png(data / name)
    for name in ("a/1.png", "a/2.png", "b/3.png"):  # b/4 has a box only, b/5 nothing
        write_png(masks / name, colour=(255, 255, 255))
    boxes.write_text(BOXES)
    out.mkdir()
    samples = _earlier_run(data, out, "key1", read_ground_truth(masks, boxes))
    check = resumable_rows(out, samples, sources(samples, "key1", read_ground_truth(masks, boxes)), save_raw=False)
    assert len(check.results) == 5 and check.notes() == []

    write_png(masks / "a" / "1.png", colour=(255, 255, 255), size=(20, 8))  # an annotator fixes a mask...
    write_png(masks / "b" / "5.bmp")  # ...adds one where there was none...
    boxes.write_text(BOXES.replace("b/4.png,2,2,9,9", "b/4.png,2,2,9,10"))  # ...and moves a box
    stat = (masks / "b" / "3.png").stat()  # and a mask file saved again in place counts as changed too
    os.utime(masks / "b" / "3.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    now = read_ground_truth(masks, boxes)
    check = resumable_rows(out, samples, sources(samples, "key1", now), save_raw=False)
    assert [row.path for row in check.results] == ["a/2.png"]
    assert (check.data_changed, check.settings_changed, check.truth_changed) == (0, 0, 4)
    assert check.notes() == ["--resume: the ground truth (--masks / --boxes) of 4 images changed since the earlier "
                             "run (a mask or box fixed, added or removed): their rows are redone"]
    assert sources(samples, "key1")[0].truth == "" and sources(samples, "key1", now)[4].truth  # b/5 now has one


def test_a_model_is_stamped_by_every_file_it_is_read_from(trained_checkpoint: Path, tmp_path: Path) -> None:
    assert model_stamps(trained_checkpoint) == [f"{trained_checkpoint.name}:{file_stamp(trained_checkpoint)}"]
    size, mtime = file_stamp(trained_checkpoint).split(":")
    assert int(size) == trained_checkpoint.stat().st_size and int(mtime) == trained_checkpoint.stat().st_mtime_ns
    assert file_stamp(tmp_path / "missing") == ""
