"""The detection part of a run's summary: per detected label its detections, the CAM's mean energy inside the box,
and with `--boxes` the share matched to a true box; the misses per true label."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from camviz.output.result import ImageResult

NOTHING_DETECTED = "no detection scored at least --score-threshold"  # the note of a detector's image without rows
DETECTION_SCORES = frozenset({"detection", "box_x0", "box_y0", "box_x1", "box_y1", "box_energy", "matched",
                              "true_iou"})


@dataclass(frozen=True, kw_only=True)
class LabelDetections:
    """One label's detections, the CAM's mean energy inside their boxes, the share matched (NaN: no --boxes) and
    the true boxes of the label no detection matched."""

    detections: int
    energy: float
    matched: float
    missed: int = 0


@dataclass(frozen=True, kw_only=True)
class DetectionSummary:
    """Per label counts and means, and the images without any detection."""

    per_label: dict[str, LabelDetections] = field(default_factory=dict)
    empty_images: int = 0

    @property
    def matched(self) -> float:
        """The share of all detections matched to a true box (NaN without --boxes)."""
        scored = [(c.matched, c.detections) for c in self.per_label.values() if not math.isnan(c.matched)]
        total = sum(count for _, count in scored)
        return sum(share * count for share, count in scored) / total if total else math.nan

    @property
    def energy(self) -> float:
        """The CAM's mean energy inside the box over all detections."""
        counted = [(c.energy, c.detections) for c in self.per_label.values() if c.detections]
        total = sum(count for _, count in counted)
        return sum(value * count for value, count in counted) / total if total else math.nan

    def lines(self) -> list[str]:
        """`label circle: 12 detections, CAM energy in box 0.81, matched 92%, missed 1` per label, then the totals."""
        lines = []
        for name, found in self.per_label.items():
            text = f"label {name}: {found.detections} detections"
            if found.detections:
                text += f", CAM energy in box {found.energy:.3f}"
            if not math.isnan(found.matched):
                text += f", matched {found.matched:.1%}"
            if found.missed:
                text += f", missed {found.missed}"
            lines.append(text)
        if not math.isnan(self.energy):
            lines.append(f"CAM energy in box over all detections: {self.energy:.3f}")
        if not math.isnan(self.matched):
            lines.append(f"detections matched to a true box: {self.matched:.1%}")
        if self.empty_images:
            lines.append(f"images without a detection: {self.empty_images}")
        return lines


def summarize_detections(results: Iterable[ImageResult]) -> DetectionSummary | None:
    """The detection summary of a detector run's rows; None when no row is a detector's."""
    results = [r for r in results if r.ok]
    rows = [r for r in results if "detection" in r.scores]
    empty = len({r.index for r in results if r.note == NOTHING_DETECTED})
    if not rows and not empty:
        return None
    detected = [r for r in rows if r.explained]
    names = dict.fromkeys([*(r.explained[0] for r in detected), *(r.true for r in rows if not r.explained)])
    per_label = {}
    for name in names:
        mine = [r for r in detected if r.explained[0] == name]
        missed = sum(1 for r in rows if not r.explained and r.true == name)
        per_label[name] = LabelDetections(detections=len(mine), energy=_mean(mine, "box_energy"),
                                          matched=_mean(mine, "matched"), missed=missed)
    return DetectionSummary(per_label=dict(sorted(per_label.items())), empty_images=empty)


def _mean(rows: list[ImageResult], name: str) -> float:
    values = [r.scores[name] for r in rows if name in r.scores and not math.isnan(r.scores[name])]
    return sum(values) / len(values) if values else math.nan
