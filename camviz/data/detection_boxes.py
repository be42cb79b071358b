"""A detector's ground truth, `--boxes FILE`: CSV rows `path,x_min,y_min,x_max,y_max,label` (an optional header line),
`path` relative to the data dir, the box in the decoded image's pixels (as `camviz.data.ground_truth`'s boxes), and
`label` one of the model's class names. Several rows per image: all its objects."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from camviz.data.ground_truth import Box, GroundTruth, _box_row
from camviz.errors import UsageError

HEADER = ["path", "x_min", "y_min", "x_max", "y_max", "label"]


@dataclass(frozen=True, kw_only=True)
class TrueBox:
    """One true object: its box (x0, y0, x1, y1, in the decoded image's pixels) and its class index."""

    box: Box
    label: int


def read_labelled_boxes(path: Path, class_names: Sequence[str]) -> dict[str, list[TrueBox]]:
    """`--boxes` rows by image path; a malformed row, or a label that is not one of `class_names`, is a one-line
    error naming its line."""
    if not path.is_file():
        raise UsageError(f"--boxes {path} does not exist or is not a file")
    index = {name: i for i, name in enumerate(class_names)}
    boxes: dict[str, list[TrueBox]] = {}
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as file:
        for line, row in enumerate(csv.reader(file), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if line == 1 and [c.strip().lower() for c in row] == HEADER:
                continue
            if len(row) != len(HEADER):
                raise UsageError(f"--boxes {path} line {line}: a detector's boxes are {','.join(HEADER)} rows "
                                 f"(got {len(row)} fields)")
            image, box = _box_row(row[:5], path, line)
            label = row[5].strip()
            if label not in index:
                raise UsageError(f"--boxes {path} line {line}: unknown label {label!r}; the model's classes are "
                                 f"{', '.join(class_names)}")
            boxes.setdefault(image, []).append(TrueBox(box=box, label=index[label]))
    return boxes


def stamped_truth(boxes: dict[str, list[TrueBox]]) -> GroundTruth:
    """The boxes as `GroundTruth` (their coordinates), for the checks and `--resume` stamps every run shares."""
    return GroundTruth(boxes={image: [t.box for t in truths] for image, truths in boxes.items()})
