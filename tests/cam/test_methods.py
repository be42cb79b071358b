"""camviz.cam.methods: every method in METHODS on the trained shapes model: valid maps, distinct maps, and localisation.

The target layer `stages[-1][-1]` feeds global average pooling and a linear head, and its activations are
non-negative (a ReLU ends the block). On such a layer some methods coincide by construction: the gradient
is the same at every position, so HiResCAM and XGradCAM equal Grad-CAM (and ShapleyCAM's second-order
term vanishes), and LayerCAM equals Grad-CAM-ElementWise (relu(g) * a == relu(g * a) for a >= 0).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
import torch

from camviz.cam.engine import CamEngine
from camviz.cam.methods import METHODS, canonical_method_name
from camviz.cam.options import CamOptions
from camviz.discovery.models import LoadedModel
from camviz.errors import UsageError
from tests.support.demo import fresh_shapes

IMAGES = 12
SLOW = {"scorecam": 4, "ablationcam": 4}  # a forward pass per channel (48) and image: fewer images
GRADIENT_METHODS = ("gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "gradcamelementwise", "eigengradcam")
OTHER_LOCALISING = ("eigencam", "scorecam", "ablationcam", "kpcacam", "shapleycam", "fem")
SAME_ON_A_POOLED_HEAD = ({"gradcam", "hirescam", "xgradcam", "shapleycam"}, {"layercam", "gradcamelementwise"})


@pytest.fixture(scope="module")
def shapes(loaded: LoadedModel) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Fresh images (a seed the model was not trained on): inputs, labels, object boxes (x0, y0, x1, y1)."""
    return fresh_shapes(loaded, IMAGES, seed=4242)


@pytest.fixture(scope="module")
def explain(loaded: LoadedModel, shapes) -> Callable[[str], tuple[np.ndarray, np.ndarray]]:
    """`explain(method)` -> (cams, predicted classes) for the first images, computed once per method."""
    inputs = shapes[0]
    done: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def run(method: str) -> tuple[np.ndarray, np.ndarray]:
        if method not in done:
            model = loaded.model
            state = np.random.get_state()  # RandomCAM draws its weights from NumPy's global generator
            np.random.seed(0)
            try:
                with CamEngine(model, [model.stages[-1][-1]], None, options=CamOptions(method=method)) as engine:
                    batch = engine.compute(inputs[: SLOW.get(method, IMAGES)])
            finally:
                np.random.set_state(state)
            done[method] = batch.cams, batch.probabilities.argmax(axis=1)
        return done[method]

    return run


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_gives_valid_maps(method: str, explain) -> None:
    cams, _ = explain(method)
    assert cams.shape == (SLOW.get(method, IMAGES), 96, 96) and cams.dtype == np.float32
    assert np.isfinite(cams).all() and cams.min() >= 0.0 and cams.max() <= 1.0
    peaks = cams.reshape(len(cams), -1).max(axis=1)
    assert ((peaks > 0.99) | (peaks == 0.0)).all()  # scaled to reach 1, or all 0 (no positive evidence)
    assert (peaks > 0.99).mean() >= 0.75


@pytest.mark.parametrize("method", GRADIENT_METHODS + OTHER_LOCALISING)
def test_pointing_game(method: str, explain, shapes) -> None:
    """The map's maximum lies inside the object's box for >= 90% of correctly classified images."""
    cams, predicted = explain(method)
    _, labels, boxes = shapes
    correct = np.flatnonzero(predicted == labels[: len(cams)])
    assert len(correct) >= 0.9 * len(cams)
    hits = 0
    for k in correct:
        y, x = np.unravel_index(cams[k].argmax(), cams[k].shape)
        x0, y0, x1, y1 = boxes[k]
        hits += bool(x0 <= x < x1 and y0 <= y < y1)
    assert hits >= 0.9 * len(correct), f"{method}: {hits}/{len(correct)}"


def test_methods_differ_except_where_the_math_says_they_coincide(explain) -> None:
    first = min(SLOW.values())
    cams = {method: explain(method)[0][:first] for method in METHODS}
    group = {method: i for i, members in enumerate(SAME_ON_A_POOLED_HEAD) for method in members}
    for a, b in itertools.combinations(cams, 2):
        difference = np.abs(cams[a] - cams[b]).max()
        if a in group and group.get(a) == group.get(b):
            assert difference < 1e-4, f"{a} vs {b}"
        else:
            assert difference > 0.01, f"{a} vs {b}"  # distinct pairs differ by >= 0.04 here; equal ones by < 1e-6


@pytest.mark.parametrize("method", list(SLOW))
def test_many_pass_methods_take_the_library_batch_size(method: str, loaded: LoadedModel, shapes, explain) -> None:
    """ScoreCAM reads `cam.batch_size` if set (else 16); AblationCAM's constructor stores it (default 32)."""
    model = loaded.model
    with CamEngine(model, [model.stages[-1][-1]], None, options=CamOptions(method=method)) as engine:
        engine.cam.batch_size = 20  # does not divide the 48 channels: the last chunk is short
        cams = engine.compute(shapes[0][:1]).cams
    np.testing.assert_allclose(cams, explain(method)[0][:1], atol=1e-5)


def test_method_names() -> None:
    assert {"gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "eigencam", "scorecam"} <= set(METHODS)
    assert canonical_method_name("GradCAMPlusPlus") == "gradcam++"
    assert canonical_method_name("gradcampp") == "gradcam++"
    assert canonical_method_name("Score-CAM") == "scorecam"
    with pytest.raises(UsageError, match="unknown --method"):
        canonical_method_name("nosuchcam")
