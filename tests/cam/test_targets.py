"""camviz.cam.targets: pytorch-grad-cam targets for each output kind; a binary head's decided class from its logit."""

from __future__ import annotations

import torch
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget, ClassifierOutputTarget

from camviz.cam.targets import batch_targets, class_targets
from camviz.discovery.output_kind import OutputKind


def _one_logit(inputs: torch.Tensor) -> torch.Tensor:
    """A binary head: the first feature is the logit."""
    return inputs[:, :1]


def test_softmax_targets_are_the_library_argmax_or_the_asked_class() -> None:
    inputs = torch.randn(3, 4)
    assert batch_targets(OutputKind("softmax"), inputs, None, _one_logit) is None
    targets = batch_targets(OutputKind("multilabel"), inputs, 2, _one_logit)
    assert [type(t) for t in targets] == [ClassifierOutputTarget] * 3 and {t.category for t in targets} == {2}


def test_binary_targets_follow_the_sign_of_the_logit() -> None:
    inputs = torch.tensor([[2.0, 0.0], [-1.0, 0.0], [0.0, 5.0]])
    targets = batch_targets(OutputKind("binary"), inputs, None, _one_logit)
    assert all(isinstance(t, BinaryClassifierOutputTarget) for t in targets)
    assert [t.category for t in targets] == [1, 0, 1]  # p >= 0.5 is the positive class
    logits = torch.tensor([3.0, 3.0, 3.0])
    assert [float(t(logit)) for t, logit in zip(targets, logits, strict=True)] == [3.0, -3.0, 3.0]
    asked = batch_targets(OutputKind("binary"), inputs, 0, _one_logit)
    assert [t.category for t in asked] == [0, 0, 0]


def test_class_targets_explain_one_class_each() -> None:
    assert [t.category for t in class_targets([4, 0, 4])] == [4, 0, 4]
