"""The localization part of a run's summary: pointing accuracy and mean energy in the object, per class and overall,
counted from the results' `pointing_hit`, `energy_in_object` and `iou` scores (none: no ground truth), beside the
same scores of the centre and random maps (`camviz.cam.baselines`) on the same images, and in words where the CAM
does not beat one of them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from camviz.cam.baselines import BASELINES, SIGNIFICANCE, paired_p
from camviz.output.result import ImageResult

BASELINE_LABELS = {"center": "centre", "random": "random"}  # how the text names them


@dataclass
class Pointing:
    """Hits, images with ground truth, and summed energy and IoU, for one class or all of them."""

    hits: int = 0
    count: int = 0
    energy: float = 0.0
    iou: float = 0.0
    images: list[tuple[bool, float, float]] = field(default_factory=list)  # each image's (hit, energy, iou), in order

    def add(self, hit: bool, energy: float, iou: float) -> None:
        """Count one image with ground truth."""
        self.hits += hit
        self.count += 1
        self.energy += energy
        self.iou += iou
        self.images.append((hit, energy, iou))

    @property
    def means(self) -> tuple[float, float, float]:
        """Pointing accuracy, mean energy in the object, mean IoU (0 without images)."""
        count = self.count or 1
        return self.accuracy, self.energy / count, self.iou / count

    @property
    def accuracy(self) -> float:
        """The share of hits (the pointing game's accuracy)."""
        return self.hits / self.count if self.count else 0.0

    def text(self) -> str:
        """`pointing 91.7% (11/12), mean energy in object 0.612, mean IoU 0.401`."""
        return (f"pointing {self.accuracy:.1%} ({self.hits}/{self.count}), mean energy in object "
                f"{self.energy / self.count:.3f}, mean IoU {self.iou / self.count:.3f}")


MEASURES = ("pointing", "mean energy in object", "mean IoU")


@dataclass
class Compared:
    """The CAM's scores and each baseline's on the same images (those whose row has the baselines' scores)."""

    cam: Pointing = field(default_factory=Pointing)
    baselines: dict[str, Pointing] = field(default_factory=lambda: {name: Pointing() for name in BASELINES})

    def add(self, scores: Mapping[str, float]) -> None:
        """Count one image: the CAM's scores and each baseline's, from its result's scores."""
        self.cam.add(*_values(scores))
        for name, pointing in self.baselines.items():
            pointing.add(*_values(scores, f"{name}_"))

    def not_beaten(self) -> list[tuple[str, int, float]]:
        """(baseline, measure index, p) where the CAM is not better by a one-sided paired test (`paired_p` at
        `SIGNIFICANCE`)."""
        found = []
        for name, base in self.baselines.items():
            for k in range(3):
                p = paired_p([image[k] for image in self.cam.images], [image[k] for image in base.images], hits=k == 0)
                if not p < SIGNIFICANCE:
                    found.append((name, k, p))
        return found

    def baseline_text(self) -> str:
        """`centre map: pointing 41.7%, energy 0.210, IoU 0.050; random map: ...`."""
        return "; ".join(f"{BASELINE_LABELS[name]} map: pointing {base.accuracy:.1%}, energy {base.means[1]:.3f}, "
                         f"IoU {base.means[2]:.3f}" for name, base in self.baselines.items())

    def verdict_text(self) -> str:
        """Where the CAM is no better than a baseline, in words; else that it beats both."""
        missed = self.not_beaten()
        if not missed:
            return "the CAM beats both baselines on pointing, energy and IoU (one-sided paired tests, p < 0.05)"
        return "; ".join(self._missed_text(name, k, p) for name, k, p in missed)

    def _missed_text(self, name: str, measure: int, p: float) -> str:
        """`pointing 71.0%: no better than the centre baseline, 70.0%`, or, ahead but within chance, `not clearly
        better than ... (one-sided paired test p = 0.13)`."""
        own, base = self.cam.means[measure], self.baselines[name].means[measure]
        words = "no better than" if own <= base else "not clearly better than"
        chance = "" if own <= base else f" (one-sided paired test p = {p:.2f}, {self.cam.count} images)"
        return (f"{MEASURES[measure]} {_shown(own, measure)}: {words} the {BASELINE_LABELS[name]} baseline, "
                f"{_shown(base, measure)}{chance}")


def _values(scores: Mapping[str, float], prefix: str = "") -> tuple[bool, float, float]:
    return (scores[f"{prefix}pointing_hit"] == 1, scores.get(f"{prefix}energy_in_object", 0.0),
            scores.get(f"{prefix}iou", 0.0))


def _shown(value: float, measure: int) -> str:
    return f"{value:.1%}" if measure == 0 else f"{value:.3f}"


@dataclass
class LocalizationSummary:
    """Pointing over all images with ground truth and per true class (the folder's; `?` when unknown), and the
    baselines on the same images."""

    overall: Pointing = field(default_factory=Pointing)
    per_class: dict[str, Pointing] = field(default_factory=dict)
    compared: Compared = field(default_factory=Compared)  # no images: the run has no baselines' scores
    compared_per_class: dict[str, Compared] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Summary lines: overall first, the baselines and the verdict in words, then one per class."""
        if not self.overall.count:
            return []
        lines = [f"localization ({self.overall.count} images with ground truth): {self.overall.text()}"]
        if self.compared.cam.count:
            lines += [f"  baselines on the same {self.compared.cam.count} images: {self.compared.baseline_text()}",
                      f"  {self.compared.verdict_text()}"]
        for name, pointing in self.per_class.items():
            compared = self.compared_per_class.get(name)
            extra = (f"; baselines: {compared.baseline_text()}; {compared.verdict_text()}"
                     if compared is not None and compared.cam.count else "")
            lines.append(f"  {name}: {pointing.text()}{extra}")
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
        if f"{BASELINES[0]}_pointing_hit" in scores:  # rows written before the baselines existed have none
            summary.compared.add(scores)
            summary.compared_per_class.setdefault(result.true or "?", Compared()).add(scores)
    return summary


def localization_panel(summary: LocalizationSummary) -> list[list[str]] | None:
    """The gallery's localization panel (label, text rows): the CAM beside each baseline, overall then per class,
    and the verdict in words; None without baselines' scores."""
    if not summary.compared.cam.count:
        return None
    groups = [(f"all ({summary.compared.cam.count})", summary.compared),
              *((f"{name} ({compared.cam.count})", compared) for name, compared in summary.compared_per_class.items())]
    rows = []
    for label, compared in groups:
        maps = [("CAM", compared.cam), *((f"{BASELINE_LABELS[n]}", p) for n, p in compared.baselines.items())]
        rows.append([label, " \u00b7 ".join(f"{name} {pointing.accuracy:.1%} / {pointing.means[1]:.3f} / "
                                             f"{pointing.means[2]:.3f}" for name, pointing in maps)])
        rows.append(["", compared.verdict_text()])
    return rows
