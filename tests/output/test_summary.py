"""camviz.output.summary: the closing summary counts processed and skipped rows, and accuracy on labelled ones."""

from __future__ import annotations

from camviz.output.manifest import ManifestRow
from camviz.output.summary import is_correct, predicted_labels, summarize


def test_summary_counts_accuracy_on_processed_rows_only() -> None:
    rows = [
        ManifestRow(0, "a", "cat", "cat"), ManifestRow(1, "b", "cat", "dog"),
        ManifestRow(2, "c", "dog", "dog"), ManifestRow(3, "d", "dog", status="error", error="x"),
    ]
    summary = summarize(rows, resumed=1)
    assert (summary.processed, summary.skipped, summary.correct, summary.labelled) == (3, 1, 2, 3)
    assert summary.accuracy == 2 / 3
    assert any("66.7%" in line for line in summary.lines())


def test_multilabel_predictions_split_only_between_known_labels() -> None:
    labels = ["HER2", "HER2+", "car"]
    assert predicted_labels("HER2+", labels) == ["HER2+"]
    assert predicted_labels("HER2+car", labels) == ["HER2", "car"]
    assert predicted_labels("HER2++car", labels) == ["HER2+", "car"]
    assert predicted_labels("", labels) == []
    assert not is_correct("HER2", "HER2+")  # softmax: the whole name is one class
    assert not is_correct("HER2", "HER2+", labels) and is_correct("HER2+", "HER2++car", labels)
