"""The closing summary of a batch run, counted from its results."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from camviz.cam.baselines import BASELINE_NAMES
from camviz.cam.faithfulness_baselines import FaithfulnessReport
from camviz.cam.localization import LOCALIZATION_NAMES
from camviz.output.detection_summary import DETECTION_SCORES, DetectionSummary, summarize_detections
from camviz.output.faithfulness_summary import faithfulness_lines
from camviz.output.localization_summary import LocalizationSummary, summarize_localization
from camviz.output.region_summary import REGION_SCORES, RegionSummary, summarize_regions
from camviz.output.result import ImageResult

LOCALIZED = frozenset((*LOCALIZATION_NAMES, *BASELINE_NAMES))  # summed up per class by `summarize_localization`
PER_CLASS = LOCALIZED | REGION_SCORES | DETECTION_SCORES  # summed up per class, not into `score_means`


@dataclass(kw_only=True)
class Summary:
    """Counts for the closing summary of a run, over every result (resumed ones included)."""

    processed: int = 0
    skipped: int = 0
    resumed: int = 0
    correct: int = 0
    labelled: int = 0
    score_means: dict[str, float] = field(default_factory=dict)
    localization: LocalizationSummary = field(default_factory=LocalizationSummary)  # --masks / --boxes
    faithfulness: FaithfulnessReport | None = None  # --metrics: time per metric, baselines (this run's images)
    regions: RegionSummary | None = None  # a segmentation model's: per class energy in region and IoU
    detections: DetectionSummary | None = None  # a detector's: per label detections, energy in box, matched share

    @property
    def accuracy(self) -> float | None:
        """Accuracy over processed samples whose true class is known, or None if there are none."""
        return self.correct / self.labelled if self.labelled else None

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        lines = [f"processed: {self.processed}", f"skipped (errors): {self.skipped}"]
        if self.resumed:
            lines.append(f"of which already done before --resume: {self.resumed}")
        if self.accuracy is not None:
            lines.append(f"accuracy on processed samples: {self.accuracy:.1%} ({self.correct}/{self.labelled})")
        lines += [f"mean {name}: {value:.4f}" for name, value in self.score_means.items()]
        regions = self.regions.lines() if self.regions is not None else []
        regions += self.detections.lines() if self.detections is not None else []
        return lines + faithfulness_lines(self.faithfulness) + self.localization.lines() + regions


def summarize(results: Iterable[ImageResult], resumed: int = 0, classes: Sequence[str] | None = None) -> Summary:
    """Count processed, skipped and correct samples (images: a segmentation model's rows are one per class); with
    `classes` (the model's), only results whose true class is one of them count towards the accuracy (multi-label:
    correct when the true class is among the predicted)."""
    results = list(results)
    summary = Summary(resumed=resumed)
    scores: dict[str, list[float]] = {}
    failed = {result.index for result in results if not result.ok}
    summary.skipped = len(failed)
    summary.processed = len({result.index for result in results} - failed)
    for result in results:
        if not result.ok:
            continue
        if result.true and (classes is None or result.true in classes) and "detection" not in result.scores:
            summary.labelled += 1
            summary.correct += result.correct
        for name, value in result.scores.items():
            if name not in PER_CLASS:  # summed up per class by `summarize_localization` and `summarize_regions`
                scores.setdefault(name, []).append(value)
    summary.score_means = {name: sum(values) / len(values) for name, values in scores.items()}
    summary.localization = summarize_localization(results)
    summary.regions = summarize_regions(results)
    summary.detections = summarize_detections(results)
    return summary
