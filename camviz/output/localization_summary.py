"""The localization part of a run's summary: pointing accuracy and mean energy in the object, per class and overall,
counted from the manifest's `pointing_hit` and `energy_in_object` cells (empty cells: no ground truth)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from camviz.output.manifest import ManifestRow


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


def summarize_localization(rows: Iterable[ManifestRow]) -> LocalizationSummary:
    """Pointing accuracy, mean energy and IoU from the rows that have localization cells."""
    summary = LocalizationSummary()
    for row in sorted(rows, key=lambda r: (r.true, r.index)):
        hit = row.scores.get("pointing_hit", "")
        if row.status != "ok" or not hit:
            continue
        values = (hit == "1", float(row.scores.get("energy_in_object") or 0), float(row.scores.get("iou") or 0))
        summary.overall.add(*values)
        summary.per_class.setdefault(row.true or "?", Pointing()).add(*values)
    return summary
