"""The model's output kind: how its logits become probabilities, and those the predicted and explained classes.

`softmax`: one logit per class, the argmax is the prediction. `binary`: one sigmoid logit for two classes, the
positive one when p >= 0.5. `multilabel`: a sigmoid per label, every label at or above `threshold` is predicted.
Every stage asks this value; no other module branches on the kind's name. What it is, as numbers and class
indices only: the CAM targets are `camviz.cam.targets`'s, the prediction as text `camviz.output.prediction`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from camviz.discovery.options import OutputName


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
    def is_binary(self) -> bool:
        """One sigmoid logit for two classes."""
        return self.name == OutputName.binary

    @property
    def is_multilabel(self) -> bool:
        """A CAM per predicted label, rather than one per image."""
        return self.name == "multilabel"

    def class_count(self, logits: int) -> int:
        """Classes a prediction can name: 2 for a one-logit binary head, else one per logit."""
        return 2 if self.is_binary else logits

    def class_names(self, recorded: list[str] | None) -> list[str] | None:
        """The classes' names from the recorded ones; a binary head's pair: as recorded, `not_X`/`X` for one name."""
        if not self.is_binary:
            return recorded
        if recorded and len(recorded) == 2:
            return list(recorded)
        return [f"not_{recorded[0]}", recorded[0]] if recorded and len(recorded) == 1 else None

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax over classes; binary: [1 - p, p] from the one logit; multilabel: a sigmoid per label."""
        if self.is_binary:
            positive = torch.sigmoid(logits.reshape(len(logits), -1)[:, :1])
            return torch.cat([1 - positive, positive], dim=1)
        return torch.sigmoid(logits) if self.is_multilabel else torch.softmax(logits, dim=-1)

    def predicted(self, probabilities: np.ndarray) -> list[int]:
        """One image's prediction: the argmax (softmax), the positive class when p >= 0.5 (binary), or every
        label at or above `threshold`, most probable first (multilabel; may be empty)."""
        if self.is_binary:
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
