"""camviz.output.prediction: each output kind's prediction by name, its probabilities, and the titles' text."""

from __future__ import annotations

import numpy as np

from camviz.discovery.output_kind import OutputKind
from camviz.output.prediction import prediction, titles

NAMES = ["cat", "dog", "HER2+"]


def test_softmax_and_binary_name_one_class() -> None:
    probabilities = np.array([0.2, 0.7, 0.1], np.float32)
    softmax = prediction(OutputKind("softmax"), probabilities, NAMES)
    assert (softmax.predicted, softmax.explained, softmax.shown) == (("dog",), ("dog",), "dog (70.0%)")
    assert softmax.confidence == (float(np.float32(0.7)),)
    asked = prediction(OutputKind("softmax"), probabilities, NAMES, target_category=2)
    assert (asked.predicted, asked.explained) == (("dog",), ("HER2+",))
    binary = prediction(OutputKind("binary"), np.array([0.4, 0.6]), ["not_cat", "cat"])
    assert (binary.predicted, binary.confidence, binary.shown) == (("cat",), (0.6,), "cat (60.0%)")


def test_multilabel_names_every_label_over_the_threshold_or_none() -> None:
    kind = OutputKind("multilabel", 0.5)
    several = prediction(kind, np.array([0.6, 0.2, 0.9]), NAMES)
    assert several.predicted == several.explained == ("HER2+", "cat")
    assert (several.confidence, several.shown) == ((0.9, 0.6), "HER2+ 90.0% + cat 60.0%")
    none = prediction(kind, np.array([0.1, 0.4, 0.3]), NAMES)
    assert (none.predicted, none.confidence, none.explained) == ((), (0.4,), ("dog",))
    assert none.shown == "no label (top dog 40.0% < 0.5)"


def test_titles_name_the_subject_each_explained_class_and_the_prediction() -> None:
    several = prediction(OutputKind("multilabel", 0.5), np.array([0.6, 0.2, 0.9]), NAMES)
    assert titles("gradcam", "true: cat", several) == [
        ("Input | true: cat", "gradcam heatmap | explained: HER2+", "Overlay | pred: HER2+ 90.0% + cat 60.0%"),
        ("Input | true: cat", "gradcam heatmap | explained: cat", "Overlay | pred: HER2+ 90.0% + cat 60.0%"),
    ]
