"""torchvision's detectors: the class count read from the head (weights or built model), the input camviz feeds them,
their target layers, and loading seed-style dicts and pickled modules as detectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from pytorch_grad_cam import EigenCAM, GradCAM
from pytorch_grad_cam.utils.model_targets import FasterRCNNBoxScoreTarget

from camviz.discovery.detectors import (
    detector_class_count,
    detector_data_config,
    detector_layer_names,
    detector_num_classes,
    detector_target_layers,
    is_torchvision_detector,
)
from camviz.discovery.models import load_model
from camviz.discovery.options import ModelOptions, Task

DETECTORS = ["fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_v2", "fasterrcnn_mobilenet_v3_large_fpn",
             "fasterrcnn_mobilenet_v3_large_320_fpn", "maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2",
             "retinanet_resnet50_fpn", "retinanet_resnet50_fpn_v2", "fcos_resnet50_fpn", "ssd300_vgg16",
             "ssdlite320_mobilenet_v3_large"]
FAST = "fasterrcnn_mobilenet_v3_large_320_fpn"


def _on_meta(name: str, **kwargs: object) -> torch.nn.Module:
    with torch.device("meta"):
        return torchvision.models.get_model(name, weights=None, weights_backbone=None, **kwargs)


@pytest.mark.parametrize("name", DETECTORS)
def test_the_class_count_is_read_from_the_weights_and_the_built_head(name: str) -> None:
    trained = _on_meta(name, num_classes=5)
    default = _on_meta(name)
    assert detector_num_classes(default, trained.state_dict()) == 5
    assert detector_class_count(trained) == 5
    assert detector_class_count(default) == 91
    assert is_torchvision_detector(trained)


def test_a_classifier_is_not_a_detector() -> None:
    with torch.device("meta"):
        classifier = torchvision.models.resnet18()
    assert detector_num_classes(classifier, classifier.state_dict()) is None
    assert detector_class_count(classifier) is None
    assert detector_data_config(classifier) is None
    assert detector_layer_names(classifier) is None


@pytest.mark.parametrize(("name", "side"), [("fasterrcnn_resnet50_fpn", 800), (FAST, 320), ("ssd300_vgg16", 300),
                                            ("ssdlite320_mobilenet_v3_large", 320), ("retinanet_resnet50_fpn", 800)])
def test_the_input_is_the_size_the_detector_keeps_in_zero_to_one(name: str, side: int) -> None:
    config = detector_data_config(_on_meta(name))
    assert config == {"input_size": (3, side, side), "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}


@pytest.mark.parametrize(("name", "layers"), [
    ("fasterrcnn_resnet50_fpn", [f"backbone.fpn.layer_blocks.{i}" for i in range(4)]),
    ("maskrcnn_resnet50_fpn_v2", [f"backbone.fpn.layer_blocks.{i}" for i in range(4)]),
    (FAST, ["backbone.fpn.layer_blocks.0", "backbone.fpn.layer_blocks.1"]),
    ("retinanet_resnet50_fpn", [f"backbone.fpn.layer_blocks.{i}" for i in range(3)]),
    ("fcos_resnet50_fpn", [f"backbone.fpn.layer_blocks.{i}" for i in range(3)]),
    ("ssd300_vgg16", ["backbone.features", *(f"backbone.extra.{i}" for i in range(5))]),
    ("ssdlite320_mobilenet_v3_large", ["backbone.features.0", "backbone.features.1",
                                       *(f"backbone.extra.{i}" for i in range(4))]),
])
def test_each_family_has_its_target_layers(name: str, layers: list[str]) -> None:
    model = _on_meta(name)
    assert detector_layer_names(model) == layers
    modules, reshape = detector_target_layers(model, name)
    assert modules == [model.get_submodule(layer) for layer in layers]
    assert reshape is None


@pytest.fixture(scope="module")
def seed_dict(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Faster R-CNN (MobileNetV3 320 FPN) for 5 classes, saved the seed's way without `num_classes`."""
    torch.manual_seed(0)
    model = torchvision.models.get_model(FAST, weights=None, weights_backbone=None, num_classes=5)
    path = tmp_path_factory.mktemp("det") / "frcnn.pth"
    torch.save({"model_name": FAST, "state_dict": model.state_dict(),
                "class_names": ["background", "a", "b", "c", "d"]}, path)
    return path


@pytest.mark.slow
def test_a_seed_dict_loads_as_a_detector(seed_dict: Path) -> None:
    loaded = load_model(seed_dict)
    assert loaded.task is Task.detection
    assert loaded.num_classes == 5
    assert loaded.class_names == ["background", "a", "b", "c", "d"]
    assert loaded.input.size == (320, 320)
    assert loaded.input.mean == (0.0, 0.0, 0.0)
    assert loaded.input.std == (1.0, 1.0, 1.0)
    assert not loaded.model.training
    output = loaded.model(torch.rand(1, 3, 320, 320))
    assert set(output[0]) == {"boxes", "labels", "scores"}


@pytest.mark.slow
def test_a_pickled_detector_loads_as_a_detector(tmp_path: Path) -> None:
    model = torchvision.models.get_model("ssdlite320_mobilenet_v3_large", weights=None, weights_backbone=None,
                                         num_classes=4)
    path = tmp_path / "ssd.pt"
    torch.save(model.train(), path)
    loaded = load_model(ModelOptions(path=path, trust_checkpoint=True))
    assert loaded.task is Task.detection
    assert loaded.num_classes == 4
    assert loaded.input.size == (320, 320)
    assert not loaded.model.training


@pytest.mark.slow
def test_fpn_levels_give_a_box_score_cam_of_the_inputs_size(seed_dict: Path) -> None:
    loaded = load_model(seed_dict)
    layers, reshape = detector_target_layers(loaded.model, loaded.model_name)
    pixels = torch.rand(1, 3, 320, 320, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        output = loaded.model(pixels)[0]
    assert len(output["boxes"]) > 0
    target = FasterRCNNBoxScoreTarget(labels=output["labels"][:1], bounding_boxes=output["boxes"][:1].numpy())
    for method in (GradCAM, EigenCAM):
        with method(model=loaded.model, target_layers=layers, reshape_transform=reshape) as cam:
            grayscale = cam(input_tensor=pixels, targets=[target])
        assert grayscale.shape == (1, 320, 320)
        assert np.ptp(grayscale[0]) > 0.1, method.__name__


def test_a_one_class_detector_names_one_class(tmp_path: Path) -> None:
    from camviz.demo.det_net import camviz_shapedet

    path = tmp_path / "one.pth"
    torch.save({"model_name": "camviz_shapedet", "plugins": ["camviz.demo.det_net"], "class_names": ["thing"],
                "state_dict": camviz_shapedet(num_classes=1).state_dict()}, path)
    loaded = load_model(path)
    assert loaded.task is Task.detection
    assert loaded.num_classes == 1
    assert loaded.class_names == ["thing"]
    assert loaded.input.size == (96, 96)
