"""The segmentation part of a run's summary: per explained class its rows, the CAM's mean energy inside the predicted
region, and with label maps the class's mean IoU and the CAM's energy inside the true region; the mean IoU over
classes; and the worst rows (lowest IoU) first."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from camviz.output.result import ImageResult

REGION_SCORES = frozenset({"region_pixels", "region_share", "region_energy", "class_iou", "truth_energy"})
WORST_SHOWN = 5


@dataclass(frozen=True, kw_only=True)
class ClassRegions:
    """One explained class's rows and mean scores (NaN: no row has the score)."""

    rows: int
    energy: float  # the CAM's mean energy inside the predicted region
    iou: float  # mean IoU against the label maps
    truth_energy: float  # the CAM's mean energy inside the true region


@dataclass(frozen=True, kw_only=True)
class RegionSummary:
    """Per class means, the mean IoU over classes, and the worst rows."""

    per_class: dict[str, ClassRegions] = field(default_factory=dict)
    worst: tuple[tuple[str, str, float], ...] = ()  # (path, class, IoU), lowest IoU first

    @property
    def mean_iou(self) -> float:
        """The mean over classes of each class's mean IoU (NaN without label maps)."""
        values = [c.iou for c in self.per_class.values() if not math.isnan(c.iou)]
        return sum(values) / len(values) if values else math.nan

    def lines(self) -> list[str]:
        """`class circle: 12 images, energy in region 0.81, IoU 0.93, energy in true region 0.80` per class, then
        the mean IoU and the worst rows."""
        lines = []
        for name, regions in self.per_class.items():
            text = f"class {name}: {regions.rows} images, CAM energy in predicted region {regions.energy:.3f}"
            if not math.isnan(regions.iou):
                text += f", IoU {regions.iou:.3f}, CAM energy in true region {regions.truth_energy:.3f}"
            lines.append(text)
        if not math.isnan(self.mean_iou):
            lines.append(f"mean IoU over classes: {self.mean_iou:.3f}")
            lines += [f"worst: {path} ({name}, IoU {iou:.3f})" for path, name, iou in self.worst]
        return lines


def summarize_regions(results: Iterable[ImageResult]) -> RegionSummary | None:
    """The region summary of a segmentation run's rows; None when no row has region scores (a classifier's run)."""
    rows = [r for r in results if r.ok and "region_energy" in r.scores]
    if not rows:
        return None
    per_class = {}
    for name in dict.fromkeys(r.explained[0] for r in rows):
        mine = [r for r in rows if r.explained[0] == name]
        per_class[name] = ClassRegions(rows=len(mine), energy=_mean(mine, "region_energy"), iou=_mean(mine, "class_iou"),
                                       truth_energy=_mean(mine, "truth_energy"))
    scored = sorted((r for r in rows if "class_iou" in r.scores), key=lambda r: (r.scores["class_iou"], r.index))
    worst = tuple((r.path, r.explained[0], r.scores["class_iou"]) for r in scored[:WORST_SHOWN])
    return RegionSummary(per_class=dict(sorted(per_class.items())), worst=worst)


def _mean(rows: list[ImageResult], name: str) -> float:
    values = [r.scores[name] for r in rows if name in r.scores and not math.isnan(r.scores[name])]
    return sum(values) / len(values) if values else math.nan
