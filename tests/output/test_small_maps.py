"""camviz.output.small_maps: every map kept at 32 x 32 bytes beside the manifest, appended as images are done (a cut
tail is dropped), rewritten sorted, merged over ranks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from camviz.output.small_maps import (
    GRID,
    MAPS_NAME,
    SmallMapWriter,
    maps_name,
    merge_rank_maps,
    read_run_maps,
    read_small_maps,
    small_map,
)


def _cam(seed: int, shape: tuple[int, ...] = (96, 96)) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


def test_a_small_map_is_the_area_average_in_bytes() -> None:
    cam = _cam(0)
    small = small_map(cam)
    expected = cv2.resize(cam, (GRID, GRID), interpolation=cv2.INTER_AREA)
    assert small.shape == (1, GRID, GRID) and small.dtype == np.uint8
    assert np.abs(small[0] / 255.0 - expected).max() <= 0.5 / 255 + 1e-6
    assert small_map(np.stack([cam, 1 - cam])).shape == (2, GRID, GRID)  # multi-label: a map per explained label


def test_maps_are_on_disk_as_they_arrive_and_sorted_once_closed(tmp_path: Path) -> None:
    path = tmp_path / MAPS_NAME
    writer = SmallMapWriter(path, kept={7: small_map(_cam(7))})
    writer.add(3, _cam(3))
    writer.add(5, np.stack([_cam(5), _cam(6)]))
    assert sorted(read_small_maps(path) or {}) == [3, 5, 7]  # before close
    writer.add(3, _cam(33))  # the same image again: the later map wins
    size_before = path.stat().st_size
    writer.close()
    maps = read_small_maps(path)
    assert maps is not None and sorted(maps) == [3, 5, 7] and maps[5].shape == (2, GRID, GRID)
    assert np.array_equal(maps[3], small_map(_cam(33)))
    assert path.stat().st_size < size_before  # one record an image
    assert path.stat().st_size == 16 + 3 * 6 + 4 * GRID * GRID  # bytes: header, records, 1 KiB a map


def test_a_cut_tail_is_dropped_and_other_files_are_no_maps(tmp_path: Path) -> None:
    path = tmp_path / MAPS_NAME
    writer = SmallMapWriter(path)
    writer.add(1, _cam(1))
    writer.add(2, _cam(2))
    writer.close()
    path.write_bytes(path.read_bytes()[:-100])  # killed mid-record
    assert sorted(read_small_maps(path) or {}) == [1]
    (tmp_path / "other.bin").write_bytes(b"not maps at all")
    assert read_small_maps(tmp_path / "other.bin") is None and read_small_maps(tmp_path / "none.bin") is None
    assert read_run_maps(tmp_path / "empty") is None


def test_rank_files_merge_into_one(tmp_path: Path) -> None:
    for rank, indices in enumerate(((0, 2), (1, 3))):
        writer = SmallMapWriter(tmp_path / maps_name(rank, 2))
        for index in indices:
            writer.add(index, _cam(index))
        writer.close()
    assert sorted(read_run_maps(tmp_path) or {}) == [0, 1, 2, 3]  # what a resumed run reads before the merge
    merge_rank_maps(tmp_path, 2, indices=[0, 1, 2])
    assert sorted(p.name for p in tmp_path.iterdir()) == [MAPS_NAME]
    assert sorted(read_small_maps(tmp_path / MAPS_NAME) or {}) == [0, 1, 2]
