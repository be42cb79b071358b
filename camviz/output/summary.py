"""The closing summary of a batch run, counted from its manifest rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from camviz.cam.localization import LOCALIZATION_NAMES as LOCALIZED
from camviz.output.localization_summary import LocalizationSummary, summarize_localization
from camviz.output.manifest import ManifestRow


@dataclass
class Summary:
    """Counts for the closing summary of a run, over every manifest row (resumed ones included)."""

    processed: int = 0
    skipped: int = 0
    resumed: int = 0
    correct: int = 0
    labelled: int = 0
    score_means: dict[str, float] = field(default_factory=dict)
    localization: LocalizationSummary = field(default_factory=LocalizationSummary)  # --masks / --boxes

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
        return lines + self.localization.lines()


def is_correct(true: str, pred: str) -> bool:
    """Whether a prediction names the true class (a multilabel prediction `a+b` names each of its labels)."""
    return true == pred or true in pred.split("+")


def summarize(rows: Iterable[ManifestRow], resumed: int = 0, classes: Sequence[str] | None = None) -> Summary:
    """Count processed, skipped and correct samples from manifest rows; with `classes` (the model's), only
    rows whose true class is one of them count towards the accuracy."""
    rows = list(rows)
    summary = Summary(resumed=resumed)
    scores: dict[str, list[float]] = {}
    for row in rows:
        if row.status != "ok":
            summary.skipped += 1
            continue
        summary.processed += 1
        if row.true and (classes is None or row.true in classes):
            summary.labelled += 1
            summary.correct += is_correct(row.true, row.pred)
        for name, value in row.scores.items():
            if value and name not in LOCALIZED:  # those are summed up per class by `summarize_localization`
                scores.setdefault(name, []).append(float(value))
    summary.score_means = {name: sum(values) / len(values) for name, values in scores.items()}
    summary.localization = summarize_localization(rows)
    return summary
