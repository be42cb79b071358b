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


def is_correct(true: str, pred: str, labels: Sequence[str] | None = None) -> bool:
    """Whether a prediction names the true class. `labels`: a multi-label model's labels, whose `pred` joins
    every predicted label with `+` (empty: no label passed the threshold); else `pred` is one class name, `+` and all."""
    return true == pred if labels is None else true in predicted_labels(pred, labels)


def predicted_labels(pred: str, labels: Sequence[str]) -> list[str]:
    """The labels a multi-label `pred` (`car+person`) names, split only at a `+` between two known labels, so
    that a label holding `+` (`HER2+`) stays whole; an unknown spelling splits at every `+`."""
    known = set(labels)

    def split(text: str) -> list[str] | None:
        if text in known:
            return [text]
        for at, char in enumerate(text):
            if char == "+" and text[:at] in known and (rest := split(text[at + 1:])) is not None:
                return [text[:at], *rest]
        return None

    return [] if not pred else split(pred) or pred.split("+")


def summarize(rows: Iterable[ManifestRow], resumed: int = 0, classes: Sequence[str] | None = None, *,
              multilabel: bool = False) -> Summary:
    """Count processed, skipped and correct samples from manifest rows; with `classes` (the model's), only
    rows whose true class is one of them count towards the accuracy. `multilabel`: a row is correct when its
    true class is among the predicted labels (see `is_correct`)."""
    rows = list(rows)
    summary = Summary(resumed=resumed)
    scores: dict[str, list[float]] = {}
    labels = list(classes or ()) if multilabel else None
    for row in rows:
        if row.status != "ok":
            summary.skipped += 1
            continue
        summary.processed += 1
        if row.true and (classes is None or row.true in classes):
            summary.labelled += 1
            summary.correct += is_correct(row.true, row.pred, labels)
        for name, value in row.scores.items():
            if value and name not in LOCALIZED:  # those are summed up per class by `summarize_localization`
                scores.setdefault(name, []).append(float(value))
    summary.score_means = {name: sum(values) / len(values) for name, values in scores.items()}
    summary.localization = summarize_localization(rows)
    return summary
