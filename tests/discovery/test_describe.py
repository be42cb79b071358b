"""camviz.discovery.describe: one description for a checkpoint's model and a model in memory, in one order
(options > recorded > the model's own config > defaults), so `load_model` and `explain_image` agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from camviz.discovery.describe import describe
from camviz.discovery.models import load_model
from camviz.discovery.options import ModelOptions, OutputName
from camviz.errors import UsageError
from tests.support.hf import LABELS


@pytest.mark.parametrize("name", ["convnext", "multilabel"])
def test_a_transformers_model_in_memory_is_described_as_its_folder(hf_folders: dict, name: str) -> None:
    folder = hf_folders[name]
    in_memory = describe(folder.model, ModelOptions())
    loaded = load_model(folder.path).description
    assert (in_memory.output_kind, in_memory.num_classes, in_memory.class_names) == \
        (loaded.output_kind, loaded.num_classes, loaded.class_names)
    assert in_memory.class_names == LABELS and in_memory.output_kind.name == folder.output
    if name == "convnext":  # no preprocessor_config.json: the size and normalisation are the model's own
        assert in_memory.input == loaded.input and in_memory.input.size == folder.size


def test_a_timm_model_in_memory_is_described_as_its_checkpoint(tmp_path: Path) -> None:
    model = timm.create_model("test_resnet", pretrained=False, num_classes=4).eval()
    torch.save({"model_name": "test_resnet", "state_dict": model.state_dict()}, tmp_path / "ckpt.pth")
    assert describe(model, ModelOptions()) == load_model(tmp_path / "ckpt.pth").description


def test_explicit_options_win_for_both(hf_folders: dict, tmp_path: Path) -> None:
    folder = hf_folders["convnext"]
    options = ModelOptions(img_size=(24, 32), mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6),
                           class_names=("a", "b", "c"), output=OutputName.multilabel, threshold=0.25)
    in_memory = describe(folder.model, options)
    loaded = load_model(ModelOptions(path=folder.path, img_size=(24, 32), mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6),
                                     class_names=("a", "b", "c"), output=OutputName.multilabel, threshold=0.25))
    assert in_memory == loaded.description
    assert in_memory.input.size == (24, 32) and in_memory.class_names == ["a", "b", "c"]
    assert in_memory.output_kind.name == "multilabel" and in_memory.output_kind.threshold == 0.25
    with pytest.raises(UsageError, match="2 class names for a model with 3 classes"):
        describe(folder.model, ModelOptions(class_names=("a", "b")))


@pytest.mark.parametrize(("given", "message"), [
    ({"mean": (0.5, 0.5)}, "--mean must be one number or three"),
    ({"std": (0.0, 0.0, 0.0)}, "--std must be one number or three (one per channel), finite and positive"),
    ({"mean": (float("nan"), 1.0, 1.0)}, "--mean must be one number or three (one per channel), finite"),
    ({"class_names": ("a", "b", "a", "c")}, "class names must differ: a repeated"),
])
def test_given_values_that_cannot_describe_the_model_are_one_usage_error(given: dict, message: str) -> None:
    model = timm.create_model("test_resnet", pretrained=False, num_classes=4).eval()
    with pytest.raises(UsageError) as refused:
        describe(model, ModelOptions(**given))
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_one_number_normalises_every_channel() -> None:
    model = timm.create_model("test_resnet", pretrained=False, num_classes=4).eval()
    spec = describe(model, ModelOptions(mean=(0.5,), std=(0.25,))).input
    assert (spec.mean, spec.std) == ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
