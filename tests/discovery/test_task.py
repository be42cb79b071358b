"""The task value: decided once from the built model's output; torchvision's segmentation builders never download."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from camviz.discovery.logits import at_input_size, logits_of
from camviz.discovery.models import load_model
from camviz.discovery.options import Task
from camviz.discovery.task import task_of_output


def test_outputs_name_their_task() -> None:
    assert task_of_output(torch.zeros(2, 5)) is Task.classification
    assert task_of_output({"out": torch.zeros(1, 3, 8, 8), "aux": torch.zeros(1, 3, 8, 8)}) is Task.segmentation
    assert task_of_output([{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0), "scores": torch.zeros(0)}]) \
        is Task.detection


def test_low_resolution_logits_are_read_at_the_input_size() -> None:
    logits = torch.randn(1, 3, 4, 4)
    inputs = torch.zeros(1, 3, 16, 16)
    upsampled = at_input_size(logits, inputs)
    assert upsampled.shape == (1, 3, 16, 16)
    assert torch.equal(upsampled, torch.nn.functional.interpolate(logits, size=(16, 16), mode="bilinear"))
    assert at_input_size(torch.zeros(1, 3), inputs).shape == (1, 3)  # a classifier's logits as they are
    assert logits_of({"out": logits}) is logits


@pytest.mark.parametrize(("name", "aux"), [("lraspp_mobilenet_v3_large", False),  # LR-ASPP has no aux head
                                           ("deeplabv3_mobilenet_v3_large", False),
                                           ("deeplabv3_mobilenet_v3_large", True)])
def test_a_torchvision_segmentation_checkpoint_loads_offline_with_or_without_its_aux_head(
        tmp_path: Path, name: str, aux: bool) -> None:
    model = torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=4,
                                         **({"aux_loss": True} if aux else {}))
    path = tmp_path / "seg.pth"
    torch.save({"model_name": name, "state_dict": model.state_dict(), "num_classes": 4, "img_size": 64}, path)
    loaded = load_model(path)
    assert loaded.task is Task.segmentation and loaded.num_classes == 4
    inputs = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model.eval()(inputs)["out"]
        assert torch.allclose(loaded.model(inputs), expected, atol=1e-5)


def test_the_demo_classifier_stays_a_classifier(trained_checkpoint: Path) -> None:
    loaded = load_model(trained_checkpoint)
    assert loaded.task is Task.classification and loaded.num_classes == 3
    assert not loaded.model._forward_hooks  # a classifier's forward is left as it is
