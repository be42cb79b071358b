"""The localization part of a run's summary: pointing accuracy and mean energy in the object, per class and overall,
counted from the results' `pointing_hit`, `energy_in_object` and `iou` scores (none: no ground truth)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from camviz.output.result import ImageResult


@dataclass
class Pointing:
    """Hits, images with ground truth, and summed energy and IoU, for one class or all of them."""

    hits: int = 0
    count: int = 0
    energy: float = 0.0
    iou: float = 0.0

    def add(self, hit: bool, energy: float, iou: float) -> None:
        """Count one image with ground truth."""
        self.hits += hit
        self.count += 1
        self.energy += energy
        self.iou += iou

    @property
    def accuracy(self) -> float:
        """The share of hits (the pointing game's accuracy)."""
        return self.hits / self.count if self.count else 0.0

    def text(self) -> str:
        """`pointing 91.7% (11/12), mean energy in object 0.612, mean IoU 0.401`."""
        return (f"pointing {self.accuracy:.1%} ({self.hits}/{self.count}), mean energy in object "
                f"{self.energy / self.count:.3f}, mean IoU {self.iou / self.count:.3f}")


@dataclass
class LocalizationSummary:
    """Pointing over all images with ground truth and per true class (the folder's; `?` when unknown)."""

    overall: Pointing = field(default_factory=Pointing)
    per_class: dict[str, Pointing] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Summary lines: overall first, then one per class."""
        if not self.overall.count:
            return []
        lines = [f"localization ({self.overall.count} images with ground truth): {self.overall.text()}"]
        lines += [f"  {name}: {pointing.text()}" for name, pointing in self.per_class.items()]
        return lines


def summarize_localization(results: Iterable[ImageResult]) -> LocalizationSummary:
    """Pointing accuracy, mean energy and IoU from the results that have localization scores."""
    summary = LocalizationSummary()
    for result in sorted(results, key=lambda r: (r.true, r.index)):
        scores = result.scores
        if not result.ok or "pointing_hit" not in scores:
            continue
        values = (scores["pointing_hit"] == 1, scores.get("energy_in_object", 0.0), scores.get("iou", 0.0))
        summary.overall.add(*values)
        summary.per_class.setdefault(result.true or "?", Pointing()).add(*values)
    return summary
