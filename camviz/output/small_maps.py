"""`cam_maps.bin`: a small copy of every map of a batch run, beside the manifest, so the audit needs no CAM again.

Each explained image's CAM (multi-label: one per explained label, in the manifest's `target` order) is kept at
`GRID` x `GRID` cells (area-averaged), quantised to one byte per cell (the CAMs are in [0, 1]): 1 KiB per map. The
file is a 16-byte header (`MAGIC`, the grid's height and width) and then one record per image: its index (uint32),
its map count (uint16) and the maps (uint8). Records are appended as images are done (a killed run keeps them; a
record cut short is dropped when read) and the file is rewritten sorted by index, one record per index, at the end.
Under torchrun each rank writes `cam_maps.rank{r}.bin`, merged by rank 0 as the manifests are.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

import cv2
import numpy as np

from camviz.errors import writing
from camviz.output.files import write_atomic

MAPS_NAME = "cam_maps.bin"
GRID = 32  # cells a side
MAGIC = b"camvizmaps\x00\x01"  # name and format version (12 bytes), then the grid's height and width (uint16 each)
_RECORD = struct.Struct("<IH")  # index, number of maps


def maps_name(rank: int, world_size: int) -> str:
    """`cam_maps.bin`, or `cam_maps.rank{r}.bin` for one rank of a torchrun job (merged by rank 0)."""
    return MAPS_NAME if world_size == 1 else f"cam_maps.rank{rank}.bin"


def small_map(cam: np.ndarray) -> np.ndarray:
    """A [H, W] map in [0, 1] (or [K, H, W]) as uint8 [K, GRID, GRID]: area-averaged, then scaled to 0..255."""
    cams = np.asarray(cam, np.float32).reshape(-1, *np.shape(cam)[-2:])
    if not len(cams):  # a segmentation model's image with nothing but background: no map
        return np.zeros((0, GRID, GRID), np.uint8)
    small = [cv2.resize(one, (GRID, GRID), interpolation=cv2.INTER_AREA) for one in cams]
    return np.rint(np.clip(np.stack(small), 0.0, 1.0) * 255).astype(np.uint8)


def _header() -> bytes:
    return MAGIC + struct.pack("<HH", GRID, GRID)


def _records(maps: Mapping[int, np.ndarray]) -> bytes:
    return b"".join(_record(index, maps[index]) for index in sorted(maps))


def _record(index: int, maps: np.ndarray) -> bytes:
    return _RECORD.pack(index, len(maps)) + np.ascontiguousarray(maps, np.uint8).tobytes()


class SmallMapWriter:
    """Appends each image's small maps as soon as it is done; `close` rewrites the file sorted, one record an image.

    `kept`: the maps of rows an earlier run finished (`--resume`), written first.
    """

    def __init__(self, path: Path, kept: Mapping[int, np.ndarray] | None = None) -> None:
        self.path = path
        self.maps = dict(kept or {})
        self._lock = threading.Lock()
        write_atomic(path, _header() + _records(self.maps))
        with writing(path):
            self._file = path.open("ab")

    def add(self, index: int, cam: np.ndarray) -> None:
        """Keep one image's CAM (or CAMs) as its small maps, on disk at once."""
        small = small_map(cam)
        with self._lock, writing(self.path):
            self.maps[index] = small
            self._file.write(_record(index, small))
            self._file.flush()

    def close(self) -> None:
        """Replace the appended file by the sorted one."""
        if not self._file.closed:
            with writing(self.path):
                self._file.close()
            write_atomic(self.path, _header() + _records(self.maps))


def read_small_maps(path: Path) -> dict[int, np.ndarray] | None:
    """Index -> uint8 [K, GRID, GRID] maps of a maps file (a later record of an index wins; a cut tail is dropped);
    None when there is no such file or it is not one."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        return None
    height, width = struct.unpack_from("<HH", data, len(MAGIC))
    cells, at, maps = height * width, len(MAGIC) + 4, {}
    while at + _RECORD.size <= len(data):
        index, count = _RECORD.unpack_from(data, at)
        end = at + _RECORD.size + count * cells
        if end > len(data):
            break  # cut short by a killed run
        maps[index] = np.frombuffer(data, np.uint8, count * cells, at + _RECORD.size).reshape(count, height, width)
        at = end
    return maps


def read_run_maps(output_dir: Path) -> dict[int, np.ndarray] | None:
    """Every maps file of a run folder (merged and per-rank) together; None when there is none."""
    found = [read_small_maps(path) for path in sorted(Path(output_dir).glob("cam_maps*.bin"))]
    parts = [part for part in found if part is not None]
    if not parts:
        return None
    return {index: maps for part in parts for index, maps in part.items()}


def merge_rank_maps(output_dir: Path, world_size: int, indices: Iterable[int] | None = None) -> None:
    """Merge every rank's maps file into `cam_maps.bin` (only `indices`, when given) and remove the per-rank files."""
    paths = [output_dir / maps_name(rank, world_size) for rank in range(world_size)]
    maps: dict[int, np.ndarray] = {}
    for path in paths:
        maps.update(read_small_maps(path) or {})
    if indices is not None:
        wanted = set(indices)
        maps = {index: value for index, value in maps.items() if index in wanted}
    write_atomic(output_dir / MAPS_NAME, _header() + _records(maps))
    for path in paths:
        path.unlink(missing_ok=True)
