"""camviz.output.summary: the closing summary counts processed and skipped rows, and accuracy on labelled ones."""

from __future__ import annotations

from camviz.output.result import ImageResult, Status
from camviz.output.summary import summarize


def test_summary_counts_accuracy_on_processed_rows_only() -> None:
    rows = [
        ImageResult(index=0, path="a", true="cat", predicted=("cat",)),
        ImageResult(index=1, path="b", true="cat", predicted=("dog",)),
        ImageResult(index=2, path="c", true="dog", predicted=("dog",)),
        ImageResult(index=3, path="d", true="dog", status=Status.error, note="x"),
    ]
    summary = summarize(rows, resumed=1)
    assert (summary.processed, summary.skipped, summary.correct, summary.labelled) == (3, 1, 2, 3)
    assert summary.accuracy == 2 / 3
    assert any("66.7%" in line for line in summary.lines())


def test_a_result_is_correct_when_its_true_class_is_predicted() -> None:
    """Softmax: the one predicted class, `+` and all; multi-label: any predicted label; unknown truth: neither."""
    assert not ImageResult(index=0, path="p", true="HER2", predicted=("HER2+",)).correct
    assert ImageResult(index=0, path="p", true="HER2+", predicted=("HER2+", "car")).correct
    no_label = ImageResult(index=0, path="p", true="car", confidence=(0.4,))
    assert no_label.mistake and not no_label.correct
    unknown = ImageResult(index=0, path="p", predicted=("car",))
    assert not unknown.correct and not unknown.mistake


def test_score_means_and_localization_count_only_what_results_hold() -> None:
    rows = [ImageResult(index=0, path="a", true="cat", predicted=("cat",),
                        scores={"deletion": 0.25, "pointing_hit": 1.0, "energy_in_object": 0.5, "iou": 0.2}),
            ImageResult(index=1, path="b", true="dog", predicted=("cat",), scores={"deletion": 0.75}),
            ImageResult(index=2, path="c", true="dog", status=Status.error, scores={"deletion": 9.0})]
    summary = summarize(rows, classes=["cat", "dog"])
    assert summary.score_means == {"deletion": 0.5}
    assert (summary.localization.overall.hits, summary.localization.overall.count) == (1, 1)
    assert list(summary.localization.per_class) == ["cat"]
