"""camviz.cam.mprt against Quantus 0.6 on the same model, inputs, maps and randomised models: eMPRT per image, and
sMPRT per image at every step (the repeat and each randomised layer), with the same noise.

The CAMs are pytorch-grad-cam's through camviz's engine on both sides (Quantus' `explain_func`); the randomised
models are the ones Quantus' own `get_random_layer_generator` yields, fed to camviz as they come. Quantus 0.6's
`SmoothMPRT` calls `quantus.explain` itself instead of its `explain_func`, so the test points `quantus.explain` at
the same CAM function for the call (monkeypatch), as its `explain_func` would have.
"""

from __future__ import annotations

import numpy as np
import pytest
import quantus
import torch
from quantus.helpers.model.pytorch_model import PyTorchModel
from torch import nn

from camviz.cam.engine import CamEngine
from camviz.cam.mprt import (
    EmprtScores,
    SmoothSettings,
    discrete_entropy,
    emprt_batch,
    emprt_verdict,
    smooth_mprt,
)
from camviz.cam.randomisation import Judged, class_cams
from camviz.demo import CHECKPOINT_PATH
from camviz.demo.shapes import make_arrays
from camviz.discovery.options import ModelOptions
from camviz.discovery.output_kind import OutputKind
from camviz.run.model import resolve_model

SEED = 42  # Quantus' default


@pytest.fixture(scope="module")
def shapes() -> tuple[nn.Module, torch.Tensor, list[str]]:
    """The trained shapes classifier, 4 normalised unseen images (two circles, a square, a triangle), its target layer."""
    resolved = resolve_model(ModelOptions(path=CHECKPOINT_PATH, cpu=True))
    pixels, _, _ = make_arrays(4, seed=31)  # circle, square, triangle, circle at 96 px
    return resolved.model, resolved.preprocessing.normalize(torch.from_numpy(pixels)), list(resolved.targets.names)


def _engine_for(targets: list[str]):
    def engine_for(model: nn.Module) -> CamEngine:
        return CamEngine(model, [model.get_submodule(name) for name in targets])
    return engine_for


def _explain(layers: list[str]):
    """A Quantus explain function: camviz's CAM of each target class on `model`, at `layers`."""
    def explain(model: nn.Module, inputs: np.ndarray, targets: np.ndarray, **kwargs) -> np.ndarray:
        with _engine_for(layers)(model) as engine:
            return class_cams(engine, torch.from_numpy(np.asarray(inputs, np.float32)), [int(t) for t in targets],
                              len(inputs))
    return explain


def _fully_random(model: nn.Module) -> nn.Module:
    """The model Quantus' eMPRT compares with: its generator's last (every layer reset, bottom-up)."""
    *_, (_, last) = PyTorchModel(model, channel_first=True).get_random_layer_generator(order="bottom_up", seed=SEED)
    return last


def test_discrete_entropy_is_quantus_on_the_same_map() -> None:
    cam = np.random.default_rng(0).random((24, 24)).astype(np.float32)
    assert discrete_entropy(cam) == pytest.approx(quantus.functions.complexity_func.discrete_entropy(cam, cam), abs=1e-12)
    assert discrete_entropy(np.full((8, 8), 0.3)) == 0.0  # a constant map has no complexity


@pytest.mark.slow
def test_emprt_is_quantus_per_image(shapes) -> None:
    model, inputs, targets = shapes
    engine_for = _engine_for(targets)
    with engine_for(model) as trained, engine_for(_fully_random(model)) as random_engine:
        ours = emprt_batch(trained, random_engine, inputs, OutputKind())
    metric = quantus.EfficientMPRT(seed=SEED, disable_warnings=True)
    theirs = metric(model=model, x_batch=inputs.numpy(), y_batch=np.array(ours.explained), a_batch=None,
                    explain_func=_explain(targets), device="cpu", batch_size=4)
    assert np.all(np.isfinite(ours.scores.scores))
    np.testing.assert_allclose(ours.scores.scores, theirs, atol=1e-4)
    assert emprt_verdict(ours.scores) is (Judged.passes if np.median(theirs) > 0 else Judged.fails)


def test_emprt_scores_are_the_relative_rise_in_entropy_and_undefined_for_a_flat_original() -> None:
    rng = np.random.default_rng(1)
    smooth = np.tile(np.linspace(0, 1, 16, dtype=np.float32), (16, 1))
    noisy = rng.random((16, 16)).astype(np.float32)
    flat = np.zeros((16, 16), np.float32)
    scores = EmprtScores.of(np.stack([smooth, noisy, flat]), np.stack([noisy, flat, noisy]))
    assert scores.scores[0] == pytest.approx((discrete_entropy(noisy) - discrete_entropy(smooth))
                                             / discrete_entropy(smooth))
    assert scores.scores[1] == -1.0 and np.isnan(scores.scores[2])  # flat after: -1; flat before: undefined
    assert scores.flat_randomised == 1 and scores.median == pytest.approx(np.median(scores.scores[:2]))
    assert emprt_verdict(EmprtScores.of(np.stack([noisy]), np.stack([smooth]))) is Judged.fails
    assert emprt_verdict(EmprtScores.of(np.stack([flat]), np.stack([noisy]))) is Judged.cannot_judge


@pytest.mark.slow
def test_smprt_is_quantus_at_every_step(shapes, monkeypatch: pytest.MonkeyPatch) -> None:
    model, inputs, targets = shapes
    x, explain = inputs.numpy(), _explain(targets)
    with _engine_for(targets)(model) as engine:
        classes = [int(c) for c in engine.compute(inputs).probabilities.argmax(1)]
    settings = SmoothSettings(samples=2, batch_size=4, seed=SEED)
    steps = PyTorchModel(model, channel_first=True).get_random_layer_generator(order="bottom_up", seed=SEED)
    ours = smooth_mprt(_engine_for(targets), model, steps, x, classes, settings=settings)
    monkeypatch.setattr(quantus, "explain", explain)  # SmoothMPRT calls quantus.explain, not its explain_func
    np.random.seed(SEED)  # Quantus draws its noise from numpy's global generator
    metric = quantus.SmoothMPRT(seed=SEED, nr_samples=2, disable_warnings=True)
    theirs = metric(model=model, x_batch=x, y_batch=np.array(classes), a_batch=None, explain_func=explain,
                    device="cpu", batch_size=4)
    names = list(theirs)
    assert names[0] == "original" and [step.block for step in ours.steps] == names[1:]
    assert sum(np.isfinite(step.spearman).sum() for step in ours.steps) >= len(ours.steps)  # not all undefined
    np.testing.assert_allclose(ours.repeat.spearman, theirs["original"], atol=1e-4)
    for step in ours.steps:
        np.testing.assert_allclose(step.spearman, theirs[step.block], atol=1e-4)
    assert ours.score == pytest.approx(float(np.median(theirs[names[-1]])), abs=1e-4)
