"""The model's output kind: how its logits become probabilities, predictions, CAM targets and the prediction text.

`softmax`: one logit per class, the argmax is the prediction. `binary`: one sigmoid logit for two classes, the
positive one when p >= 0.5. `multilabel`: a sigmoid per label, every label at or above `threshold` is predicted.
Every stage asks this value; no other module branches on the kind's name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget, ClassifierOutputTarget

from camviz.discovery.options import OutputName

NO_LABEL = ""  # a multi-label prediction where no label passed the threshold: empty, which no label can be


@dataclass(frozen=True)
class Prediction:
    """One image's prediction as file names, the manifest and figure titles show it."""

    pred: str  # the class name; multilabel: the predicted labels joined with `+`, `none` when none passes
    confidence: str  # manifest text, 6 decimals; multilabel: each predicted label's probability joined with `+`
    explained: list[str]  # the class of each CAM (multilabel: one per CAM)
    shown: str  # the prediction as figure titles show it: `cat (93.1%)`, `car 91.2% + person 73.0%`


@dataclass(frozen=True)
class OutputKind:
    """`softmax`, `binary` or `multilabel`, with the multilabel `threshold`."""

    name: OutputName = OutputName.softmax
    threshold: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", OutputName(self.name))  # a plain string names a kind too

    @classmethod
    def for_head(cls, logits: int, asked: OutputName | None = None, *, recorded_multilabel: bool = False,
                 threshold: float = 0.5) -> OutputKind:
        """The kind of a head with `logits` outputs: as asked, else multilabel when recorded, else binary for one
        logit, else softmax."""
        if asked is not None:
            return cls(OutputName(asked), threshold)
        if recorded_multilabel:
            return cls(OutputName.multilabel, threshold)
        return cls(OutputName.binary if logits == 1 else OutputName.softmax, threshold)

    @property
    def is_softmax(self) -> bool:
        """One probability distribution over the classes (what faithfulness metrics score)."""
        return self.name == "softmax"

    @property
    def is_multilabel(self) -> bool:
        """A CAM per predicted label, rather than one per image."""
        return self.name == "multilabel"

    def class_count(self, logits: int) -> int:
        """Classes a prediction can name: 2 for a one-logit binary head, else one per logit."""
        return 2 if self.name == "binary" else logits

    def class_names(self, recorded: list[str] | None) -> list[str] | None:
        """The classes' names from the recorded ones; a binary head's pair: as recorded, `not_X`/`X` for one name."""
        if self.name != "binary":
            return recorded
        if recorded and len(recorded) == 2:
            return list(recorded)
        return [f"not_{recorded[0]}", recorded[0]] if recorded and len(recorded) == 1 else None

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax over classes; binary: [1 - p, p] from the one logit; multilabel: a sigmoid per label."""
        if self.name == "binary":
            positive = torch.sigmoid(logits.reshape(len(logits), -1)[:, :1])
            return torch.cat([1 - positive, positive], dim=1)
        return torch.sigmoid(logits) if self.is_multilabel else torch.softmax(logits, dim=-1)

    def predicted(self, probabilities: np.ndarray) -> list[int]:
        """One image's prediction: the argmax (softmax), the positive class when p >= 0.5 (binary), or every
        label at or above `threshold`, most probable first (multilabel; may be empty)."""
        if self.name == "binary":
            return [int(probabilities[1] >= 0.5)]
        if self.is_multilabel:
            order = np.argsort(-probabilities, kind="stable")
            return [int(i) for i in order if probabilities[i] >= self.threshold]
        return [int(probabilities.argmax())]

    def explained(self, probabilities: np.ndarray, target_category: int | None = None) -> list[int]:
        """The classes one image's CAMs explain: `target_category`, else the prediction (no label: the most probable)."""
        if target_category is not None:
            return [target_category]
        return self.predicted(probabilities) or [int(probabilities.argmax())]

    def targets(self, inputs: torch.Tensor, target_category: int | None,
                forward: Callable[[torch.Tensor], torch.Tensor]) -> list | None:
        """pytorch-grad-cam targets for a batch: the given class, else the predicted one (None: the library's argmax).

        A binary model's decided class (p >= 0.5: the logit, else minus it) comes from a `forward` pass of its own,
        so methods that score other inputs (Score-CAM, Ablation-CAM, --aug-smooth) keep explaining that class.
        """
        if self.name != "binary":
            return None if target_category is None else [ClassifierOutputTarget(target_category)] * len(inputs)
        if target_category is not None:
            return [BinaryClassifierOutputTarget(target_category)] * len(inputs)
        with torch.no_grad():
            logits = forward(inputs).reshape(len(inputs), -1)[:, 0]
        return [BinaryClassifierOutputTarget(int(logit >= 0)) for logit in logits.tolist()]

    def prediction(self, probabilities: np.ndarray, class_names: Sequence[str],
                   target_category: int | None = None) -> Prediction:
        """The prediction's names and probabilities, and the explained classes, as text."""
        names = class_names
        predicted = self.predicted(probabilities)
        explained = [names[i] for i in self.explained(probabilities, target_category)]
        if not self.is_multilabel:
            top = predicted[0]
            p = float(probabilities[top])
            return Prediction(names[top], f"{p:.6f}", explained, f"{names[top]} ({p:.1%})")
        if not predicted:
            top = int(probabilities.argmax())
            shown = f"no label (top {names[top]} {probabilities[top]:.1%} < {self.threshold:g})"
            return Prediction(NO_LABEL, f"{probabilities[top]:.6f}", explained, shown)
        return Prediction("+".join(names[i] for i in predicted), "+".join(f"{probabilities[i]:.6f}" for i in predicted),
                          explained, " + ".join(f"{names[i]} {probabilities[i]:.1%}" for i in predicted))
