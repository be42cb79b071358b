"""One image's prediction by name, and as figure titles show it (the output kind decides, by class index)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from camviz.discovery.output_kind import OutputKind
from camviz.output.figures import Titles


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """The predicted classes, their probabilities and the explained classes, by name, and the prediction as text."""

    predicted: tuple[str, ...]  # one class; multilabel: each label at or above the threshold (maybe none)
    confidence: tuple[float, ...]  # each predicted class's probability; no label: the most probable label's
    explained: tuple[str, ...]  # the class of each CAM (multilabel: one per CAM)
    shown: str  # as figure titles show it: `cat (93.1%)`, `car 91.2% + person 73.0%`


def prediction(kind: OutputKind, probabilities: np.ndarray, class_names: Sequence[str],
               target_category: int | None = None) -> Prediction:
    """What `kind` makes of one image's probabilities, named by `class_names` (`target_category`: the explained)."""
    predicted = kind.predicted(probabilities)
    weighed = predicted or [int(probabilities.argmax())]  # no label: the most probable label's probability
    return Prediction(predicted=tuple(class_names[i] for i in predicted),
                      confidence=tuple(float(probabilities[i]) for i in weighed),
                      explained=tuple(class_names[i] for i in kind.explained(probabilities, target_category)),
                      shown=_shown(kind, probabilities, class_names))


def _shown(kind: OutputKind, probabilities: np.ndarray, class_names: Sequence[str]) -> str:
    """`cat (93.1%)`; multilabel: `car 91.2% + person 73.0%`, or `no label (top car 41.0% < 0.5)`."""
    predicted = kind.predicted(probabilities)
    if not kind.is_multilabel:
        return f"{class_names[predicted[0]]} ({float(probabilities[predicted[0]]):.1%})"
    if not predicted:
        top = int(probabilities.argmax())
        return f"no label (top {class_names[top]} {probabilities[top]:.1%} < {kind.threshold:g})"
    return " + ".join(f"{class_names[i]} {probabilities[i]:.1%}" for i in predicted)


def titles(method: str, subject: str, explained: Prediction) -> list[Titles]:
    """One title triple per CAM: input, heatmap naming the explained class, overlay naming the prediction."""
    return [(f"Input | {subject}", f"{method} heatmap | explained: {name}", f"Overlay | pred: {explained.shown}")
            for name in explained.explained]
