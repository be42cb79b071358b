"""camviz.discovery.logits: the logits of whatever a forward returns, and the module behind `torch.compile`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers.modeling_outputs import ImageClassifierOutput

from camviz import explain_image, load_model
from camviz.demo import CHECKPOINT_PATH
from camviz.discovery.logits import logits_of, returning_logits, uncompiled
from camviz.discovery.options import ModelOptions
from tests.support.wrapped_outputs import DictOutput, TupleOutput


def test_the_logits_of_each_kind_of_output() -> None:
    logits, features = torch.randn(2, 3), torch.randn(2, 8)
    outputs = {"tensor": logits, "dict": {"features": features, "logits": logits}, "tuple": (logits, features),
               "list": [logits, features], "ModelOutput": ImageClassifierOutput(logits=logits)}
    for kind, output in outputs.items():
        assert logits_of(output) is logits, kind
    for unknown in ({"scores": logits}, (None, logits), "text"):
        assert logits_of(unknown) is unknown


def test_returning_logits_adds_its_hook_once() -> None:
    model = DictOutput(load_model(CHECKPOINT_PATH).model)
    inputs = torch.randn(1, 3, 96, 96)
    expected = model(inputs)["logits"]
    assert returning_logits(returning_logits(model)) is model and len(model._forward_hooks) == 1
    assert torch.equal(model(inputs), expected)


def test_uncompiled_is_the_module_compiled() -> None:
    model = torch.nn.Linear(2, 2)
    assert uncompiled(model) is model
    assert uncompiled(torch.compile(model, backend="eager")) is model


@pytest.mark.parametrize("wrapper", [DictOutput, TupleOutput])
def test_a_pickled_module_returning_a_dict_or_tuple_is_explained_as_its_classifier(
        tmp_path: Path, circle_image: Path, wrapper: type) -> None:
    path = tmp_path / "whole.pth"
    torch.save(wrapper(load_model(CHECKPOINT_PATH).model), path)
    loaded = load_model(ModelOptions(path=path, trust_checkpoint=True))
    assert loaded.num_classes == 3
    wrapped = explain_image(path, circle_image,
                            options=ModelOptions(trust_checkpoint=True, img_size=96, mean=(0.5,), std=(0.5,),
                                                 target_layers=("classifier.stages.2.3",)))
    plain = explain_image(CHECKPOINT_PATH, circle_image)
    assert np.abs(wrapped.cam - plain.cam).max() <= 1e-6
    assert np.allclose(wrapped.probabilities, plain.probabilities, atol=1e-6)
