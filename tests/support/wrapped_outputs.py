"""Classifiers whose forward returns more than the logits, as training code writes them: a dict (`{"logits": ...,
"features": ...}`) or a tuple led by the logits. Saved whole (`torch.save(model)`), read with `--trust-checkpoint`."""

from __future__ import annotations

import torch
from torch import nn


class DictOutput(nn.Module):
    """`classifier`'s logits and pooled features in a dict."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.classifier.forward_features(x)
        return {"features": features.mean((2, 3)), "logits": self.classifier.forward_head(features)}


class TupleOutput(DictOutput):
    """`classifier`'s logits, then its pooled features."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        output = super().forward(x)
        return output["logits"], output["features"]
